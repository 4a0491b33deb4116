/**
 * Real processes for the process tests and the benchmark: the coordinator, KV shards and the workflow host, each
 * started with `node --import tsx` from its package, ready when it prints its ready line, killed by
 * pid (only the ones a test started; all of them when the test's scope closes).
 */
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { createInterface } from "node:readline"
import type { Scope } from "effect"
import { Effect } from "effect"

const SERVICES = path.resolve(import.meta.dirname, "../..")

export interface ProcessSpec {
  readonly name: string
  /** The package folder under services/. */
  readonly service: "coordinator" | "kv" | "workflow"
  readonly args: ReadonlyArray<string>
}

export interface Managed {
  readonly spec: ProcessSpec
  readonly pid: () => number | undefined
  readonly alive: () => boolean
  /** SIGKILL by pid, and wait for the exit. */
  readonly kill: Effect.Effect<void>
  /** Starts it (again) and waits for its ready line. */
  readonly start: Effect.Effect<void, Error>
  readonly starts: () => number
}

/** A free TCP port on 127.0.0.1 (free again once this returns). */
export const freePort: Effect.Effect<number> = Effect.async<number>((resume) => {
  const server = net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** A process that can be started, SIGKILLed and started again; killed when the scope closes. */
export const managed = (spec: ProcessSpec, logDir: string): Effect.Effect<Managed, never, Scope.Scope> =>
  Effect.gen(function* () {
    let child: ChildProcess | undefined
    let starts = 0
    const log = path.join(logDir, `${spec.name}.log`)
    const alive = () => child !== undefined && child.exitCode === null && child.signalCode === null
    const kill = Effect.async<void>((resume) => {
      const c = child
      if (!c || !alive()) return resume(Effect.void)
      c.once("exit", () => resume(Effect.void))
      process.kill(c.pid!, "SIGKILL")
    })
    const start = Effect.async<void, Error>((resume) => {
      starts++
      const c = spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...spec.args], {
        cwd: path.join(SERVICES, spec.service),
        stdio: ["ignore", "pipe", "pipe"]
      })
      child = c
      let settled = false
      const settle = (effect: Effect.Effect<void, Error>) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resume(effect)
      }
      const timer = setTimeout(() => settle(Effect.fail(new Error(`${spec.name} was not ready in time (see ${log})`))), 90_000)
      c.once("exit", (code, signal) => settle(Effect.fail(new Error(`${spec.name} exited (${code ?? signal}) before it was ready (see ${log})`))))
      c.stderr!.on("data", (d) => fs.appendFileSync(log, String(d)))
      createInterface({ input: c.stdout! }).on("line", (line) => {
        fs.appendFileSync(log, line + "\n")
        if (/ ready \S+:\d+\s*$/.test(line)) settle(Effect.void)
      })
    })
    yield* Effect.addFinalizer(() => kill)
    return { spec, pid: () => child?.pid, alive, kill, start, starts: () => starts }
  })
