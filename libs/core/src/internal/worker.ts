/**
 * The machinery of one StateObject: versions, the Lamport rule, sealing, asynchronous persistence,
 * reports, pruning and the recovery decision (SPEC 3.1-3.4, 3.7, 3.9).
 *
 * Written imperatively on purpose: it sits on the hot path of every Action. Effects appear only
 * where something can wait (the latch, the store, the coordinator).
 */
import { Deferred, Effect, Exit, FiberId, FiberRef } from "effect"
import type { CheckpointMeta, StoredCheckpoints, WorkerStore } from "../CheckpointStore"
import * as Cut from "../Cut"
import type { Dependency } from "../DependencySet"
import { DependencySet } from "../DependencySet"
import type { CheckpointStoreError } from "../Errors"
import { FutureWorldLine, RolledBack, StateObjectFailed } from "../Errors"
import type { ExecutionMode } from "../ExecutionMode"
import type { Version, WorkerId, WorldLine } from "../Ids"
import * as Recovery from "../Recovery"
import { currentSthread, type Sthread } from "../Sthread"
import type { VersionedState } from "../VersionedState"
import { ActionLatch } from "./latch"

/** What a worker needs from its process's runtime. */
export interface WorkerHost {
  readonly mode: ExecutionMode
  readonly committedOf: (worker: WorkerId) => Version
  readonly isCovered: (deps: Iterable<Dependency>) => boolean
  /** Whether dependencies taken in `worldLine` all committed, judged in that world-line's numbering. */
  readonly isCoveredIn: (deps: Iterable<Dependency>, worldLine: number) => boolean
  readonly report: (
    worker: WorkerId,
    worldLine: number,
    version: number,
    prev: number,
    deps: ReadonlyArray<Dependency>
  ) => void
  /** Waits (bounded) until this process has adopted `worldLine`; false when it did not in time. */
  readonly awaitWorldLine: (worldLine: number) => Effect.Effect<boolean>
  /** Called when a worker fails, so that the process can surface it. */
  readonly onFailure: (worker: Worker, error: StateObjectFailed) => void
}

interface SealedVersion {
  readonly version: number
  /** The checkpoint before it (see CheckpointReport.prev). */
  readonly prev: number
  readonly deps: ReadonlyArray<Dependency>
  persisted: boolean
  /** The world-line in which it was last reported (0: not reported). */
  reportedIn: number
}

export interface WorkerStats {
  readonly name: string
  readonly id: number
  readonly worldLine: number
  readonly version: number
  readonly committed: number
  readonly persisted: number
  readonly uncommitted: number
  readonly sealed: number
  readonly restores: number
  /** Actions in the latch now (a seal or restore waits for them to leave). */
  readonly actionsRunning: number
  /** A seal or restore is waiting for the latch or running (new Actions wait behind it). */
  readonly exclusivePending: boolean
}

/** The workers whose Action the current fiber is inside: a nested Action on one of them joins it. */
const entered = FiberRef.unsafeMake<ReadonlySet<Worker<any>>>(new Set())

const enter = <A, E, R>(worker: Worker<any>, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(FiberRef.get(entered), (inside) => Effect.locally(effect, entered, new Set(inside).add(worker)))

const PRUNE_EVERY_VERSIONS = 32
const PRUNE_EVERY_MS = 1_000

export class Worker<S extends VersionedState = VersionedState> {
  id: WorkerId = 0 as WorkerId
  worldLine = 0
  /** The current (unsealed) version. */
  version = 1
  /** Foreign dependencies of the current version. */
  private deps = DependencySet.empty()
  /** Something happened in the current version that a reader could have seen. */
  private touched = false
  /** The newest sealed version that was touched (0: none). */
  private lastTouched = 0
  /** The newest checkpoint (sealed, or restored): the `prev` of the next report. */
  private lastSealed = 0
  committed = 0
  persistedMax = 0
  private prunedTo = 0
  private lastPruneAt = 0
  private readonly sealed: Array<SealedVersion> = []
  private readonly latch = new ActionLatch()
  /** Bumped on every restore: completions of older persists are then ignored. */
  private incarnation = 0
  private failure: StateObjectFailed | undefined
  private sealScheduled = false
  private durableWaiters: Array<{ readonly version: number; readonly deferred: Deferred.Deferred<void, StateObjectFailed> }> = []
  sealCount = 0
  restoreCount = 0
  /** What kind of service it is ("kv", "wal"...): sent with every registration, for discovery. */
  kind: string | undefined = undefined
  /** Runs forked work (persists, scheduled seals) in the worker's scope. */
  fork: (effect: Effect.Effect<void>) => void = () => {}
  /** Called when an Action leaves the current version dirty: arms the periodic seal (none runs while clean). */
  onDirty: () => void = () => {}

  constructor(
    readonly name: string,
    readonly state: S,
    readonly host: WorkerHost,
    readonly store: WorkerStore | undefined
  ) {}

  get mode(): ExecutionMode {
    return this.host.mode
  }

  stats(): WorkerStats {
    return {
      name: this.name,
      id: this.id,
      worldLine: this.worldLine,
      version: this.version,
      committed: this.committed,
      persisted: this.persistedMax,
      uncommitted: this.sealed.length,
      sealed: this.sealCount,
      restores: this.restoreCount,
      actionsRunning: this.latch.running,
      exclusivePending: this.latch.exclusivePending
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Actions

  /** Runs `body` as an Action in the current version (SPEC 3.1, 3.2). */
  action<A, E, R>(
    body: (state: S) => Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | RolledBack | FutureWorldLine | StateObjectFailed, R> {
    return Effect.flatMap(FiberRef.getWith(entered, (inside) => Effect.map(FiberRef.get(currentSthread), (s) => [inside, s] as const)), ([inside, sthread]) => {
      // Re-entrant: an Action that calls another Action of the same worker already holds the latch.
      if (inside.has(this)) return body(this.state)
      if (this.failure) return Effect.fail(this.failure)
      if (this.mode !== "speculative") return this.plainAction(body)
      if (sthread && sthread.worldLine !== 0 && sthread.worldLine !== this.worldLine) {
        return Effect.flatMap(this.reconcileWorldLine(sthread), () => this.speculativeAction(body, sthread))
      }
      return this.speculativeAction(body, sthread)
    })
  }

  /** An sthread of another world-line: accept it only when nothing it depends on is speculative. */
  private reconcileWorldLine(sthread: Sthread): Effect.Effect<void, RolledBack | FutureWorldLine> {
    return Effect.suspend(() => {
      if (sthread.worldLine < this.worldLine) {
        if (this.host.isCoveredIn(sthread.deps, sthread.worldLine)) {
          // Everything it depends on committed: it carries no speculation any more.
          sthread.deps.clear()
          sthread.worldLine = this.worldLine
          return Effect.void
        }
        return Effect.fail(
          new RolledBack({
            worldLine: this.worldLine,
            reason: `sthread of world-line ${sthread.worldLine} depends on work lost in a failure`
          })
        )
      }
      const wanted = sthread.worldLine
      return Effect.flatMap(this.host.awaitWorldLine(wanted), (ok) => {
        if (!ok || this.worldLine < wanted) return Effect.fail(new FutureWorldLine({ received: wanted, current: this.worldLine }))
        // Reached exactly: nothing left to reconcile (reconciling again would find the same
        // world-line, await it, get it at once, and loop for ever).
        return this.worldLine === wanted ? Effect.void : this.reconcileWorldLine(sthread)
      })
    })
  }

  private speculativeAction<A, E, R>(
    body: (state: S) => Effect.Effect<A, E, R>,
    sthread: Sthread | undefined
  ): Effect.Effect<A, E | RolledBack | FutureWorldLine | StateObjectFailed, R> {
    return this.latch.action<A, E | RolledBack | FutureWorldLine | StateObjectFailed, R>(
      (leave) => {
        // Lamport rule: a dependency above our version moves us to it before the Action runs.
        if (sthread) {
          const target = this.maxForeignVersion(sthread.deps)
          if (target > this.version) {
            if (this.isDirty()) {
              if (this.latch.running > 1) {
                leave()
                return Effect.zipRight(this.sealExclusive(), this.speculativeAction(body, sthread))
              }
              this.sealNow()
            }
            if (target > this.version) this.version = target
          }
        }
        if (sthread && sthread.worldLine !== 0 && sthread.worldLine !== this.worldLine) {
          // A world-line change happened while we waited for the latch: validate again.
          leave()
          return this.action(body)
        }
        const absorbed = sthread ? this.absorb(sthread.deps) : []
        const version = this.version
        return Effect.map(
          enter(this, Effect.suspend(() => body(this.state))),
          (a) => {
            if (this.state.hasChanges()) this.touched = true
            if (sthread) {
              // What the body absorbed (a nested call's reply) belongs to this version too.
              const late = this.absorb(sthread.deps)
              if (sthread.worldLine === 0) sthread.worldLine = this.worldLine
              sthread.compact(absorbed.concat(late), this.id, this.visibleVersion(version) as Version)
            }
            return a
          }
        )
      },
      () => {
        if (this.isDirty()) this.onDirty()
      }
    )
  }

  /** Durable and ephemeral modes: no dependency tracking; durable persists before returning. */
  private plainAction<A, E, R>(body: (state: S) => Effect.Effect<A, E, R>): Effect.Effect<A, E | StateObjectFailed, R> {
    return this.latch.action((leave) => {
      const version = this.version
      const run = Effect.ensuring(enter(this, Effect.suspend(() => body(this.state))), Effect.sync(leave))
      if (this.mode === "ephemeral") {
        return Effect.tap(run, () => {
          if (this.state.hasChanges()) this.state.takeDelta()
        })
      }
      // Out of the latch first (a seal must be able to run): a read-only Action made nothing new,
      // so it waits only for what it read (the last sealed change).
      return Effect.tap(run, () => this.awaitDurable(this.isDirty() ? version : Math.min(version, this.lastTouched)))
    })
  }

  /** Adds the foreign, uncommitted dependencies of `deps` to the current version. */
  private absorb(deps: DependencySet): Array<Dependency> {
    const absorbed: Array<Dependency> = []
    for (const [w, v] of deps) {
      if (w === this.id) continue
      if (this.host.committedOf(w) >= v) {
        absorbed.push([w, v])
        continue
      }
      if (this.deps.add(w, v)) this.touched = true
      absorbed.push([w, v])
    }
    return absorbed
  }

  private maxForeignVersion(deps: DependencySet): number {
    let max = 0
    for (const [w, v] of deps) if (w !== this.id && v > max && this.host.committedOf(w) < v) max = v
    return max
  }

  private isDirty(): boolean {
    return this.touched || this.state.hasChanges()
  }

  /** The version a reader of the current state depends on: an untouched version shows its predecessor's state. */
  private visibleVersion(version: number): number {
    return this.touched || version !== this.version ? version : this.lastTouched
  }

  /** The dependency a reply from this worker carries right now (for callers outside an Action). */
  currentDependency(): Dependency | undefined {
    const v = this.isDirty() ? this.version : this.lastTouched
    return v > this.committed ? [this.id, v as Version] : undefined
  }

  // ---------------------------------------------------------------------------------------------
  // Sealing and persistence

  /** Seals the current version. Only call when no Action runs (inside the latch or with none in flight). */
  private sealNow(): void {
    if (!this.isDirty()) return
    const version = this.version
    const delta = this.state.takeDelta()
    this.version = version + 1
    this.sealCount++
    if (this.mode === "ephemeral" || !this.store) {
      this.deps = DependencySet.empty()
      this.touched = false
      this.lastTouched = version
      return
    }
    const deps = this.deps.toArray()
    this.deps = DependencySet.empty()
    this.touched = false
    this.lastTouched = version
    const entry: SealedVersion = { version, prev: this.lastSealed, deps, persisted: false, reportedIn: 0 }
    this.lastSealed = version
    this.sealed.push(entry)
    const meta: CheckpointMeta = { worldLine: this.worldLine as WorldLine, version: version as Version, deps }
    const incarnation = this.incarnation
    this.fork(
      Effect.matchCauseEffect(this.store.persist(meta, delta), {
        onFailure: (cause) => Effect.sync(() => this.fail(`persist of version ${version} failed: ${String(cause)}`)),
        onSuccess: () =>
          Effect.sync(() => {
            if (incarnation !== this.incarnation) return
            entry.persisted = true
            if (version > this.persistedMax) this.persistedMax = version
            this.onPersisted()
          })
      })
    )
  }

  /** Seals through the latch (waits for running Actions). */
  sealExclusive(): Effect.Effect<void> {
    return this.latch.exclusive(Effect.sync(() => this.sealNow()))
  }

  /** Reports persisted versions in version order (the coordinator relies on it), and wakes durable waiters. */
  private onPersisted(): void {
    if (this.mode === "speculative") {
      for (const entry of this.sealed) {
        if (!entry.persisted) break
        if (entry.reportedIn === this.worldLine) continue
        entry.reportedIn = this.worldLine
        this.host.report(this.id, this.worldLine, entry.version, entry.prev, entry.deps)
      }
    } else {
      // Durable mode: persisted is committed.
      this.advanceCommitted(this.persistedMax)
    }
    if (this.durableWaiters.length > 0) {
      const ready = this.durableWaiters.filter((w) => w.version <= this.persistedMax)
      this.durableWaiters = this.durableWaiters.filter((w) => w.version > this.persistedMax)
      for (const w of ready) Deferred.unsafeDone(w.deferred, Exit.void)
    }
  }

  /**
   * Durable mode: waits until `version` is persisted, sealing it if it is still current. The seal
   * runs after a yield, so Actions that finish in the same turn share one fsync (group commit).
   */
  private awaitDurable(version: number): Effect.Effect<void, StateObjectFailed> {
    return Effect.suspend(() => {
      if (this.failure) return Effect.fail(this.failure)
      if (this.persistedMax >= version) return Effect.void
      const deferred = Deferred.unsafeMake<void, StateObjectFailed>(FiberId.none)
      this.durableWaiters.push({ version, deferred })
      if (version >= this.version && !this.sealScheduled) {
        this.sealScheduled = true
        this.fork(
          Effect.yieldNow().pipe(
            Effect.zipRight(Effect.sync(() => {
              this.sealScheduled = false
            })),
            Effect.zipRight(this.sealExclusive())
          )
        )
      }
      return Deferred.await(deferred)
    })
  }

  /**
   * The foreign, uncommitted dependencies of this worker's versions up to `version` (sealed and
   * not committed, and the current one when `version` reaches it): what `version` needs from
   * other workers before it can commit.
   */
  foreignDependenciesUpTo(version: number): Array<Dependency> {
    const out = DependencySet.empty()
    const add = (deps: Iterable<Dependency>) => {
      for (const [w, v] of deps) if (w !== this.id && this.host.committedOf(w) < v) out.add(w, v)
    }
    for (const entry of this.sealed) if (entry.version <= version && entry.version > this.committed) add(entry.deps)
    if (version >= this.version) add(this.deps)
    return out.toArray()
  }

  /** Someone waits for `version` to commit: seal it now if it is still current (SPEC 3.4). */
  requestSeal(version: number): void {
    if (this.mode !== "speculative" || version < this.version || this.sealScheduled || !this.isDirty()) return
    this.sealScheduled = true
    this.fork(
      Effect.ensuring(
        this.sealExclusive(),
        Effect.sync(() => {
          this.sealScheduled = false
        })
      )
    )
  }

  /** The periodic seal (SPEC 3.4). */
  periodicSeal(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.failure || !this.isDirty()) return Effect.void
      return this.sealExclusive()
    })
  }

  // ---------------------------------------------------------------------------------------------
  // Commit and pruning

  /** A new committed cut arrived. */
  onCut(cut: Cut.Cut): void {
    this.advanceCommitted(Cut.at(cut, this.id))
  }

  private advanceCommitted(committed: number): void {
    if (committed <= this.committed) return
    this.committed = committed
    let drop = 0
    while (drop < this.sealed.length && this.sealed[drop]!.version <= committed) drop++
    if (drop > 0) this.sealed.splice(0, drop)
    this.maybePrune()
  }

  /** Prunes in batches: a prune is a durable write too, and must not double the fsyncs of sealing. */
  private maybePrune(): void {
    if (!this.store || this.committed <= this.prunedTo) return
    const now = Date.now()
    if (this.committed - this.prunedTo < PRUNE_EVERY_VERSIONS && now - this.lastPruneAt < PRUNE_EVERY_MS) return
    const target = Math.min(this.committed, this.persistedMax)
    if (target <= this.prunedTo) return
    this.prunedTo = target
    this.lastPruneAt = now
    this.fork(Effect.ignore(this.store.prune(target as Version)))
  }

  // ---------------------------------------------------------------------------------------------
  // Start and recovery

  /** The metadata a re-registration sends: persisted versions above the committed one. */
  persistedUncommitted(): Array<{ worldLine: number; version: number; deps: ReadonlyArray<Dependency> }> {
    // A chain without holes: the coordinator takes each one as the successor of the one before.
    const out: Array<{ worldLine: number; version: number; deps: ReadonlyArray<Dependency> }> = []
    for (const s of this.sealed) {
      if (!s.persisted) break
      if (s.version > this.committed) out.push({ worldLine: this.worldLine, version: s.version, deps: s.deps })
    }
    return out
  }

  /** A fresh start: restore the version the coordinator names (or, outside speculation, the newest). */
  start(
    id: WorkerId,
    worldLine: number,
    restoreTo: number,
    committed: number
  ): Effect.Effect<void, CheckpointStoreError> {
    this.id = id
    this.worldLine = worldLine
    return Effect.zipRight(
      this.restoreTo(restoreTo, committed),
      this.store && this.mode === "speculative" ? this.store.adoptWorldLine(worldLine as WorldLine) : Effect.void
    )
  }

  private restoreTo(version: number, committed: number): Effect.Effect<void, CheckpointStoreError> {
    return Effect.gen(this, function* () {
      this.incarnation++
      if (this.store) {
        yield* this.store.discardAfter(version as Version)
        const restored = yield* this.store.restore(version as Version)
        this.state.restore(restored.entries)
      } else {
        this.state.restore(new Map())
      }
      this.sealed.length = 0
      this.deps = DependencySet.empty()
      this.touched = false
      this.lastTouched = version
      this.lastSealed = version
      this.version = version + 1
      this.persistedMax = version
      this.committed = Math.max(committed, version)
      this.prunedTo = Math.min(this.prunedTo, version)
    })
  }

  /**
   * A world-line change (SPEC 3.7): keep the state unless a version above our cut depends on
   * another worker's version beyond its cut; otherwise restore our checkpoint at the cut.
   */
  onWorldLineChanged(worldLine: number, recoveryCut: Cut.Cut): Effect.Effect<Recovery.RecoveryAction> {
    return this.latch.exclusive(
      Effect.gen(this, function* () {
        if (worldLine <= this.worldLine || this.failure) return Recovery.keep
        if (this.mode !== "speculative") {
          this.worldLine = worldLine
          return Recovery.keep
        }
        const versions: Array<Recovery.UncommittedVersion> = this.sealed.slice()
        if (this.isDirty()) versions.push({ version: this.version, deps: this.deps })
        const decision = Recovery.decide(this.id, recoveryCut, versions)
        if (decision._tag === "Keep") {
          // Durably first: a restart must know these checkpoints are valid in the new world-line
          // before the coordinator can commit them in it.
          if (this.store) {
            const adopted = yield* Effect.either(this.store.adoptWorldLine(worldLine as WorldLine))
            if (adopted._tag === "Left") {
              this.fail(`recording world-line ${worldLine} failed: ${adopted.left.message}`)
              return decision
            }
          }
          this.worldLine = worldLine
          this.advanceCommitted(Cut.at(recoveryCut, this.id))
          // Kept versions are reported again in the new world-line (the coordinator dropped them).
          this.onPersisted()
          return decision
        }
        this.restoreCount++
        const result = yield* Effect.either(
          Effect.zipRight(
            this.restoreTo(decision.version, decision.version),
            this.store ? this.store.adoptWorldLine(worldLine as WorldLine) : Effect.void
          )
        )
        if (result._tag === "Left") this.fail(`restore to version ${decision.version} failed: ${result.left.message}`)
        this.worldLine = worldLine
        return decision
      })
    )
  }

  /** Starts the store listing used at start and re-registration. */
  static listing(store: WorkerStore | undefined): Effect.Effect<StoredCheckpoints, CheckpointStoreError> {
    return store ? store.list : Effect.succeed({ base: 0 as Version, worldLine: 0, checkpoints: [] })
  }

  fail(reason: string): void {
    if (this.failure) return
    this.failure = new StateObjectFailed({ worker: this.name, reason })
    for (const w of this.durableWaiters) Deferred.unsafeDone(w.deferred, Exit.fail(this.failure))
    this.durableWaiters = []
    this.host.onFailure(this, this.failure)
  }

  get failed(): StateObjectFailed | undefined {
    return this.failure
  }
}
