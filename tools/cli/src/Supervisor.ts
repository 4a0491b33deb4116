/**
 * Runs the processes of a local cluster as children: starts each with `node --import tsx`, sends
 * its output to `DIR/logs/<name>.log`, waits for its ready line (`... ready host:port`), restarts it
 * when it dies (unless told not to), and stops everything when its scope closes (the children run
 * in their own process group, so nothing outlives `dse up`).
 */
import { Command, CommandExecutor } from "@effect/platform"
import type { Scope } from "effect"
import { Data, Deferred, Duration, Effect, Exit, Fiber, Option, Ref, Scope as ScopeModule, Stream } from "effect"
import { appendFileSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import { Schema } from "effect"

export interface ProcessSpec {
  /** Unique name: `coordinator`, `kv-0`, `wal`, ... */
  readonly name: string
  readonly kind: string
  /** The TypeScript entry point, run with `node --import tsx`. */
  readonly entry: string
  readonly args: ReadonlyArray<string>
}

export type ProcessState = "starting" | "up" | "down" | "stopped"

export interface ProcessStatus {
  readonly name: string
  readonly kind: string
  readonly state: ProcessState
  readonly pid: number | undefined
  readonly address: string | undefined
  readonly restarts: number
  readonly lastExit: string | undefined
}

export class StartFailed extends Schema.TaggedError<StartFailed>("@dse/cli/StartFailed")("StartFailed", {
  name: Schema.String,
  reason: Schema.String,
  log: Schema.String
}) {
  override get message() {
    return `${this.name} did not start: ${this.reason} (see ${this.log})`
  }
}

const READY = /\bready (\S+):(\d+)\s*$/

interface Running {
  readonly spec: ProcessSpec
  status: ProcessStatus
  scope: Scope.CloseableScope | undefined
  watcher: Fiber.RuntimeFiber<void> | undefined
  /** Set while `stop`/`restart` is ending it on purpose, so the watcher does not restart it. */
  intentional: boolean
}

export class Supervisor extends Data.Class<{
  readonly dataDir: string
  readonly cwd: string
  readonly autoRestart: boolean
  readonly startTimeout: Duration.Duration
  readonly processes: Map<string, Running>
  readonly executor: CommandExecutor.CommandExecutor
  readonly parent: Scope.Scope
  readonly changes: Ref.Ref<number>
}> {
  static make(options: {
    readonly dataDir: string
    readonly cwd: string
    readonly autoRestart?: boolean
    readonly startTimeout?: Duration.DurationInput
  }): Effect.Effect<Supervisor, never, CommandExecutor.CommandExecutor | Scope.Scope> {
    return Effect.gen(function* () {
      mkdirSync(join(options.dataDir, "logs"), { recursive: true })
      const supervisor = new Supervisor({
        dataDir: options.dataDir,
        cwd: options.cwd,
        autoRestart: options.autoRestart ?? true,
        startTimeout: Duration.decode(options.startTimeout ?? Duration.seconds(60)),
        processes: new Map(),
        executor: yield* CommandExecutor.CommandExecutor,
        parent: yield* Effect.scope,
        changes: yield* Ref.make(0)
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

  /** Starts a process and waits for its ready line; fails with StartFailed (and the log's path). */
  start(spec: ProcessSpec): Effect.Effect<ProcessStatus, StartFailed> {
    const running: Running = this.processes.get(spec.name) ?? {
      spec,
      status: { name: spec.name, kind: spec.kind, state: "starting", pid: undefined, address: undefined, restarts: 0, lastExit: undefined },
      scope: undefined,
      watcher: undefined,
      intentional: false
    }
    this.processes.set(spec.name, running)
    return this.launch(running)
  }

  private launch(running: Running): Effect.Effect<ProcessStatus, StartFailed> {
    const self = this
    const spec = running.spec
    const log = this.logPath(spec.name)
    return Effect.gen(function* () {
      const scope = yield* ScopeModule.fork(self.parent, { _tag: "Sequential" } as any)
      running.scope = scope
      running.intentional = false
      running.status = { ...running.status, state: "starting", pid: undefined, address: undefined }
      appendFileSync(log, `--- ${new Date().toISOString()} starting ${spec.name}: ${spec.args.join(" ")}\n`)
      const command = Command.make(process.execPath, "--import", "tsx", spec.entry, ...spec.args).pipe(
        Command.workingDirectory(self.cwd),
        Command.env({ FORCE_COLOR: "0" })
      )
      const child = yield* Command.start(command).pipe(
        Effect.provideService(CommandExecutor.CommandExecutor, self.executor),
        Effect.provideService(ScopeModule.Scope, scope),
        Effect.mapError((e) => new StartFailed({ name: spec.name, reason: e.message, log }))
      )
      running.status = { ...running.status, pid: child.pid }
      const ready = yield* Deferred.make<string>()
      const pump = (stream: Stream.Stream<Uint8Array, unknown>, tag: string) =>
        stream.pipe(
          Stream.decodeText(),
          Stream.splitLines,
          Stream.runForEach((line) =>
            Effect.sync(() => {
              appendFileSync(log, tag ? `${tag}${line}\n` : `${line}\n`)
              const m = READY.exec(line)
              if (m) Deferred.unsafeDone(ready, Exit.succeed(`${m[1]}:${m[2]}`))
            })
          ),
          Effect.ignore
        )
      yield* Effect.forkIn(pump(child.stdout, ""), scope)
      yield* Effect.forkIn(pump(child.stderr, "[stderr] "), scope)
      const exited = yield* Effect.forkIn(child.exitCode.pipe(Effect.either), scope)
      const first = yield* Effect.raceFirst(
        Effect.map(Deferred.await(ready), (address) => ({ _tag: "ready" as const, address })),
        Effect.map(Fiber.join(exited), (exit) => ({ _tag: "exited" as const, exit }))
      ).pipe(Effect.timeout(self.startTimeout), Effect.option)
      if (Option.isNone(first) || first.value._tag === "exited") {
        yield* ScopeModule.close(scope, Exit.void)
        running.scope = undefined
        const outcome = Option.getOrUndefined(first)
        const reason =
          outcome === undefined || outcome._tag !== "exited"
            ? `no ready line within ${Duration.format(self.startTimeout)}`
            : `exited with ${outcome.exit._tag === "Right" ? `code ${outcome.exit.right}` : "an error"} before it was ready`
        running.status = { ...running.status, state: "down", pid: undefined, lastExit: reason }
        return yield* new StartFailed({ name: spec.name, reason, log })
      }
      running.status = { ...running.status, state: "up", address: first.value.address }
      yield* Ref.update(self.changes, (n) => n + 1)
      running.watcher = yield* Effect.forkIn(self.watch(running, exited), self.parent)
      return running.status
    })
  }

  /** When the child exits on its own, records it and (with auto-restart) starts it again. */
  private watch(running: Running, exited: Fiber.RuntimeFiber<any, any>): Effect.Effect<void> {
    const self = this
    return Effect.gen(function* () {
      const exit = yield* Fiber.join(exited).pipe(Effect.either)
      const how = exit._tag === "Right" && exit.right._tag === "Right" ? `exit code ${exit.right.right}` : "killed"
      if (running.scope) yield* ScopeModule.close(running.scope, Exit.void)
      running.scope = undefined
      running.status = { ...running.status, state: running.intentional ? "stopped" : "down", pid: undefined, lastExit: how }
      appendFileSync(self.logPath(running.spec.name), `--- ${new Date().toISOString()} ${running.spec.name} ended (${how})\n`)
      yield* Ref.update(self.changes, (n) => n + 1)
      if (running.intentional || !self.autoRestart) return
      running.status = { ...running.status, restarts: running.status.restarts + 1 }
      // A short pause: a process that dies at once must not spin.
      yield* Effect.sleep(Duration.millis(500))
      yield* Effect.ignore(self.launch(running))
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
        while (running.status.pid === pid && isAlive(pid) && Date.now() < deadline) yield* Effect.sleep("50 millis")
        if (isAlive(pid)) {
          try {
            process.kill(pid, "SIGKILL")
          } catch {
            // gone
          }
        }
      }
      if (running.watcher) yield* Fiber.interrupt(running.watcher)
      if (running.scope) yield* ScopeModule.close(running.scope, Exit.void)
      running.scope = undefined
      running.status = { ...running.status, state: "stopped", pid: undefined }
    })
  }

  /** Stops a process (if running) and starts it again. */
  restart(name: string): Effect.Effect<ProcessStatus, StartFailed> {
    const running = this.processes.get(name)
    if (!running) return Effect.fail(new StartFailed({ name, reason: "no such process", log: "" }))
    return Effect.zipRight(this.stop(name), Effect.suspend(() => {
      running.status = { ...running.status, restarts: running.status.restarts + 1 }
      return this.launch(running)
    }))
  }

  /** Stops every process, in reverse start order (services first, the coordinator last). */
  get stopAll(): Effect.Effect<void> {
    return Effect.forEach(Array.from(this.processes.keys()).reverse(), (name) => this.stop(name), { discard: true })
  }
}

export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
