/**
 * The bench's process launcher: the service processes (node entry points run with tsx) are started
 * by @dse/launcher's Supervisor (ready-line parsing, logs in `<root>/logs`, sticky ports on restart,
 * everything stopped when the scope closes), without automatic restarts: the bench kills and
 * restarts processes itself, by pid, at the points it measures.
 *
 * Kept here, on top of the Supervisor: processes that are not node entry points, which the
 * Supervisor cannot run (it always runs `node --import tsx <entry>`): the optional peers' servers
 * (the Restate server binary, a private PostgreSQL for DBOS) and their plain-ESM applications
 * (which must not be loaded through tsx, from outside the workspace). For those this module spawns the child itself, waits
 * for a ready line, logs to the same directory and kills it (as a process group) when the scope
 * closes.
 */
import type { ChildProcess } from "node:child_process"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { Supervisor } from "@dse/launcher"
import type { CommandExecutor } from "@effect/platform"
import type { Scope } from "effect"
import { Data, Effect, Schedule } from "effect"

export class StartFailed extends Data.TaggedError("StartFailed")<{
  readonly name: string
  readonly reason: string
  readonly log: string
}> {
  override get message() {
    const tail = tailOf(this.log)
    return `${this.name} did not start: ${this.reason} (log: ${this.log})${tail ? `\n${tail}` : ""}`
  }
}

const tailOf = (file: string, lines = 15): string => {
  try {
    return fs.readFileSync(file, "utf8").split("\n").slice(-lines).join("\n")
  } catch {
    return ""
  }
}

export interface LaunchSpec {
  readonly name: string
  /** A TypeScript or JavaScript entry point run with `node --import tsx` (by the Supervisor). */
  readonly entry?: string
  /** Or any executable (then `entry` is ignored): spawned here. */
  readonly command?: string
  readonly args: ReadonlyArray<string>
  /** Only for `command`. */
  readonly env?: Readonly<Record<string, string>>
  /** Only for `command`: the ready line; its first two groups are host and port. Default `ready host:port`. */
  readonly ready?: RegExp
  readonly readyTimeoutMs?: number
}

export interface Proc {
  readonly name: string
  readonly spec: LaunchSpec
  readonly pid: number
  readonly host: string
  readonly port: number
  /** `host:port` from the ready line. */
  readonly address: string
  readonly log: string
  readonly alive: () => boolean
  /** Bytes this process caused to be written to the block layer so far (Linux: /proc/PID/io). */
  readonly writeBytes: () => number
}

const READY = /\bready (\S+):(\d+)\s*$/

const killGroup = (pid: number, signal: NodeJS.Signals) => {
  try {
    process.kill(-pid, signal)
  } catch {
    try {
      process.kill(pid, signal)
    } catch {
      // already gone
    }
  }
}

const readWriteBytes = (pid: number): number => {
  try {
    const m = /^write_bytes:\s*(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/io`, "utf8"))
    return m ? Number(m[1]) : Number.NaN
  } catch {
    return Number.NaN
  }
}

/**
 * Waits until the process has exited, or until the deadline (epoch ms) has passed; true if it
 * exited. A poll with a deadline rather than a timeout: it also ends inside a finalizer, which
 * cannot be interrupted.
 */
const untilDead = (pid: number, deadline = Number.POSITIVE_INFINITY) =>
  Effect.repeat(Effect.sync(() => Supervisor.isAlive(pid)), {
    while: (alive) => alive && Date.now() < deadline,
    schedule: Schedule.spaced("10 millis")
  }).pipe(Effect.map((alive) => !alive))

export interface Launcher {
  readonly logDir: string
  /** Starts a process and waits for its ready line; it is stopped when the launcher's scope closes. */
  readonly start: (spec: LaunchSpec) => Effect.Effect<Proc, StartFailed>
  /** Starts a stopped or killed process again, on the port it had (same name, same arguments). */
  readonly restart: (proc: Proc) => Effect.Effect<Proc, StartFailed>
  /** Sends `signal` to the process (its group) by pid and waits until it has exited. */
  readonly kill: (proc: Proc, signal?: NodeJS.Signals) => Effect.Effect<void>
  /** `signal` (default SIGTERM), then SIGKILL after a grace period (default 3 s); ends inside a finalizer too. */
  readonly stop: (proc: Proc, graceMs?: number, signal?: NodeJS.Signals) => Effect.Effect<void>
}

const parseAddress = (address: string) => {
  const i = address.lastIndexOf(":")
  return { host: address.slice(0, i) || "127.0.0.1", port: Number(address.slice(i + 1)) || 0 }
}

/** A launcher whose processes log to `<root>/logs`. */
export const make = (root: string): Effect.Effect<Launcher, never, Scope.Scope | CommandExecutor.CommandExecutor> =>
  Effect.gen(function* () {
    const logDir = path.join(root, "logs")
    fs.mkdirSync(logDir, { recursive: true })
    const supervisor = yield* Supervisor.Supervisor.make({ dataDir: root, cwd: process.cwd(), autoRestart: false, startTimeout: "120 seconds" })
    const spawned = new Set<number>()
    yield* Effect.addFinalizer(() => Effect.sync(() => spawned.forEach((pid) => killGroup(pid, "SIGKILL"))))

    const supervised = (spec: LaunchSpec, status: Supervisor.ProcessStatus): Proc => {
      const pid = status.pid!
      const { host, port } = parseAddress(status.address ?? "")
      return {
        name: spec.name,
        spec,
        pid,
        host,
        port,
        address: `${host}:${port}`,
        log: supervisor.logPath(spec.name),
        alive: () => Supervisor.isAlive(pid),
        writeBytes: () => readWriteBytes(pid)
      }
    }
    const fromSupervisor = (e: Supervisor.StartFailed) => new StartFailed({ name: e.name, reason: e.reason, log: e.log })

    const spawnCommand = (spec: LaunchSpec): Effect.Effect<Proc, StartFailed> =>
      Effect.async<Proc, StartFailed>((resume) => {
        const log = path.join(logDir, `${spec.name}.log`)
        fs.appendFileSync(log, `--- ${new Date().toISOString()} starting ${spec.name}\n`)
        let child: ChildProcess
        try {
          child = spawn(spec.command!, [...spec.args], {
            env: { ...process.env, FORCE_COLOR: "0", NO_COLOR: "1", ...spec.env },
            stdio: ["ignore", "pipe", "pipe"],
            detached: true
          })
        } catch (error) {
          return resume(Effect.fail(new StartFailed({ name: spec.name, reason: String(error), log })))
        }
        const pid = child.pid
        if (pid === undefined) {
          child.on("error", () => {})
          return resume(Effect.fail(new StartFailed({ name: spec.name, reason: "spawn failed", log })))
        }
        spawned.add(pid)
        const out = fs.createWriteStream(log, { flags: "a" })
        let settled = false
        let buffer = ""
        child.on("exit", (code, signal) => {
          spawned.delete(pid)
          out.write(`--- ${new Date().toISOString()} ${spec.name} exited (${code ?? signal})\n`)
          out.end()
          if (settled) return
          settled = true
          clearTimeout(timer)
          resume(Effect.fail(new StartFailed({ name: spec.name, reason: `exited (${code ?? signal}) before it was ready`, log })))
        })
        child.on("error", (error) => out.write(`spawn error: ${error.message}\n`))
        const timer = setTimeout(() => {
          if (settled) return
          settled = true
          killGroup(pid, "SIGKILL")
          resume(Effect.fail(new StartFailed({ name: spec.name, reason: `no ready line within ${spec.readyTimeoutMs ?? 120_000} ms`, log })))
        }, spec.readyTimeoutMs ?? 120_000)
        const onData = (chunk: Buffer) => {
          out.write(chunk)
          if (settled) return
          buffer += chunk.toString()
          let nl: number
          while ((nl = buffer.indexOf("\n")) >= 0) {
            const line = buffer.slice(0, nl)
            buffer = buffer.slice(nl + 1)
            const m = (spec.ready ?? READY).exec(line)
            if (!m) continue
            settled = true
            clearTimeout(timer)
            const host = m[1] || "127.0.0.1"
            const port = Number(m[2] || 0)
            resume(
              Effect.succeed({
                name: spec.name,
                spec,
                pid,
                host,
                port,
                address: `${host}:${port}`,
                log,
                alive: () => spawned.has(pid),
                writeBytes: () => readWriteBytes(pid)
              })
            )
            return
          }
        }
        child.stdout!.on("data", onData)
        child.stderr!.on("data", onData)
      })

    const start = (spec: LaunchSpec): Effect.Effect<Proc, StartFailed> =>
      spec.command !== undefined
        ? spawnCommand(spec)
        : supervisor
            .start({ name: spec.name, kind: spec.name.endsWith("coordinator") ? "coordinator" : "service", entry: spec.entry!, args: spec.args })
            .pipe(
              Effect.map((status) => supervised(spec, status)),
              Effect.mapError(fromSupervisor)
            )

    const restart = (proc: Proc): Effect.Effect<Proc, StartFailed> =>
      proc.spec.command !== undefined
        ? spawnCommand(proc.spec)
        : supervisor.restart(proc.name).pipe(
            Effect.map((status) => supervised(proc.spec, status)),
            Effect.mapError(fromSupervisor)
          )

    const kill = (proc: Proc, signal: NodeJS.Signals = "SIGKILL"): Effect.Effect<void> =>
      Effect.suspend(() => {
        killGroup(proc.pid, signal)
        return Effect.asVoid(untilDead(proc.pid))
      })

    const stop = (proc: Proc, graceMs = 3000, signal: NodeJS.Signals = "SIGTERM"): Effect.Effect<void> =>
      proc.spec.command === undefined
        ? supervisor.stop(proc.name)
        : Effect.gen(function* () {
            if (!Supervisor.isAlive(proc.pid)) return
            killGroup(proc.pid, signal)
            if (yield* untilDead(proc.pid, Date.now() + graceMs)) return
            killGroup(proc.pid, "SIGKILL")
            yield* untilDead(proc.pid)
          })

    return { logDir, start, restart, kill, stop }
  })

/** Repository paths. */
export const REPO = path.resolve(import.meta.dirname, "../../../..")
export const BENCH = path.resolve(import.meta.dirname, "../..")
