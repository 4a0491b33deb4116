/**
 * Real child processes for process tests: each started with `node --import tsx <file>`, ready when
 * it prints its ready line, killed by pid (only the ones a test started) when the test's scope
 * closes. Plus what such tests need around them: a temporary directory removed at the end, a free
 * port, the ready line of the dse service mains, and a run to exit (for flag and start errors).
 */
import type { ChildProcess } from "node:child_process"
import { execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import type { Scope } from "effect"
import { Deferred, Effect, FiberId } from "effect"

/** The repository's root (libs/testing/src/../../..): services are at `<root>/services/<name>`. */
export const repoRoot: string = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..")

/** A service's package directory (its mains run from there). */
export const serviceDir = (name: "coordinator" | "kv" | "wal" | "broker" | "workflow"): string =>
  path.join(repoRoot, "services", name)

export interface Child<Info> {
  readonly pid: number
  readonly info: Info
  readonly process: ChildProcess
  /** Completes with the exit code (or the signal) once the process has exited. */
  readonly exited: Effect.Effect<number | NodeJS.Signals>
  /** Sends `signal` to this process (by pid) and waits for it to exit. */
  readonly kill: (signal: NodeJS.Signals) => Effect.Effect<number | NodeJS.Signals>
  readonly alive: () => boolean
  /** Everything it wrote, for failure messages. */
  readonly output: () => string
}

export interface StartOptions<Info> {
  readonly cwd: string
  readonly env?: Record<string, string>
  readonly args?: ReadonlyArray<string>
  /** Recognizes the ready line; by default a JSON line with `"ready":true`. */
  readonly ready?: (line: string) => Info | undefined
  /** Also append everything the process writes to this file (for diagnosis after a failure). */
  readonly log?: string
  /** Default 90 s: a loaded CI machine starts `tsx` slowly, and a timeout here is not what a test checks. */
  readonly readyTimeoutMs?: number
}

const jsonReady = <Info>(line: string): Info | undefined =>
  line.startsWith("{") && line.includes('"ready":true') ? (JSON.parse(line) as Info) : undefined

/** Starts `file` (relative to `cwd`) and waits for its ready line; SIGKILLed when the scope closes. */
export const start = <Info>(file: string, options: StartOptions<Info>): Effect.Effect<Child<Info>, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<Child<Info>, Error>((resume) => {
      const child = spawn(process.execPath, ["--import", "tsx", path.resolve(options.cwd, file), ...(options.args ?? [])], {
        cwd: options.cwd,
        env: { ...process.env, ...options.env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      let settled = false
      if (options.log !== undefined) {
        fs.mkdirSync(path.dirname(options.log), { recursive: true })
        const log = fs.createWriteStream(options.log, { flags: "a" })
        child.stdout!.on("data", (chunk: Buffer) => log.write(chunk))
        child.stderr!.on("data", (chunk: Buffer) => log.write(chunk))
        child.once("exit", () => log.end())
      }
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
      }, options.readyTimeoutMs ?? 90_000)
      const recognize = options.ready ?? jsonReady<Info>
      createInterface({ input: child.stdout! }).on("line", (line) => {
        output += line + "\n"
        if (settled) return
        const info = recognize(line)
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

export interface Address {
  readonly host: string
  readonly port: number
}

/** The ready line of a dse service main: `<prefix> ready host:port` (e.g. `dse-kv kv-0`). */
export const readyLine =
  (prefix: string) =>
  (text: string): Address | undefined => {
    const match = new RegExp(`^${prefix} ready (.+):(\\d+)$`).exec(text)
    return match ? { host: match[1]!, port: Number(match[2]) } : undefined
  }

/** The coordinator process on `dataDir` (it writes `coordinator.json` there for the services). */
export const startCoordinator = (
  dataDir: string,
  args: ReadonlyArray<string> = []
): Effect.Effect<Child<Address>, Error, Scope.Scope> =>
  start("src/main.ts", { cwd: serviceDir("coordinator"), args: ["--data", dataDir, ...args], ready: readyLine("dse-coordinator") })

/** A temporary directory, removed when the scope closes. */
export const tempDir = (prefix: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), `dse-${prefix}-`))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )

/** A free loopback port (free again once this returns). */
export const freePort: Effect.Effect<number> = Effect.async<number>((resume) => {
  const server = net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

export interface Exited {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `file` until it exits (at most `timeoutMs`, then SIGKILL): for flag errors and failed starts. */
export const runToExit = (
  file: string,
  options: { readonly cwd: string; readonly args: ReadonlyArray<string>; readonly timeoutMs?: number }
): Effect.Effect<Exited> =>
  Effect.async<Exited>((resume) => {
    const child = execFile(
      process.execPath,
      ["--import", "tsx", file, ...options.args],
      { cwd: options.cwd, timeout: options.timeoutMs ?? 60_000 },
      (error, stdout, stderr) =>
        resume(Effect.succeed({ code: error ? ((error.code as number | null | undefined) ?? null) : 0, stdout, stderr }))
    )
    return Effect.sync(() => {
      if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, "SIGKILL")
    })
  })
