/**
 * The speculative workflow engine: `@effect/workflow`'s WorkflowEngine over a WorkflowHost.
 *
 * Durable state (executions, activity results, deferreds, clocks) lives in the host's versioned
 * state and changes only inside host Actions; this module holds what is volatile: the runs in
 * flight, clock timers, waiters, re-drive timers.
 *
 * A *run* re-executes a workflow from its start (memoized activities return their recorded
 * results) in its own sthread, so the calls its activities make to DSE services are tagged and the
 * dependencies of their replies join the Action that records the activity's result. A run owns its
 * execution: every Action it makes checks that it still does, so a run that was replaced (after a
 * restore) or that hit a speculation failure never records anything again.
 *
 * Liveness ("no execution is left stuck"):
 * - every wake-up is recorded atomically with its cause (see WorkflowHost), then a run starts;
 * - a run that hits a speculation failure (RolledBack: something it depended on was lost) records
 *   nothing and the execution is driven again after a short backoff;
 * - when the host restores a checkpoint (a rollback, or a restart), every run in flight is
 *   replaced: the engine drives every `running` execution of the restored state again and re-arms
 *   its clocks from the restored state;
 * - a sweeper (default every second) starts any `running` execution without a run and arms any
 *   clock without a timer, as a safety net.
 *
 * The boundary: work requested from outside any sthread (an outside caller of the library API)
 * returns only after what it depends on has committed, and is retried when a failure takes it
 * back. Work requested inside the domain (an RPC handler's sthread, another workflow's run)
 * happens in the caller's sthread: speculative, and the caller depends on it.
 */
import type { FutureWorldLine, StateObject } from "@dse/core"
import { Dse, RolledBack, StateObjectFailed, Sthread } from "@dse/core"
import type { Workflow as W } from "@effect/workflow"
import { DurableDeferred, Workflow, WorkflowEngine } from "@effect/workflow"
import type { Scope } from "effect"
import {
  Cause,
  Clock,
  Context,
  Data,
  Deferred,
  Duration,
  Effect,
  Either,
  Exit,
  Fiber,
  FiberId,
  FiberMap,
  FiberRef,
  FiberSet,
  Option,
  Queue,
  Schedule,
  Schema
} from "effect"
import { ExternalLedger } from "../External"
import type { ExternalLedgerService } from "../External"
import { ExecutionNotFound, HostUnavailable, InvalidRequest, WorkflowNotFound } from "../WorkflowErrors"
import * as Host from "../WorkflowHost"
import type { ClockRecord, ExecutionRecord, HostState, WorkflowHostService } from "../WorkflowHost"
import type { DeferredAddress, ExecutionInfo, ListRequest, ListResult, ParentRef, SignalResult } from "../WorkflowModel"
import {
  activityExitDecoder,
  decodeExitUnknown,
  encodeExitUnknown,
  exitIsSpeculationFailure,
  ExitUnknown,
  outcomeOf,
  payloadSchema,
  toPlain,
  workflowExitSchema
} from "./codec"

const { WorkflowInstance } = WorkflowEngine
type Instance = WorkflowEngine.WorkflowInstance["Type"]
type Execute = (
  payload: object,
  executionId: string
) => Effect.Effect<unknown, unknown, WorkflowEngine.WorkflowInstance | WorkflowEngine.WorkflowEngine>

/** What an Action of the host can fail with. */
export type HostFailure = RolledBack | FutureWorldLine | StateObjectFailed

/** A run that no longer owns its execution tried to act. */
class Superseded extends Data.TaggedError("Superseded")<{}> {}

export interface EngineOptions {
  /** How often the sweeper looks for executions without a run (default 1 second; `Duration.infinity` disables it). */
  readonly sweepInterval?: Duration.DurationInput
  /** First delay before an execution whose run hit a speculation failure runs again (default 5 ms). */
  readonly redriveInitialDelay?: Duration.DurationInput
  /** Longest such delay (default 1 second). */
  readonly redriveMaxDelay?: Duration.DurationInput
}

export interface EngineStats {
  /** Runs started (first runs and replays). */
  readonly runsStarted: number
  /** Runs in flight. */
  readonly runsInFlight: number
  /** Executions driven again after a speculation failure. */
  readonly redrives: number
  /** Restores of the host's state seen (restart and rollbacks). */
  readonly restores: number
  /** Runs started by the sweeper (0 when nothing is ever left behind). */
  readonly swept: number
  readonly clocksArmed: number
  /** The host's StateObject failed (a persist failed): the process must restart. */
  readonly failed: boolean
  /** Each run in flight and the step it is in: where a stuck execution waits. */
  readonly runs: ReadonlyArray<RunStep>
  /** The host StateObject's versions and latch: a latch that never drains holds every run back. */
  readonly stateObject: Pick<
    StateObject.WorkerStats,
    "worldLine" | "version" | "committed" | "uncommitted" | "actionsRunning" | "exclusivePending"
  >
}

export interface RunStep {
  readonly executionId: string
  readonly workflow: string
  /** What the run is doing, e.g. `cancel-0: executing (attempt 1)`. */
  readonly step: string
  /** How long it has been in that step. */
  readonly forMillis: number
}

interface Registered {
  readonly workflow: W.Any
  readonly execute: Execute
}

class Run {
  readonly instance: Instance
  fiber: Fiber.RuntimeFiber<void> | undefined
  /** The execution's wake-up count when the run started. */
  wakeups = 0
  /** An interrupt was requested before the run started: end as interrupted if it suspends. */
  interruptRequested = false
  /** Replaced (restore) or shut down: records nothing more, and is not driven again by itself. */
  superseded = false
  /** Hit a speculation failure: records nothing more, and the execution is driven again. */
  aborted = false
  /** The step the run is in, and since when (for WorkflowDescribe). */
  step = "starting"
  stepSince = Date.now()
  constructor(
    readonly executionId: string,
    readonly entry: Registered,
    readonly sthread: Sthread.Sthread
  ) {
    this.instance = WorkflowInstance.initial(entry.workflow, executionId)
  }

  at(step: string): void {
    this.step = step
    this.stepSince = Date.now()
  }
}

/** The run that the workflow code in this fiber belongs to. */
class CurrentRun extends Context.Tag("@dse/workflow/internal/CurrentRun")<CurrentRun, Run>() {}

const retryOutside = Schedule.exponential("5 millis").pipe(Schedule.either(Schedule.spaced("500 millis")))
const isRolledBack = (e: unknown): e is RolledBack => e instanceof RolledBack

export class Engine {
  readonly workflows = new Map<string, Registered>()
  readonly runs = new Map<string, Run>()
  private readonly waiters = new Map<string, Set<Deferred.Deferred<void, HostUnavailable>>>()
  private readonly redriveCounts = new Map<string, number>()
  private closed = false
  private hostFailure: StateObjectFailed | undefined
  private readonly failedSignal = Deferred.unsafeMake<StateObjectFailed>(FiberId.none)
  /** Fails when the engine stops: what waits on it (commit waits of outside callers) fails with it. */
  private readonly stopped = Deferred.unsafeMake<never, HostUnavailable>(FiberId.none)
  private counters = { runsStarted: 0, redrives: 0, restores: 0, swept: 0, clocksArmed: 0 }
  readonly engine: WorkflowEngine.WorkflowEngine["Type"]
  private readonly redriveInitial: number
  private readonly redriveMax: number

  constructor(
    readonly host: WorkflowHostService,
    private readonly dse: Dse.Dse["Type"],
    options: EngineOptions,
    private readonly runFiber: (effect: Effect.Effect<void>) => Fiber.RuntimeFiber<void>,
    private readonly timerMap: FiberMap.FiberMap<string>,
    private readonly timers: (key: string, effect: Effect.Effect<void>) => Fiber.RuntimeFiber<void>,
    private readonly redriveMap: FiberMap.FiberMap<string>,
    private readonly redrives: (key: string, effect: Effect.Effect<void>) => Fiber.RuntimeFiber<void>,
    private readonly restored: Queue.Queue<ReadonlyArray<Run>>
  ) {
    this.redriveInitial = Duration.toMillis(Duration.decode(options.redriveInitialDelay ?? Duration.millis(5)))
    this.redriveMax = Duration.toMillis(Duration.decode(options.redriveMaxDelay ?? Duration.seconds(1)))
    const encoded = this.encoded()
    const engine = WorkflowEngine.makeUnsafe(encoded)
    // The package's activityExecute decodes with `activity.exitSchema`, new per Activity.make: this
    // one decodes the same exit with a parser cached by the activity's schemas.
    this.engine = WorkflowEngine.WorkflowEngine.of({
      ...engine,
      activityExecute: (activity, attempt) =>
        Effect.flatMap(encoded.activityExecute(activity, attempt), (result) =>
          result._tag === "Suspended"
            ? Effect.succeed<Workflow.Result<unknown, unknown>>(result)
            : Effect.map(Effect.orDie(activityExitDecoder(activity)(result.exit)), (exit) => new Workflow.Complete({ exit }))
        ) as any
    })
  }

  get state(): HostState {
    return this.host.state
  }

  stats(): EngineStats {
    const now = Date.now()
    const so = this.host.stateObject.stats()
    return {
      ...this.counters,
      runsInFlight: this.runs.size,
      failed: this.hostFailure !== undefined,
      runs: Array.from(this.runs.values(), (run) => ({
        executionId: run.executionId,
        workflow: run.entry.workflow.name,
        step: run.step,
        forMillis: now - run.stepSince
      })),
      stateObject: {
        worldLine: so.worldLine,
        version: so.version,
        committed: so.committed,
        uncommitted: so.uncommitted,
        actionsRunning: so.actionsRunning,
        exclusivePending: so.exclusivePending
      }
    }
  }

  // -----------------------------------------------------------------------------------------------
  // Actions and the boundary

  /** An Action of the host, in the current sthread. */
  private act<A>(body: (s: HostState) => A): Effect.Effect<A, HostFailure> {
    return this.watch(this.host.stateObject.action((s) => Effect.sync(() => body(s))))
  }

  /** Notes a failure of the host's StateObject (a failed persist): nothing can run on it any more. */
  private watch<A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> {
    return Effect.tapError(effect, (e) =>
      Effect.suspend(() => {
        if ((e as { readonly _tag?: string })._tag !== "StateObjectFailed" || this.hostFailure) return Effect.void
        this.hostFailure = e as StateObjectFailed
        Deferred.unsafeDone(this.failedSignal, Exit.succeed(this.hostFailure))
        return Effect.logError(`workflow host ${this.host.name} failed; its executions stop until it restarts`, this.hostFailure)
      })
    )
  }

  /** Completes when the host's StateObject fails (its process should exit and be restarted). */
  get failed(): Effect.Effect<StateObjectFailed> {
    return Deferred.await(this.failedSignal)
  }

  /** An Action of `run`, in its sthread; fails with Superseded once the run no longer owns its execution. */
  private runAct<A>(run: Run, body: (s: HostState) => A): Effect.Effect<A, HostFailure | Superseded> {
    return Sthread.within(
      this.watch(this.host.stateObject.action((s) =>
        Effect.suspend(() =>
          run.superseded || run.aborted || this.runs.get(run.executionId) !== run
            ? Effect.fail(new Superseded())
            : Effect.succeed(body(s))
        )
      )),
      run.sthread
    )
  }

  private fresh(): Sthread.Sthread {
    return new Sthread.Sthread(this.dse.worldLine())
  }

  /** Waits for `thread` to commit; fails with HostUnavailable if the engine stops meanwhile. */
  private awaitCommitOf(thread: Sthread.Sthread): Effect.Effect<void, RolledBack | HostUnavailable> {
    return Effect.raceFirst(Effect.provideService(Dse.awaitCommitOf(thread), Dse.Dse, this.dse), Deferred.await(this.stopped))
  }

  /**
   * Runs `body` in the caller's sthread. A caller outside any sthread is outside the DSE domain: it
   * runs in a fresh sthread, returns only once that has committed, and is retried (`body` must be
   * idempotent) when a failure takes it back.
   */
  private boundary<A, E>(body: Effect.Effect<A, E | HostFailure>): Effect.Effect<A, E | HostFailure | HostUnavailable> {
    return Effect.flatMap(FiberRef.get(Sthread.currentSthread), (caller) => {
      if (caller) return body
      const attempt = Effect.suspend(() => {
        const thread = this.fresh()
        return Effect.zipLeft(Sthread.within(body, thread), this.awaitCommitOf(thread))
      })
      return Effect.retry(attempt, { schedule: retryOutside, while: isRolledBack })
    })
  }

  private unavailable(reason: string): HostUnavailable {
    return new HostUnavailable({ host: this.host.name, reason })
  }

  // -----------------------------------------------------------------------------------------------
  // Waiters

  /** Waits until `predicate` holds for the execution's record; re-checked whenever it may have changed. */
  private waitUntil(
    executionId: string,
    predicate: (record: ExecutionRecord | undefined) => boolean
  ): Effect.Effect<void, HostUnavailable> {
    const check: Effect.Effect<void, HostUnavailable> = Effect.suspend(() => {
      if (this.closed) return Effect.fail(this.unavailable("the host is shutting down"))
      if (predicate(this.state.executions.get(executionId))) return Effect.void
      const deferred = Deferred.unsafeMake<void, HostUnavailable>(FiberId.none)
      let set = this.waiters.get(executionId)
      if (!set) this.waiters.set(executionId, (set = new Set()))
      set.add(deferred)
      return Deferred.await(deferred).pipe(
        Effect.ensuring(
          Effect.sync(() => {
            set.delete(deferred)
            if (set.size === 0 && this.waiters.get(executionId) === set) this.waiters.delete(executionId)
          })
        ),
        Effect.zipRight(check)
      )
    })
    return check
  }

  private notify(executionId: string): void {
    const set = this.waiters.get(executionId)
    if (set) for (const d of set) Deferred.unsafeDone(d, Exit.void)
  }

  private notifyAll(exit: Exit.Exit<void, HostUnavailable> = Exit.void): void {
    for (const set of this.waiters.values()) for (const d of set) Deferred.unsafeDone(d, exit)
  }

  // -----------------------------------------------------------------------------------------------
  // Runs

  /** Starts a run of the execution unless one is in flight, it is not `running`, or its workflow is not registered. */
  startRun(executionId: string): void {
    if (this.closed || this.runs.has(executionId)) return
    const record = this.state.executions.get(executionId)
    if (!record || record.status !== "running") return
    const entry = this.workflows.get(record.workflow)
    if (!entry) return
    const run = new Run(executionId, entry, this.fresh())
    this.runs.set(executionId, run)
    this.counters.runsStarted++
    run.fiber = this.runFiber(Sthread.within(this.runBody(run), run.sthread))
  }

  private runBody(run: Run): Effect.Effect<void> {
    const self = this
    const { executionId, entry, instance } = run
    return Effect.gen(function* () {
      run.at("reading its record")
      const start = yield* Effect.either(self.runAct(run, (s) => s.executions.get(executionId)))
      if (Either.isLeft(start)) return yield* self.finishAborted(run)
      const record = start.right
      if (!record || record.status !== "running") return self.end(run)
      run.wakeups = record.wakeups
      run.interruptRequested = record.interrupted
      const payload = yield* Effect.either(Schema.decodeUnknown(payloadSchema(entry.workflow))(record.payload))
      if (Either.isLeft(payload)) {
        const exit = Exit.die(new InvalidRequest({ reason: `stored payload does not decode: ${payload.left.message}` }))
        return yield* self.finish(run, Exit.succeed(new Workflow.Complete({ exit })))
      }
      const suspendOnFailure = Context.get(entry.workflow.annotations, Workflow.SuspendOnFailure)
      run.at("running the workflow")
      const exit = yield* entry.execute(payload.right, executionId).pipe(
        // As Effect's cluster engine: an interrupt requested meanwhile takes effect when the run suspends.
        Effect.onExit((exit) => {
          if (!run.interruptRequested || run.aborted || run.superseded) return Effect.void
          if (!instance.suspended && !(suspendOnFailure && Exit.isFailure(exit))) return Effect.void
          instance.suspended = false
          instance.interrupted = true
          return Effect.withFiberRuntime<void>((fiber) => Effect.interruptible(Fiber.interrupt(fiber)))
        }),
        Workflow.intoResult,
        Effect.provideService(WorkflowInstance, instance),
        Effect.provideService(WorkflowEngine.WorkflowEngine, self.engine),
        Effect.provideService(CurrentRun, run),
        Effect.provideService(ExternalLedger, self.ledger(run)),
        Effect.exit
      )
      yield* self.finish(run, exit)
    })
  }

  private end(run: Run): void {
    if (this.runs.get(run.executionId) === run) this.runs.delete(run.executionId)
  }

  /** Marks a run as having hit a speculation failure: it suspends without recording anything. */
  private abort(run: Run): void {
    if (!run.aborted) run.at(`suspending: a speculation failure at "${run.step}"`)
    run.aborted = true
    run.instance.suspended = true
  }

  private finish(run: Run, exit: Exit.Exit<W.Result<unknown, unknown>, unknown>): Effect.Effect<void> {
    const self = this
    const { executionId, entry } = run
    return Effect.gen(function* () {
      if (run.superseded) return self.end(run)
      if (run.aborted) return yield* self.finishAborted(run)
      run.at("recording its end")
      if (Exit.isFailure(exit)) {
        // Not a result: an uncaptured defect or an interruption that was not a suspension.
        if (!Cause.isInterruptedOnly(exit.cause)) {
          yield* Effect.logWarning(`workflow ${entry.workflow.name} ${executionId}: run failed, driving it again`, exit.cause)
        }
        return yield* self.finishAborted(run)
      }
      const result = exit.value
      const now = yield* Clock.currentTimeMillis
      if (result._tag === "Complete") {
        if (exitIsSpeculationFailure(result.exit)) return yield* self.finishAborted(run)
        const schema = workflowExitSchema(entry.workflow)
        const encoded = yield* Schema.encode(schema)(result.exit).pipe(
          Effect.orElse(() => Schema.encode(schema)(Exit.die(`the result of ${entry.workflow.name} does not encode`))),
          Effect.map(toPlain),
          Effect.orDie
        )
        const outcome = outcomeOf(result.exit)
        const parent = yield* Effect.either(self.runAct(run, (s) => Host.complete(s, executionId, encoded, outcome, now)))
        if (Either.isLeft(parent)) return yield* self.finishAborted(run)
        self.end(run)
        self.redriveCounts.delete(executionId)
        self.notify(executionId)
        if (parent.right) self.startRun(parent.right.executionId)
        return
      }
      const suspended = yield* Effect.either(self.runAct(run, (s) => Host.suspend(s, executionId, run.wakeups, now)))
      if (Either.isLeft(suspended)) return yield* self.finishAborted(run)
      self.end(run)
      self.redriveCounts.delete(executionId)
      self.notify(executionId)
      if (suspended.right === "rerun") self.startRun(executionId)
    })
  }

  /** The run recorded nothing: drive the execution again after a backoff (unless it was replaced). */
  private finishAborted(run: Run): Effect.Effect<void> {
    return Effect.sync(() => {
      this.end(run)
      if (run.superseded || this.closed || this.hostFailure) return
      const { executionId } = run
      const n = (this.redriveCounts.get(executionId) ?? 0) + 1
      this.redriveCounts.set(executionId, n)
      this.counters.redrives++
      const delay = Math.min(this.redriveMax, this.redriveInitial * 2 ** Math.min(n - 1, 20))
      this.redrives(executionId, Effect.zipRight(Effect.sleep(Duration.millis(delay)), Effect.sync(() => this.startRun(executionId))))
    })
  }

  /** Replaces every run in flight (after a restore, or at shutdown): they record nothing more. */
  private supersedeAll(filter: (run: Run) => boolean = () => true): Array<Run> {
    const superseded: Array<Run> = []
    for (const run of Array.from(this.runs.values())) {
      if (!filter(run)) continue
      run.superseded = true
      // A suspended instance ends as Suspended when interrupted: its compensations do not run.
      run.instance.suspended = true
      this.runs.delete(run.executionId)
      superseded.push(run)
    }
    return superseded
  }

  private ledger(run: Run): ExternalLedgerService {
    const lost = (reason: string) => new RolledBack({ worldLine: this.dse.worldLine(), reason })
    const guard = <A>(effect: Effect.Effect<A, HostFailure | Superseded>): Effect.Effect<A, RolledBack> =>
      Effect.catchAll(effect, (e) => {
        this.abort(run)
        return Effect.fail(e instanceof RolledBack ? e : lost(`workflow run of ${run.executionId} was replaced: ${e._tag}`))
      })
    return {
      lookup: (key) =>
        guard(this.runAct(run, (s) => Option.fromNullable(s.externals.get(Host.externalKey(run.executionId, key))))),
      guard: guard(this.runAct(run, () => undefined)),
      record: (key, value) =>
        guard(
          this.runAct(run, (s) => {
            s.externals.set(Host.externalKey(run.executionId, key), toPlain(value))
          })
        )
    }
  }

  // -----------------------------------------------------------------------------------------------
  // Clocks

  arm(clock: ClockRecord): void {
    if (this.closed) return
    const key = Host.clockKey(clock.executionId, clock.name)
    if (FiberMap.unsafeHas(this.timerMap, key)) return
    this.counters.clocksArmed++
    this.timers(
      key,
      Effect.gen(this, function* () {
        const now = yield* Clock.currentTimeMillis
        if (clock.wakeAt > now) yield* Effect.sleep(Duration.millis(clock.wakeAt - now))
        const fired = yield* this.inFresh(
          Effect.flatMap(Clock.currentTimeMillis, (at) => this.act((s) => Host.fireClock(s, clock, encodeExitUnknown(Exit.void), at)))
        ).pipe(Effect.retry({ schedule: retryOutside, times: 20 }))
        if (fired) this.startRun(clock.executionId)
      }).pipe(
        // The clock stays recorded: the sweeper (or the next restore) arms it again.
        Effect.catchAllCause((cause) => Effect.logWarning(`clock ${clock.name} of ${clock.executionId} did not fire`, cause))
      )
    )
  }

  private inFresh<A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> {
    return Effect.suspend(() => Sthread.within(effect, this.fresh()))
  }

  armAll(): void {
    for (const clock of this.state.clocks.values()) this.arm(clock)
  }

  // -----------------------------------------------------------------------------------------------
  // Restore, sweep, shutdown

  /** Called synchronously inside the host's restore: record it, and let the supervisor act. */
  onRestore(): void {
    this.counters.restores++
    const superseded = this.supersedeAll()
    Queue.unsafeOffer(this.restored, superseded)
  }

  /** After a restore: stop the replaced runs, re-arm clocks and drive every running execution again. */
  afterRestore(superseded: ReadonlyArray<Run>): Effect.Effect<void> {
    return Effect.gen(this, function* () {
      for (const run of superseded) if (run.fiber) yield* Fiber.interruptFork(run.fiber)
      yield* FiberMap.clear(this.timerMap)
      yield* FiberMap.clear(this.redriveMap)
      this.redriveCounts.clear()
      this.armAll()
      this.driveAll()
      // Waiters re-check what they wait for: a completion may have been taken back.
      this.notifyAll()
    })
  }

  /** Starts a run for every running execution (of registered workflows) that has none. */
  driveAll(workflow?: string): number {
    let started = 0
    for (const [id, record] of this.state.executions) {
      if (record.status !== "running" || (workflow !== undefined && record.workflow !== workflow)) continue
      if (this.runs.has(id) || FiberMap.unsafeHas(this.redriveMap, id)) continue
      const before = this.runs.size
      this.startRun(id)
      if (this.runs.size > before) started++
    }
    return started
  }

  sweep(): void {
    this.counters.swept += this.driveAll()
    this.armAll()
  }

  shutdown(): Effect.Effect<void> {
    return Effect.gen(this, function* () {
      this.closed = true
      const superseded = this.supersedeAll()
      this.notifyAll(Exit.fail(this.unavailable("the host is shutting down")))
      Deferred.unsafeDone(this.stopped, Exit.fail(this.unavailable("the host is shutting down")))
      yield* Effect.forEach(superseded, (run) => (run.fiber ? Fiber.interrupt(run.fiber) : Effect.void), {
        concurrency: "unbounded",
        discard: true
      })
    })
  }

  /** A workflow's layer is closing: stop its runs without compensations (they resume at the next start). */
  private unregister(name: string): Effect.Effect<void> {
    return Effect.gen(this, function* () {
      this.workflows.delete(name)
      const superseded = this.supersedeAll((run) => run.entry.workflow.name === name)
      yield* Effect.forEach(superseded, (run) => (run.fiber ? Fiber.interrupt(run.fiber) : Effect.void), {
        concurrency: "unbounded",
        discard: true
      })
    })
  }

  // -----------------------------------------------------------------------------------------------
  // Operations (typed; used by the WorkflowEngine below and by the RPC handlers)

  private now = Clock.currentTimeMillis

  registered(name: string): Effect.Effect<Registered, WorkflowNotFound> {
    return Effect.suspend(() => {
      const entry = this.workflows.get(name)
      return entry
        ? Effect.succeed(entry)
        : Effect.fail(new WorkflowNotFound({ workflow: name, known: Array.from(this.workflows.keys()).sort() }))
    })
  }

  /**
   * Creates the execution (idempotent) and, unless `discard`, waits for its result. The creation
   * joins the caller's sthread when that carries speculation (the execution then depends on the
   * caller); the result is read in the caller's sthread (outside any sthread: after commit).
   */
  startOrAwait(
    workflow: W.Any,
    executionId: string,
    payload: unknown,
    options: { readonly discard: boolean; readonly parent?: ParentRef | undefined }
  ): Effect.Effect<ExecutionInfo, HostFailure | HostUnavailable> {
    const self = this
    const create = Effect.flatMap(this.now, (now) =>
      this.act((s) =>
        Host.createExecution(s, executionId, { workflow: workflow.name, payload, parent: options.parent, now })
      )
    )
    const created = Effect.tap(create, () => Effect.sync(() => this.startRun(executionId)))
    return Effect.gen(function* () {
      const caller = yield* FiberRef.get(Sthread.currentSthread)
      if (options.discard) {
        const { record } = yield* self.boundary(created)
        return Host.info(executionId, record)
      }
      for (;;) {
        if (caller && caller.deps.size > 0) yield* created
        else yield* self.inFresh(created)
        yield* self.waitUntil(executionId, (r) => r === undefined || r.status === "complete")
        const read = self.act((s) => s.executions.get(executionId))
        if (caller) {
          const record = yield* read
          if (record?.status === "complete") return Host.info(executionId, record)
          continue
        }
        const thread = self.fresh()
        const record = yield* Sthread.within(read, thread)
        if (record?.status !== "complete") continue
        const committed = yield* Effect.either(self.awaitCommitOf(thread))
        if (Either.isRight(committed)) return Host.info(executionId, record)
      }
    })
  }

  status(executionId: string): Effect.Effect<ExecutionInfo, ExecutionNotFound | HostFailure | HostUnavailable> {
    return this.boundary(
      Effect.flatMap(
        this.act((s) => s.executions.get(executionId)),
        (record) => (record ? Effect.succeed(Host.info(executionId, record)) : this.notFound(executionId))
      )
    )
  }

  /** "Not found" is decided on speculative state: release it only once that state has committed. */
  private notFound(executionId: string): Effect.Effect<never, ExecutionNotFound | RolledBack | HostUnavailable> {
    return Effect.zipRight(
      Effect.flatMap(FiberRef.get(Sthread.currentSthread), (t) => (t ? this.awaitCommitOf(t) : Effect.void)),
      Effect.fail(new ExecutionNotFound({ executionId }))
    )
  }

  list(request: ListRequest): Effect.Effect<ListResult, HostFailure | HostUnavailable> {
    return this.boundary(
      this.act((s) => {
        const limit = request.limit ?? 100
        const all: Array<ExecutionInfo> = []
        for (const [id, record] of s.executions) {
          if (request.workflow !== undefined && record.workflow !== request.workflow) continue
          if (request.status !== undefined && record.status !== request.status) continue
          all.push(Host.info(id, record))
        }
        all.sort((a, b) => a.createdAt - b.createdAt || (a.executionId < b.executionId ? -1 : a.executionId > b.executionId ? 1 : 0))
        const from = request.after === undefined ? 0 : all.findIndex((e) => e.executionId === request.after) + 1
        const page = all.slice(from, from + limit)
        return { executions: page, more: from + limit < all.length }
      })
    )
  }

  /** Completes a deferred (the first result wins) and wakes its execution. */
  signal(options: {
    readonly workflowName: string
    readonly executionId: string
    readonly deferredName: string
    readonly exit: Exit.Exit<unknown, unknown>
  }): Effect.Effect<SignalResult, HostFailure | HostUnavailable> {
    const encoded = encodeExitUnknown(options.exit)
    return Effect.gen(this, function* () {
      const run = yield* Effect.serviceOption(CurrentRun)
      if (Option.isSome(run) && (run.value.superseded || run.value.aborted)) return { accepted: false }
      const now = yield* this.now
      const result = yield* this.boundary(
        this.act((s) => Host.recordDeferred(s, options.executionId, options.deferredName, encoded, now))
      )
      if (result.woke) this.startRun(options.executionId)
      return { accepted: result.accepted }
    })
  }

  signalAddress(
    address: DeferredAddress,
    exit: unknown
  ): Effect.Effect<SignalResult, InvalidRequest | HostFailure | HostUnavailable> {
    return Effect.gen(this, function* () {
      let target: { workflowName: string; executionId: string; deferredName: string }
      if (address._tag === "Token") {
        const parsed = yield* Schema.decodeUnknown(DurableDeferred.TokenParsed.FromString)(address.token).pipe(
          Effect.mapError((e) => new InvalidRequest({ reason: `not a DurableDeferred token: ${e.message}` }))
        )
        target = { workflowName: parsed.workflowName, executionId: parsed.executionId, deferredName: parsed.deferredName }
      } else {
        target = { workflowName: address.workflow, executionId: address.executionId, deferredName: address.deferred }
      }
      const decoded = yield* Schema.decodeUnknown(ExitUnknown)(exit).pipe(
        Effect.mapError((e) => new InvalidRequest({ reason: `not an encoded Exit: ${e.message}` }))
      )
      return yield* this.signal({ ...target, exit: decoded })
    })
  }

  /** Requests an interrupt: it takes effect when the execution next suspends (at once if it is suspended). */
  interrupt(executionId: string): Effect.Effect<boolean, HostFailure | HostUnavailable> {
    return Effect.gen(this, function* () {
      const now = yield* this.now
      const woke = yield* this.boundary(
        this.act((s) => {
          const record = s.executions.get(executionId)
          if (!record || record.status === "complete" || record.interrupted) return false
          return Host.wake(s, executionId, now, { interrupted: true })
        })
      )
      if (woke) this.startRun(executionId)
      return woke
    })
  }

  /** Runs a suspended execution again (a no-op for complete or unknown ones). */
  resume(executionId: string): Effect.Effect<boolean, HostFailure | HostUnavailable> {
    return Effect.gen(this, function* () {
      const now = yield* this.now
      const woke = yield* this.boundary(this.act((s) => Host.wake(s, executionId, now)))
      if (woke) this.startRun(executionId)
      return woke
    })
  }

  // -----------------------------------------------------------------------------------------------
  // The WorkflowEngine

  private encoded(): WorkflowEngine.Encoded {
    const self = this
    const decodeComplete = (workflow: W.Any, encodedExit: unknown) =>
      Effect.map(
        Effect.orDie(Schema.decodeUnknown(workflowExitSchema(workflow))(encodedExit)),
        (exit) => new Workflow.Complete({ exit: exit as Exit.Exit<unknown, unknown> })
      )
    return {
      register: (workflow, execute) =>
        Effect.gen(function* () {
          self.workflows.set(workflow.name, { workflow, execute })
          yield* Effect.addFinalizer(() => self.unregister(workflow.name))
          self.driveAll(workflow.name)
        }),

      execute: (workflow, options) =>
        Effect.gen(function* () {
          yield* self.registered(workflow.name).pipe(Effect.orDie)
          const payload = toPlain(yield* Effect.orDie(Schema.encode(payloadSchema(workflow))(options.payload)))
          if (options.parent) return yield* self.executeChild(workflow, options.executionId, payload, options.parent)
          const info = yield* self.startOrAwait(workflow, options.executionId, payload, { discard: options.discard })
          if (options.discard) return undefined
          return yield* decodeComplete(workflow, info.exit)
        }).pipe(Effect.orDie) as any,

      poll: (workflow, executionId) =>
        Effect.gen(function* () {
          const record = yield* self.boundary(self.act((s) => s.executions.get(executionId)))
          if (!record) return undefined
          if (record.status === "complete") return yield* decodeComplete(workflow, record.exit)
          if (record.status === "suspended") return new Workflow.Suspended()
          return undefined
        }).pipe(Effect.orDie),

      interrupt: (_workflow, executionId) => Effect.orDie(Effect.asVoid(self.interrupt(executionId))),

      resume: (_workflow, executionId) => Effect.orDie(Effect.asVoid(self.resume(executionId))),

      activityExecute: (activity, attempt) =>
        Effect.gen(function* () {
          const instance = yield* WorkflowInstance
          const run = yield* currentRunOrDie
          const key = Host.activityKey(instance.executionId, activity.name, attempt)
          run.at(`${activity.name}: reading its recorded result`)
          const memo = yield* Effect.either(self.runAct(run, (s) => s.activities.get(key)))
          if (Either.isLeft(memo)) {
            self.abort(run)
            return new Workflow.Suspended()
          }
          if (memo.right !== undefined) {
            run.at("running the workflow")
            return new Workflow.Complete({ exit: decodeExitUnknown(memo.right) })
          }
          const activityInstance = WorkflowInstance.initial(instance.workflow, instance.executionId)
          activityInstance.interrupted = instance.interrupted
          run.at(`${activity.name}: executing (attempt ${attempt})`)
          const result = yield* activity.executeEncoded.pipe(
            Workflow.intoResult,
            Effect.provideService(WorkflowInstance, activityInstance)
          )
          if (result._tag === "Suspended") return result
          if (exitIsSpeculationFailure(result.exit)) {
            // What the activity saw was lost in a failure: its result means nothing. Run again.
            self.abort(run)
            return new Workflow.Suspended()
          }
          const encoded = encodeExitUnknown(result.exit as Exit.Exit<unknown, unknown>)
          run.at(`${activity.name}: recording its result`)
          const stored = yield* Effect.either(
            self.runAct(run, (s) => {
              const first = s.activities.get(key)
              if (first !== undefined) return first
              s.activities.set(key, encoded)
              return encoded
            })
          )
          if (Either.isLeft(stored)) {
            self.abort(run)
            return new Workflow.Suspended()
          }
          run.at("running the workflow")
          return new Workflow.Complete({ exit: decodeExitUnknown(stored.right) })
        }) as any,

      deferredResult: (deferred) =>
        Effect.gen(function* () {
          const instance = yield* WorkflowInstance
          const run = yield* currentRunOrDie
          run.at(`deferred ${deferred.name}: reading it`)
          const found = yield* Effect.either(
            self.runAct(run, (s) => s.deferreds.get(Host.deferredKey(instance.executionId, deferred.name)))
          )
          if (Either.isLeft(found)) {
            // The run suspends at the await; it is driven again.
            self.abort(run)
            return undefined
          }
          return found.right === undefined ? undefined : decodeExitUnknown(found.right)
        }),

      deferredDone: (options) =>
        Effect.asVoid(
          self.signal({
            workflowName: options.workflowName,
            executionId: options.executionId,
            deferredName: options.deferredName,
            exit: options.exit
          })
        ).pipe(Effect.orDie),

      scheduleClock: (workflow, options) =>
        Effect.gen(function* () {
          const now = yield* self.now
          const clock: ClockRecord = {
            executionId: options.executionId,
            workflow: workflow.name,
            name: options.clock.name,
            deferred: options.clock.deferred.name,
            wakeAt: now + Duration.toMillis(options.clock.duration)
          }
          const run = yield* Effect.serviceOption(CurrentRun)
          const created: Either.Either<boolean, unknown> = Option.isSome(run)
            ? yield* Effect.either(self.runAct(run.value, (s) => Host.scheduleClock(s, clock)))
            : yield* Effect.either(self.boundary(self.act((s) => Host.scheduleClock(s, clock))))
          if (Either.isLeft(created)) {
            // The await that follows suspends; the run is driven again.
            if (Option.isSome(run)) self.abort(run.value)
            return
          }
          if (created.right) self.arm(clock)
        })
    }
  }

  /**
   * A child workflow, from its parent's run: created in the parent's sthread (it depends on the
   * parent's speculation); the parent waits for the child's run to end and then sees its result,
   * or suspends until the child's completion wakes it.
   */
  private executeChild(
    workflow: W.Any,
    executionId: string,
    payload: unknown,
    parent: Instance
  ): Effect.Effect<W.Result<unknown, unknown>, HostFailure | HostUnavailable> {
    const self = this
    return Effect.gen(function* () {
      const now = yield* self.now
      const parentRef = { workflow: parent.workflow.name, executionId: parent.executionId }
      yield* self.act((s) => Host.createExecution(s, executionId, { workflow: workflow.name, payload, parent: parentRef, now }))
      self.startRun(executionId)
      yield* self.waitUntil(executionId, (r) => r === undefined || r.status !== "running")
      const record = yield* self.act((s) => s.executions.get(executionId))
      if (record?.status !== "complete") return new Workflow.Suspended()
      const exit = yield* Effect.orDie(Schema.decodeUnknown(workflowExitSchema(workflow))(record.exit))
      return new Workflow.Complete({ exit: exit as Exit.Exit<unknown, unknown> })
    })
  }
}

const currentRunOrDie: Effect.Effect<Run> = Effect.flatMap(Effect.serviceOption(CurrentRun), (run) =>
  Option.isSome(run) ? Effect.succeed(run.value) : Effect.dieMessage("workflow code ran outside of a dse workflow run")
)

/** Builds the engine over `host`, with its supervisor and sweeper; stops its runs when the scope closes. */
export const make = (
  host: WorkflowHostService,
  options: EngineOptions = {}
): Effect.Effect<Engine, never, Dse.Dse | Scope.Scope> =>
  Effect.gen(function* () {
    const dse = yield* Dse.Dse
    const runFiber = yield* FiberSet.makeRuntime<never, void, never>()
    const timerMap = yield* FiberMap.make<string, void, never>()
    const timers = yield* FiberMap.runtime(timerMap)<never>()
    const redriveMap = yield* FiberMap.make<string, void, never>()
    const redrives = yield* FiberMap.runtime(redriveMap)<never>()
    const restored = yield* Queue.unbounded<ReadonlyArray<Run>>()
    const engine = new Engine(
      host,
      dse,
      options,
      (effect) => runFiber(effect),
      timerMap,
      (key, effect) => timers(key, effect, { onlyIfMissing: true }),
      redriveMap,
      (key, effect) => redrives(key, effect, { onlyIfMissing: true }),
      restored
    )
    const stopListening = host.state.onRestore(() => engine.onRestore())
    yield* Effect.addFinalizer(() => Effect.zipRight(Effect.sync(stopListening), engine.shutdown()))
    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.take(restored), (runs) => engine.afterRestore(runs))))
    const sweepInterval = Duration.decode(options.sweepInterval ?? Duration.seconds(1))
    if (Duration.isFinite(sweepInterval)) {
      yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(sweepInterval), Effect.sync(() => engine.sweep()))))
    }
    engine.armAll()
    return engine
  })
