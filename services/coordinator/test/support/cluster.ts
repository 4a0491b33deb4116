/**
 * Real processes for the process tests: the coordinator (src/main.ts) and bank workers
 * (fixtures/bankWorker.ts), each started with `node --import tsx` from the package directory, on
 * 127.0.0.1, in a temporary data directory that the test's scope removes.
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as Net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import type { Child } from "./processes"
import { start } from "./processes"

export const packageDir = path.resolve(import.meta.dirname, "../..")

/** A fresh temporary directory, removed when the scope closes. */
export const tempDir = (prefix: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), `dse-${prefix}-`))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )

/** A loopback port that was free a moment ago (for processes that must know it before they start). */
export const freePort: Effect.Effect<number> = Effect.async<number>((resume) => {
  const server = Net.createServer().listen(0, "127.0.0.1", () => {
    const port = (server.address() as Net.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

export interface CoordinatorInfo {
  readonly host: string
  readonly port: number
}

const READY = /^dse-coordinator ready (.+):(\d+)$/

export const startCoordinator = (dataDir: string, port = 0): Effect.Effect<Child<CoordinatorInfo>, Error, Scope.Scope> =>
  start<CoordinatorInfo>("src/main.ts", {
    cwd: packageDir,
    args: ["--data", dataDir, "--port", String(port)],
    ready: (line) => {
      const match = READY.exec(line)
      return match ? { host: match[1]!, port: Number(match[2]) } : undefined
    }
  })

export interface WorkerInfo {
  readonly port: number
  readonly pid: number
  readonly worker: number
}

export const startWorker = (
  name: string,
  dataDir: string,
  coordinatorPort: number,
  port = 0
): Effect.Effect<Child<WorkerInfo>, Error, Scope.Scope> =>
  start<WorkerInfo>("test/fixtures/bankWorker.ts", {
    cwd: packageDir,
    env: { NAME: name, DATA: dataDir, COORDINATOR_PORT: String(coordinatorPort), PORT: String(port) }
  })

/** Runs the coordinator to completion (it is expected to refuse to start). */
export const runCoordinatorToExit = (args: ReadonlyArray<string>) =>
  Effect.async<{ readonly code: number | null; readonly stdout: string; readonly stderr: string }>((resume) => {
    const child = execFile(
      process.execPath,
      ["--import", "tsx", "src/main.ts", ...args],
      { cwd: packageDir, timeout: 20_000 },
      (error, stdout, stderr) => resume(Effect.succeed({ code: error ? (error.code as number | null) ?? null : 0, stdout, stderr }))
    )
    return Effect.sync(() => {
      if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, "SIGKILL")
    })
  })
