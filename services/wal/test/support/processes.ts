/**
 * Real processes for the process tests: the coordinator (services/coordinator's src/main.ts) and
 * the WAL (src/main.ts), each started with `node --import tsx` from its package directory, on
 * 127.0.0.1, in a temporary data directory that the test's scope removes. Killed by pid (only the
 * ones a test started) when the test's scope closes.
 */
import { execFile, spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { createInterface } from "node:readline"
import { Deferred, Effect, FiberId } from "effect"
import type { Scope } from "effect"

export const walDir = path.resolve(import.meta.dirname, "../..")
export const coordinatorDir = path.resolve(walDir, "../coordinator")

export interface Child<Info> {
  readonly pid: number
  readonly info: Info
  readonly process: ChildProcess
  /** Completes with the exit code (or the signal) once the process has exited. */
  readonly exited: Effect.Effect<number | NodeJS.Signals>
  /** Sends `signal` to this process (by pid) and waits for it to exit. */
  readonly kill: (signal: NodeJS.Signals) => Effect.Effect<number | NodeJS.Signals>
  readonly alive: () => boolean
  readonly output: () => string
}

export interface StartOptions<Info> {
  readonly cwd: string
  readonly args?: ReadonlyArray<string>
  readonly ready: (line: string) => Info | undefined
  readonly readyTimeoutMs?: number
}

export const start = <Info>(file: string, options: StartOptions<Info>): Effect.Effect<Child<Info>, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<Child<Info>, Error>((resume) => {
      const child = spawn(process.execPath, ["--import", "tsx", path.resolve(options.cwd, file), ...(options.args ?? [])], {
        cwd: options.cwd,
        env: { ...process.env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      let settled = false
      const settle = (effect: Effect.Effect<Child<Info>, Error>) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resume(effect)
      }
      const exited = Deferred.unsafeMake<number | NodeJS.Signals>(FiberId.none)
      const alive = () => child.exitCode === null && child.signalCode === null
      child.once("exit", (code, signal) => {
        Deferred.unsafeDone(exited, Effect.succeed(code ?? signal ?? -1))
        settle(Effect.fail(new Error(`${file} exited (${code ?? signal}) before it was ready:\n${output}`)))
      })
      child.stderr!.on("data", (d) => (output += String(d)))
      const timer = setTimeout(() => {
        settle(Effect.fail(new Error(`${file} was not ready in time:\n${output}`)))
        if (alive()) process.kill(child.pid!, "SIGKILL")
      }, options.readyTimeoutMs ?? 30_000)
      createInterface({ input: child.stdout! }).on("line", (line) => {
        output += line + "\n"
        if (settled) return
        const info = options.ready(line)
        if (info === undefined) return
        const pid = child.pid!
        const waitExit = Deferred.await(exited)
        settle(
          Effect.succeed({
            pid,
            info,
            process: child,
            exited: waitExit,
            kill: (signal) =>
              Effect.suspend(() => {
                if (alive()) process.kill(pid, signal)
                return waitExit
              }),
            alive,
            output: () => output
          })
        )
      })
    }),
    (child) => Effect.ignore(Effect.timeout(child.kill("SIGKILL"), "5 seconds"))
  )

/** A fresh temporary directory, removed when the scope closes. */
export const tempDir = (prefix: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), `dse-${prefix}-`))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )

/** A free TCP port on 127.0.0.1 (free again once this returns). */
export const freePort: Effect.Effect<number> = Effect.async<number>((resume) => {
  const server = net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

export interface Address {
  readonly host: string
  readonly port: number
}

const line = (prefix: string) => (text: string): Address | undefined => {
  const match = new RegExp(`^${prefix} ready (.+):(\\d+)$`).exec(text)
  return match ? { host: match[1]!, port: Number(match[2]) } : undefined
}

export const startCoordinator = (dataDir: string): Effect.Effect<Child<Address>, Error, Scope.Scope> =>
  start("src/main.ts", { cwd: coordinatorDir, args: ["--data", dataDir], ready: line("dse-coordinator") })

export const startWal = (dataDir: string, args: ReadonlyArray<string> = []): Effect.Effect<Child<Address>, Error, Scope.Scope> =>
  start("src/main.ts", { cwd: walDir, args: ["--data", dataDir, ...args], ready: line("dse-wal wal") })

/** Runs the WAL to completion (it is expected to refuse to start). */
export const runWalToExit = (args: ReadonlyArray<string>) =>
  Effect.async<{ readonly code: number | null; readonly stdout: string; readonly stderr: string }>((resume) => {
    const child = execFile(
      process.execPath,
      ["--import", "tsx", "src/main.ts", ...args],
      { cwd: walDir, timeout: 30_000 },
      (error, stdout, stderr) => resume(Effect.succeed({ code: error ? ((error.code as number | null) ?? null) : 0, stdout, stderr }))
    )
    return Effect.sync(() => {
      if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, "SIGKILL")
    })
  })
