/**
 * The per-process speculation runtime: the StateObjects of this process, the cut and world-line it
 * knows, commit waiters, and the link to the coordinator (events in; registrations, reports and
 * seal requests out). Resubscribes and re-registers its workers when the coordinator comes back.
 */
import type { Scope } from "effect"
import { Deferred, Duration, Effect, Exit, Fiber, FiberId, Stream } from "effect"
import type { CoordinatorEvent, RegisterRequest, Registration } from "../CoordinatorProtocol"
import { CoordinatorClient } from "../CoordinatorProtocol"
import * as Cut from "../Cut"
import type { Dependency } from "../DependencySet"
import type { CoordinatorUnavailable, FutureWorldLine, StateObjectFailed } from "../Errors"
import { RolledBack } from "../Errors"
import type { ExecutionMode } from "../ExecutionMode"
import type { Version, WorkerId } from "../Ids"
import type { Worker, WorkerHost } from "./worker"

export interface RuntimeOptions {
  readonly mode: ExecutionMode
  readonly sealPeriod: Duration.Duration
  readonly futureWorldLineWait: Duration.Duration
}

interface CommitWaiter {
  readonly deps: ReadonlyArray<Dependency>
  /** The world-line whose version numbers `deps` use. */
  readonly worldLine: number
  readonly deferred: Deferred.Deferred<void, RolledBack>
}

interface WorldLineWaiter {
  readonly worldLine: number
  /** true when the world-line came, false when the wait ran out. */
  readonly deferred: Deferred.Deferred<boolean>
}

export class Runtime implements WorkerHost {
  worldLine = 0
  private readonly cut = new Map<WorkerId, Version>()
  /**
   * The recovery cut of each world-line change this process saw, by new world-line. Version numbers
   * are reused after a rollback, so a dependency of world-line w can only be judged against the
   * recovery cut of w+1 (what of w survived), never against a later cut.
   */
  private readonly recoveryCuts = new Map<number, Cut.Cut>()
  private readonly workers = new Map<WorkerId, Worker<any>>()
  private commitWaiters = new Set<CommitWaiter>()
  private worldLineWaiters: Array<WorldLineWaiter> = []
  private readonly failures: Array<StateObjectFailed> = []
  connected = false
  /** The world-line being applied right now (its workers restore meanwhile); 0 when none. */
  private changingTo = 0
  /** Where this process can be reached; sent with every registration. */
  address: string | undefined

  constructor(
    readonly options: RuntimeOptions,
    readonly coordinator: CoordinatorClient["Type"],
    /** Runs background work with the process's services (and a test's TestClock). */
    readonly runFork: <A, E>(effect: Effect.Effect<A, E>) => void
  ) {}

  get mode(): ExecutionMode {
    return this.options.mode
  }

  // ---------------------------------------------------------------------------------------------
  // WorkerHost

  committedOf = (worker: WorkerId): Version => this.cut.get(worker) ?? (0 as Version)

  isCovered = (deps: Iterable<Dependency>): boolean => {
    for (const [w, v] of deps) if ((this.cut.get(w) ?? 0) < v) return false
    return true
  }

  /** True when dependencies taken in `worldLine` all committed (in that world-line's numbering). */
  isCoveredIn = (deps: Iterable<Dependency>, worldLine: number): boolean => {
    if (worldLine === 0 || worldLine >= this.effectiveWorldLine()) return this.isCovered(deps)
    const survived = this.recoveryCuts.get(worldLine + 1)
    if (survived === undefined) {
      for (const _ of deps) return false
      return true
    }
    for (const [w, v] of deps) if (Cut.at(survived, w) < v) return false
    return true
  }

  report = (worker: WorkerId, worldLine: number, version: number, prev: number, deps: ReadonlyArray<Dependency>): void => {
    this.runFork(this.coordinator.report({ worker, worldLine, version, prev, deps }))
  }

  awaitWorldLine = (worldLine: number): Effect.Effect<boolean> =>
    Effect.suspend(() => {
      if (this.worldLine >= worldLine) return Effect.succeed(true)
      const deferred = Deferred.unsafeMake<boolean>(FiberId.none)
      const waiter = { worldLine, deferred }
      this.worldLineWaiters.push(waiter)
      // A timer completes the wait instead of interrupting it: an interruption-based timeout never
      // fires in an uninterruptible region (a workflow compensation runs in a scope finalizer).
      const expire = Effect.interruptible(
        Effect.zipRight(Effect.sleep(this.options.futureWorldLineWait), Deferred.succeed(deferred, false))
      )
      return Effect.flatMap(Effect.forkDaemon(expire), (timer) =>
        Effect.ensuring(
          Deferred.await(deferred),
          Effect.suspend(() => {
            // A header from a world-line that never came (or an interrupted wait) leaves no waiter.
            if (this.worldLine < worldLine) this.worldLineWaiters = this.worldLineWaiters.filter((w) => w !== waiter)
            return Fiber.interruptFork(timer)
          })
        ))
    })

  onFailure = (_worker: Worker, error: StateObjectFailed): void => {
    this.failures.push(error)
    this.runFork(Effect.logError(error.message))
  }

  // ---------------------------------------------------------------------------------------------
  // Queries

  /** The newest world-line this process knows of, including one whose change is being applied. */
  private effectiveWorldLine(): number {
    return Math.max(this.worldLine, this.changingTo)
  }

  isKnownWorker(worker: number): boolean {
    return this.cut.has(worker as WorkerId) || this.workers.has(worker as WorkerId)
  }

  /** Learns the membership from the coordinator's status (its cut lists every member). */
  readonly refreshMembership: Effect.Effect<void, CoordinatorUnavailable> = Effect.flatMap(
    Effect.suspend(() => this.coordinator.status),
    (status) =>
      Effect.sync(() => {
        for (const w of status.workers) if (!this.cut.has(w.id as WorkerId)) this.cut.set(w.id as WorkerId, 0 as Version)
      })
  )

  currentCut(): Cut.Cut {
    return this.cut
  }

  localWorkers(): ReadonlyArray<Worker<any>> {
    return Array.from(this.workers.values())
  }

  failuresSeen(): ReadonlyArray<StateObjectFailed> {
    return this.failures
  }

  // ---------------------------------------------------------------------------------------------
  // Commit waits (SPEC 3.5)

  /**
   * Completes when every dependency is at or below the committed cut; fails if a failure loses one.
   * `seal: false` asks nobody to seal the pending versions (a watch for a loss, not a commit wait).
   */
  awaitCommit(
    deps: Iterable<Dependency>,
    worldLine: number,
    options: { readonly seal?: boolean } = {}
  ): Effect.Effect<void, RolledBack> {
    return Effect.suspend(() => {
      if (this.mode !== "speculative") return Effect.void
      const pending: Array<Dependency> = []
      for (const [w, v] of deps) if ((this.cut.get(w) ?? 0) < v) pending.push([w, v])
      const current = this.effectiveWorldLine()
      if (pending.length === 0 && (worldLine === 0 || worldLine >= current)) return Effect.void
      if (worldLine !== 0 && worldLine < current) {
        if (this.isCoveredIn(deps, worldLine)) return Effect.void
        return Effect.fail(
          new RolledBack({ worldLine: this.worldLine, reason: `depends on work of world-line ${worldLine} that did not commit` })
        )
      }
      const deferred = Deferred.unsafeMake<void, RolledBack>(FiberId.none)
      const waiter: CommitWaiter = { deps: pending, worldLine: worldLine === 0 ? current : worldLine, deferred }
      this.commitWaiters.add(waiter)
      if (options.seal !== false) this.requestSeal(pending)
      return Effect.onInterrupt(Deferred.await(deferred), () => Effect.sync(() => this.commitWaiters.delete(waiter)))
    })
  }

  /**
   * Asks the owners of these versions to seal them: local ones directly, others through the
   * coordinator. For a local version, what it depends on elsewhere is known here already: those
   * are asked for in the same request, so their seals run alongside the local one instead of after
   * its report (one fsync and two coordinator hops less on the path of an outside reply).
   */
  requestSeal(deps: ReadonlyArray<Dependency>): void {
    let asked: Array<Dependency> = deps.slice()
    for (const [w, v] of deps) {
      const local = this.workers.get(w)
      if (local === undefined) continue
      asked = asked.concat(local.foreignDependenciesUpTo(v))
      local.requestSeal(v)
    }
    // All of them go to the coordinator too: it seals their own dependencies transitively once reported.
    if (asked.length > 0) this.runFork(this.coordinator.requestSeal(asked))
  }

  /**
   * Completes the waiters whose dependencies committed, and ends those of older world-lines: each
   * is judged against the recovery cut that closed its world-line (what of it survived), never
   * against a later cut, whose version numbers may be reused. Unknown recovery cut: lost.
   */
  private settleWaiters(): void {
    const current = this.effectiveWorldLine()
    for (const waiter of this.commitWaiters) {
      if (waiter.worldLine >= current) {
        if (!this.isCovered(waiter.deps)) continue
        this.commitWaiters.delete(waiter)
        Deferred.unsafeDone(waiter.deferred, Exit.void)
        continue
      }
      this.commitWaiters.delete(waiter)
      const survived = this.recoveryCuts.get(waiter.worldLine + 1)
      const covered = survived !== undefined && waiter.deps.every(([w, v]) => Cut.at(survived, w) >= v)
      Deferred.unsafeDone(
        waiter.deferred,
        covered
          ? Exit.void
          : Exit.fail(new RolledBack({ worldLine: current, reason: "a dependency was lost in a failure" }))
      )
    }
  }

  private advanceWorldLine(worldLine: number): void {
    if (worldLine <= this.worldLine) return
    this.worldLine = worldLine
    const ready = this.worldLineWaiters.filter((w) => w.worldLine <= worldLine)
    this.worldLineWaiters = this.worldLineWaiters.filter((w) => w.worldLine > worldLine)
    for (const w of ready) Deferred.unsafeDone(w.deferred, Exit.succeed(true))
  }

  private mergeCut(cut: Cut.Cut): boolean {
    let changed = false
    for (const [w, v] of cut) {
      if ((this.cut.get(w) ?? 0) < v) {
        this.cut.set(w, v)
        changed = true
      } else if (!this.cut.has(w)) this.cut.set(w, v)
    }
    return changed
  }

  // ---------------------------------------------------------------------------------------------
  // Workers

  /** Registers a freshly started worker with the coordinator. */
  registerFresh(request: RegisterRequest): Effect.Effect<Registration, CoordinatorUnavailable | FutureWorldLine> {
    return this.coordinator.register({
      ...request,
      ...(this.address !== undefined ? { address: this.address } : {}),
      pid: process.pid
    })
  }

  attach(worker: Worker<any>, registration: Registration): void {
    this.workers.set(worker.id, worker)
    this.mergeCut(Cut.fromWire(registration.cut))
    worker.onCut(this.cut)
    if (registration.worldLine > this.worldLine && this.workers.size === 1) {
      // The only worker of this process defines its world-line.
      this.advanceWorldLine(registration.worldLine)
    }
  }

  /**
   * A worker whose registration is older than the world-line this process has reached: its start
   * overlapped world-line changes (another local worker's restart opened them, and their events
   * arrived before this worker was attached, so nobody moved it). It applies the changes it missed
   * in order, or re-registers when one of their recovery cuts is not known here. Without this it
   * would refuse every sthread of the process's world-line with FutureWorldLine, for ever.
   */
  catchUpWorker(worker: Worker<any>): Effect.Effect<void, CoordinatorUnavailable | FutureWorldLine> {
    return Effect.gen(this, function* () {
      while (!worker.failed && worker.worldLine < this.effectiveWorldLine()) {
        const next = worker.worldLine + 1
        const recoveryCut = this.recoveryCuts.get(next)
        if (recoveryCut === undefined) return yield* this.resync
        yield* worker.onWorldLineChanged(next, recoveryCut)
      }
    })
  }

  detach(worker: Worker<any>): void {
    if (this.workers.get(worker.id) === worker) this.workers.delete(worker.id)
  }

  // ---------------------------------------------------------------------------------------------
  // Events from the coordinator

  private handleEvent(event: CoordinatorEvent): Effect.Effect<void, CoordinatorUnavailable | FutureWorldLine> {
    switch (event._tag) {
      case "CutAdvanced": {
        if (event.worldLine > this.worldLine && this.worldLine !== 0) {
          return Effect.zipRight(this.resync, this.catchUp(event.worldLine, Cut.fromWire(event.cut)))
        }
        if (event.worldLine > this.worldLine) this.advanceWorldLine(event.worldLine)
        if (event.worldLine < this.worldLine) return Effect.void
        if (this.mergeCut(Cut.fromWire(event.cut))) {
          for (const worker of this.workers.values()) worker.onCut(this.cut)
          this.settleWaiters()
        }
        return Effect.void
      }
      case "WorldLineChanged": {
        // Workers decide one by one: one that re-registered may already be past this change.
        if (event.worldLine > this.worldLine + 1 && this.worldLine !== 0) {
          return Effect.zipRight(this.resync, this.catchUp(event.worldLine, Cut.fromWire(event.recoveryCut)))
        }
        return this.applyWorldLine(event.worldLine, Cut.fromWire(event.recoveryCut))
      }
      case "SealRequested": {
        for (const [w, v] of event.deps) this.workers.get(w as WorkerId)?.requestSeal(v)
        return Effect.void
      }
    }
  }

  /**
   * This process missed world-line changes (its workers were re-registered by `resync`): adopt the
   * newest world-line. Which of its waiters' dependencies survived is unknown (a later cut uses the
   * reused version numbers of the new world-line), so they fail with RolledBack and are retried.
   */
  private catchUp(worldLine: number, cut: Cut.Cut): Effect.Effect<void> {
    return Effect.sync(() => {
      if (worldLine > this.worldLine) {
        // Which of the missed world-lines' work survived is unknown here (no recovery cut): the
        // waiters of older world-lines are lost when settled below.
        this.advanceWorldLine(worldLine)
      }
      if (this.mergeCut(cut)) for (const worker of this.workers.values()) worker.onCut(this.cut)
      this.settleWaiters()
    })
  }

  private applyWorldLine(worldLine: number, recoveryCut: Cut.Cut): Effect.Effect<void, CoordinatorUnavailable | FutureWorldLine> {
    return Effect.gen(this, function* () {
      this.recoveryCuts.set(worldLine, recoveryCut)
      // Waiters of the old world-line learn their fate now, not after the restores below.
      if (worldLine > this.changingTo) this.changingTo = worldLine
      this.settleWaiters()
      const lagging = Array.from(this.workers.values()).filter((w) => w.worldLine === worldLine - 1)
      yield* Effect.forEach(lagging, (w) => w.onWorldLineChanged(worldLine, recoveryCut), {
        concurrency: "unbounded",
        discard: true
      })
      this.mergeCut(recoveryCut)
      this.advanceWorldLine(worldLine)
      if (this.changingTo <= this.worldLine) this.changingTo = 0
      this.settleWaiters()
      // A worker further behind missed a change in between: it learns that change's cut by re-registering.
      if (Array.from(this.workers.values()).some((w) => w.worldLine < worldLine && !w.failed)) yield* this.resync
    })
  }

  /**
   * Re-registers every local worker as live: after the coordinator restarted, or when this process
   * missed world-line changes. Each worker learns the recovery cut of the first change it missed.
   */
  readonly resync: Effect.Effect<void, CoordinatorUnavailable | FutureWorldLine> = Effect.gen(this, function* () {
    for (const worker of Array.from(this.workers.values())) {
      const reply = yield* Effect.either(
        this.coordinator.register({
          name: worker.name,
          worldLine: worker.worldLine,
          committed: worker.committed,
          checkpoints: worker.persistedUncommitted(),
          // Its kind too: a coordinator that restarted knows members only by name, and clients
          // discover services by kind (a workflow host waits for every "kv" member).
          ...(worker.kind !== undefined ? { kind: worker.kind } : {}),
          ...(this.address !== undefined ? { address: this.address } : {}),
          pid: process.pid
        })
      )
      if (reply._tag === "Left") return yield* Effect.fail(reply.left)
      const registration = reply.right
      if (registration.recoveryCut !== undefined) {
        const recoveryCut = Cut.fromWire(registration.recoveryCut)
        this.recoveryCuts.set(worker.worldLine + 1, recoveryCut)
        yield* worker.onWorldLineChanged(registration.worldLine, recoveryCut)
      }
      this.mergeCut(Cut.fromWire(registration.cut))
      worker.onCut(this.cut)
      if (registration.worldLine > this.worldLine) this.advanceWorldLine(registration.worldLine)
    }
    this.settleWaiters()
  }).pipe(
    // A worker left unregistered would block a rebuilding coordinator forever: fail, so that the
    // subscription ends and `follow` subscribes and re-registers again.
    Effect.tapError((e) => Effect.logWarning(`re-registration failed: ${e.message}`))
  )

  /**
   * Follows the coordinator's events for the life of the scope: subscribes, and when the stream
   * ends (the coordinator went away) subscribes again with backoff and re-registers the workers.
   */
  follow(firstEvent: Deferred.Deferred<void>): Effect.Effect<Fiber.RuntimeFiber<void>, never, Scope.Scope> {
    const once = (resync: boolean) =>
      this.coordinator.events.pipe(
        Stream.tap((event) =>
          Effect.gen(this, function* () {
            if (!this.connected) {
              this.connected = true
              if (resync) yield* this.resync
            }
            yield* this.handleEvent(event)
            yield* Deferred.succeed(firstEvent, undefined)
          })
        ),
        Stream.runDrain,
        Effect.ensuring(
          Effect.sync(() => {
            this.connected = false
          })
        ),
        Effect.catchAll(() => Effect.void)
      )
    const loop: Effect.Effect<void> = Effect.gen(this, function* () {
      let first = true
      for (;;) {
        yield* once(!first)
        first = false
        yield* Effect.sleep(Duration.millis(100))
      }
    })
    return Effect.forkScoped(loop)
  }
}
