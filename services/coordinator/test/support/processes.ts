/**
 * Child processes for the process tests: started with `node --import tsx`, ready when they print
 * their ready line, killed by pid (only the ones a test started) when the test's scope closes.
 */
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import * as path from "node:path"
import { createInterface } from "node:readline"
import { Deferred, Effect, FiberId } from "effect"
import type { Scope } from "effect"

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
  readonly readyTimeoutMs?: number
}

const jsonReady = <Info>(line: string): Info | undefined =>
  line.startsWith("{") && line.includes('"ready":true') ? (JSON.parse(line) as Info) : undefined

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
      }, options.readyTimeoutMs ?? 20_000)
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
