/**
 * Runs the processes of a local cluster as children: starts each with `node --import tsx`, sends
 * its output to `DIR/logs/<name>.log`, waits for its ready line (`... ready host:port`), restarts it
 * when it dies (unless told not to), and stops everything when its scope closes.
 *
 * - Children run in their own process group (@effect/platform's executor spawns them detached), so
 *   a Ctrl-C in the terminal reaches only the supervisor, which then stops them in order: services
 *   first (concurrently), coordinators last.
 * - A restarted process gets the port it had before (`--port 0` is replaced by the bound port), so
 *   clients and workers that know its address reach it again. If that port is taken meanwhile, the
 *   next attempt asks for a free one (clients re-discover it through the coordinator).
 * - A process that dies is restarted after 0.5 s; a restart that fails is tried again with a growing
 *   pause (at most 30 s). After `maxRestartAttempts` failures in a row it is shown as `failed`, and
 *   still tried every 30 s: in a dse cluster a member that stays down holds up everyone else (a
 *   restarted coordinator rebuilds until every member is back, and crash restarts wait for that).
 * - A start that fails (the child exits, or prints no ready line in time) fails with `StartFailed`,
 *   which carries the last lines of the child's output (its error line) and the log's path.
 */
import { Command, CommandExecutor } from "@effect/platform"
import type { Scope } from "effect"
import {
  Data,
  Deferred,
  Duration,
  Effect,
  Either,
  ExecutionStrategy,
  Exit,
  Fiber,
  Option,
  Ref,
  Schema,
  Scope as ScopeModule,
  Stream
} from "effect"
import { appendFileSync, mkdirSync } from "node:fs"

/**
 * Extra node flags for every child, from `DSE_NODE_ARGS` (space-separated): how to profile a
 * cluster (`DSE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"`); NODE_OPTIONS refuses --cpu-prof.
 */
/** The longest pause between two attempts to restart a process that keeps failing. */
const MAX_RESTART_PAUSE = Duration.seconds(30)

const nodeFlags = (): Array<string> => (process.env.DSE_NODE_ARGS ?? "").split(" ").filter((flag) => flag !== "")
import { join } from "node:path"

export interface ProcessSpec {
  /** Unique name: `coordinator`, `kv-0`, `wal`, ... */
  readonly name: string
  readonly kind: string
  /** The TypeScript entry point, run with `node --import tsx`. */
  readonly entry: string
  readonly args: ReadonlyArray<string>
  /** Keep the bound port across restarts (rewrites `--port 0`). Default true. */
  readonly stickyPort?: boolean
}

export type ProcessState = "starting" | "up" | "down" | "stopped" | "failed"

export interface ProcessStatus {
  readonly name: string
  readonly kind: string
  readonly state: ProcessState
  readonly pid: number | undefined
  /** `host:port` from the ready line. */
  readonly address: string | undefined
  /** How many times it was started again (after a crash or on request). */
  readonly restarts: number
  /** How its last run ended (`exit code 1`, `killed by SIGKILL`, ...). */
  readonly lastExit: string | undefined
  /** The arguments of the current (or last) run. */
  readonly args: ReadonlyArray<string>
  /** When the current run became ready (ms since the epoch). */
  readonly readyAt: number | undefined
}

export class StartFailed extends Schema.TaggedError<StartFailed>("@dse/cli/StartFailed")("StartFailed", {
  name: Schema.String,
  reason: Schema.String,
  log: Schema.String,
  /** The last lines the child printed (its error, usually). */
  excerpt: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] })
}) {
  override get message() {
    const tail = this.excerpt.length > 0 ? `\n${this.excerpt.map((l) => `    | ${l}`).join("\n")}` : ""
    return `${this.name} did not start: ${this.reason}${tail}${this.log ? `\n  (full log: ${this.log})` : ""}`
  }
}

const READY = /\bready (\S+):(\d+)\s*$/
const EXCERPT_LINES = 12
const PORT_IN_USE = /EADDRINUSE|already in use/i

interface Running {
  readonly spec: ProcessSpec
  status: ProcessStatus
  scope: Scope.CloseableScope | undefined
  watcher: Fiber.RuntimeFiber<void> | undefined
  /** Set while `stop`/`restart` is ending it on purpose, so the watcher does not restart it. */
  intentional: boolean
  /** The port of the first successful run (reused by restarts when the spec is sticky). */
  port: string | undefined
  /** The last lines of output of the current run. */
  recent: Array<string>
}

export type Listener = (statuses: ReadonlyArray<ProcessStatus>) => void

const describeExit = (exit: Either.Either<number, unknown>): string => {
  if (Either.isRight(exit)) return `exit code ${exit.right}`
  const text = exit.left instanceof Error ? exit.left.message : String(exit.left)
  const signal = /signal: (\w+)/.exec(text)
  return signal ? `killed by ${signal[1]}` : "killed"
}

export class Supervisor extends Data.Class<{
  readonly dataDir: string
  readonly cwd: string
  readonly autoRestart: boolean
  readonly startTimeout: Duration.Duration
  readonly restartDelay: Duration.Duration
  readonly maxRestartAttempts: number
  readonly processes: Map<string, Running>
  readonly executor: CommandExecutor.CommandExecutor
  readonly parent: Scope.Scope
  readonly changes: Ref.Ref<number>
  readonly listeners: Set<Listener>
  readonly env: Readonly<Record<string, string>>
}> {
  static make(options: {
    readonly dataDir: string
    readonly cwd: string
    readonly autoRestart?: boolean
    readonly startTimeout?: Duration.DurationInput
    /** Pause before a crashed process is started again. Default 500 ms. */
    readonly restartDelay?: Duration.DurationInput
    /** Failed restarts in a row before the process is shown as `failed` (it is still retried). Default 5. */
    readonly maxRestartAttempts?: number
    /** Extra environment of the children. */
    readonly env?: Readonly<Record<string, string>>
  }): Effect.Effect<Supervisor, never, CommandExecutor.CommandExecutor | Scope.Scope> {
    return Effect.gen(function* () {
      mkdirSync(join(options.dataDir, "logs"), { recursive: true })
      const supervisor = new Supervisor({
        dataDir: options.dataDir,
        cwd: options.cwd,
        autoRestart: options.autoRestart ?? true,
        startTimeout: Duration.decode(options.startTimeout ?? Duration.seconds(60)),
        restartDelay: Duration.decode(options.restartDelay ?? Duration.millis(500)),
        maxRestartAttempts: options.maxRestartAttempts ?? 5,
        processes: new Map(),
        executor: yield* CommandExecutor.CommandExecutor,
        parent: yield* Effect.scope,
        changes: yield* Ref.make(0),
        listeners: new Set(),
        env: options.env ?? {}
      })
      yield* Effect.addFinalizer(() => supervisor.stopAll)
      return supervisor
    })
  }

  logPath(name: string): string {
    return join(this.dataDir, "logs", `${name}.log`)
  }

  statuses(): Array<ProcessStatus> {
    return Array.from(this.processes.values(), (r) => r.status)
  }

  status(name: string): ProcessStatus | undefined {
    return this.processes.get(name)?.status
  }

  /** Calls `listener` after every change of a process's state; returns a function that removes it. */
  onChange(listener: Listener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  private update(running: Running, patch: Partial<ProcessStatus>): void {
    running.status = { ...running.status, ...patch }
    Effect.runSync(Ref.update(this.changes, (n) => n + 1))
    const all = this.statuses()
    for (const listener of this.listeners) {
      try {
        listener(all)
      } catch {
        // a listener's failure is not the supervisor's
      }
    }
  }

  /** Starts a process and waits for its ready line; fails with StartFailed (with the child's last lines). */
  start(spec: ProcessSpec): Effect.Effect<ProcessStatus, StartFailed> {
    const existing = this.processes.get(spec.name)
    const running: Running = existing ?? {
      spec,
      status: {
        name: spec.name,
        kind: spec.kind,
        state: "starting",
        pid: undefined,
        address: undefined,
        restarts: 0,
        lastExit: undefined,
        args: spec.args,
        readyAt: undefined
      },
      scope: undefined,
      watcher: undefined,
      intentional: false,
      port: undefined,
      recent: []
    }
    this.processes.set(spec.name, running)
    return this.launch(running, true)
  }

  /** The arguments of the next run: `--port 0` becomes the port of the first run (sticky ports). */
  private argsOf(running: Running, sticky: boolean): ReadonlyArray<string> {
    const args = running.spec.args
    if (!sticky || running.spec.stickyPort === false || running.port === undefined) return args
    const out = [...args]
    const i = out.indexOf("--port")
    if (i >= 0 && out[i + 1] === "0") out[i + 1] = running.port
    return out
  }

  private launch(running: Running, sticky: boolean): Effect.Effect<ProcessStatus, StartFailed> {
    const self = this
    const spec = running.spec
    const log = this.logPath(spec.name)
    return Effect.gen(function* () {
      const scope = yield* ScopeModule.fork(self.parent, ExecutionStrategy.sequential)
      running.scope = scope
      running.intentional = false
      running.recent = []
      const args = self.argsOf(running, sticky)
      self.update(running, { state: "starting", pid: undefined, address: undefined, args, readyAt: undefined })
      appendFileSync(log, `--- ${new Date().toISOString()} starting ${spec.name}: ${args.join(" ")}\n`)
      const command = Command.make(process.execPath, ...nodeFlags(), "--import", "tsx", spec.entry, ...args).pipe(
        Command.workingDirectory(self.cwd),
        Command.env({ FORCE_COLOR: "0", ...self.env })
      )
      const child = yield* Command.start(command).pipe(
        Effect.provideService(CommandExecutor.CommandExecutor, self.executor),
        Effect.provideService(ScopeModule.Scope, scope),
        Effect.mapError((e) => new StartFailed({ name: spec.name, reason: e.message, log, excerpt: [] }))
      )
      self.update(running, { pid: child.pid })
      const ready = yield* Deferred.make<string>()
      const pump = (stream: Stream.Stream<Uint8Array, unknown>, tag: string) =>
        stream.pipe(
          Stream.decodeText(),
          Stream.splitLines,
          Stream.runForEach((line) =>
            Effect.sync(() => {
              appendFileSync(log, tag ? `${tag}${line}\n` : `${line}\n`)
              running.recent.push(line)
              if (running.recent.length > EXCERPT_LINES) running.recent.shift()
              const m = READY.exec(line)
              if (m) Deferred.unsafeDone(ready, Exit.succeed(`${m[1]}:${m[2]}`))
            })
          ),
          Effect.ignore
        )
      const pumps = yield* Effect.all(
        [Effect.forkIn(pump(child.stdout, ""), scope), Effect.forkIn(pump(child.stderr, "[stderr] "), scope)]
      )
      const exited = yield* Effect.forkIn(child.exitCode.pipe(Effect.either), scope)
      const first = yield* Effect.raceFirst(
        Effect.map(Deferred.await(ready), (address) => ({ _tag: "ready" as const, address })),
        Effect.map(Fiber.join(exited), (exit) => ({ _tag: "exited" as const, exit }))
      ).pipe(Effect.timeout(self.startTimeout), Effect.option)
      if (Option.isNone(first) || first.value._tag === "exited") {
        // Let the pumps drain what the child printed before it died (its error line).
        if (Option.isSome(first)) yield* Effect.timeout(Fiber.joinAll(pumps), Duration.seconds(1)).pipe(Effect.ignore)
        yield* ScopeModule.close(scope, Exit.void)
        running.scope = undefined
        const outcome = Option.getOrUndefined(first)
        const reason =
          outcome === undefined || outcome._tag !== "exited"
            ? `no ready line within ${Duration.format(self.startTimeout)}`
            : `it exited (${describeExit(outcome.exit)}) before it was ready`
        appendFileSync(log, `--- ${new Date().toISOString()} ${spec.name} did not start: ${reason}\n`)
        self.update(running, { state: "down", pid: undefined, lastExit: reason })
        return yield* new StartFailed({ name: spec.name, reason, log, excerpt: running.recent.filter((l) => l.trim() !== "") })
      }
      const address = first.value.address
      if (running.port === undefined) running.port = address.slice(address.lastIndexOf(":") + 1)
      self.update(running, { state: "up", address, readyAt: Date.now() })
      running.watcher = yield* Effect.forkIn(self.watch(running, exited), self.parent)
      return running.status
    })
  }

  /** When the child exits on its own, records it and (with auto-restart) starts it again. */
  private watch(running: Running, exited: Fiber.RuntimeFiber<any, any>): Effect.Effect<void> {
    const self = this
    return Effect.gen(function* () {
      const exit = yield* Fiber.join(exited).pipe(Effect.either)
      const how = Either.isRight(exit) ? describeExit(exit.right) : "killed"
      if (running.scope) yield* ScopeModule.close(running.scope, Exit.void)
      running.scope = undefined
      appendFileSync(self.logPath(running.spec.name), `--- ${new Date().toISOString()} ${running.spec.name} ended (${how})\n`)
      self.update(running, { state: running.intentional ? "stopped" : "down", pid: undefined, lastExit: how })
      if (running.intentional || !self.autoRestart) return
      yield* self.relaunch(running)
    })
  }

  /** Starts a crashed process again, with a growing pause between failed attempts. */
  private relaunch(running: Running): Effect.Effect<void> {
    const self = this
    return Effect.gen(function* () {
      let sticky = true
      for (let attempt = 0; ; attempt++) {
        if (attempt >= self.maxRestartAttempts) self.update(running, { state: "failed" })
        // A short pause: a process that dies at once must not spin.
        yield* Effect.sleep(Duration.min(Duration.times(self.restartDelay, 2 ** Math.min(attempt, 16)), MAX_RESTART_PAUSE))
        if (running.intentional) return
        self.update(running, { restarts: running.status.restarts + 1 })
        const result = yield* Effect.either(self.launch(running, sticky))
        if (result._tag === "Right") return
        // Its old port is taken: ask for a free one (clients re-discover through the coordinator).
        if (result.left.excerpt.some((l) => PORT_IN_USE.test(l))) sticky = false
      }
    })
  }

  /** Stops a process with SIGTERM (SIGKILL after 5 s). */
  stop(name: string): Effect.Effect<void> {
    const running = this.processes.get(name)
    if (!running) return Effect.void
    return Effect.gen(this, function* () {
      running.intentional = true
      const pid = running.status.pid
      if (pid !== undefined) {
        try {
          process.kill(pid, "SIGTERM")
        } catch {
          // already gone
        }
        const deadline = Date.now() + 5000
        while (isAlive(pid) && Date.now() < deadline) yield* Effect.sleep("25 millis")
        if (isAlive(pid)) {
          try {
            process.kill(pid, "SIGKILL")
          } catch {
            // gone
          }
        }
      }
      if (running.watcher) yield* Fiber.interrupt(running.watcher)
      running.watcher = undefined
      if (running.scope) yield* ScopeModule.close(running.scope, Exit.void)
      running.scope = undefined
      if (running.status.state !== "stopped" || running.status.pid !== undefined) {
        this.update(running, { state: "stopped", pid: undefined })
      }
    })
  }

  /** Stops a process (if running) and starts it again (on the same port). */
  restart(name: string): Effect.Effect<ProcessStatus, StartFailed> {
    const running = this.processes.get(name)
    if (!running) return Effect.fail(new StartFailed({ name, reason: "no such process", log: "", excerpt: [] }))
    return Effect.zipRight(
      this.stop(name),
      Effect.suspend(() => {
        this.update(running, { restarts: running.status.restarts + 1 })
        return this.launch(running, true)
      })
    )
  }

  /** Stops every process: services first (concurrently), then the coordinators. */
  get stopAll(): Effect.Effect<void> {
    return Effect.suspend(() => {
      const names = Array.from(this.processes.keys())
      const last = names.filter((n) => this.processes.get(n)!.spec.kind === "coordinator")
      const first = names.filter((n) => !last.includes(n))
      return Effect.zipRight(
        Effect.forEach(first, (name) => this.stop(name), { concurrency: "unbounded", discard: true }),
        Effect.forEach(last, (name) => this.stop(name), { discard: true })
      )
    })
  }
}

export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists, but is not ours.
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}
