/**
 * A StateObject (SPEC 3): a unit of state and a failure domain, with a stable name. All of its
 * state changes happen inside Actions; it seals versions on a period and on demand, persists them
 * asynchronously, and restores a checkpoint when a failure makes its speculative state invalid.
 *
 *   const counter = yield* StateObject.make({ name: "counter", state: VersionedCell.make(0) })
 *   yield* counter.action((cell) => Effect.sync(() => cell.update((n) => n + 1)))
 *
 * The state is any `VersionedState`: the ready-made VersionedMap / VersionedCell / struct track
 * their changes; authors with their own format implement `takeDelta` and `restore` directly.
 */
import type { Scope } from "effect"
import { Effect, ExecutionStrategy, Exit, Runtime, Scope as ScopeModule } from "effect"
import { CheckpointStore } from "./CheckpointStore"
import * as Cut from "./Cut"
import { Dse } from "./Dse"
import type { CheckpointStoreError, CoordinatorUnavailable, CorruptCheckpoint, FutureWorldLine, RolledBack, StateObjectFailed } from "./Errors"
import { CheckpointStoreError as StoreError } from "./Errors"
import type { WorkerId } from "./Ids"
import type { WorkerStats } from "./internal/worker"
import { Worker } from "./internal/worker"
import type { VersionedState } from "./VersionedState"

/** What `stats()` reports of a StateObject: its versions, restores and latch. */
export type { WorkerStats }

export interface StateObjectOptions<S extends VersionedState> {
  /** Stable name: its checkpoints are found by it after a restart. */
  readonly name: string
  readonly state: S
  /** A label for status output ("kv", "wal", ...). */
  readonly kind?: string
}

export interface StateObject<S extends VersionedState> {
  readonly name: string
  readonly id: WorkerId
  readonly state: S
  /**
   * Runs `body` atomically in the current version. In an sthread, the sthread's dependencies join
   * the version first (a dependency above our version moves us to it: the Lamport rule), and the
   * sthread afterwards depends on this version.
   */
  readonly action: <A, E, R>(
    body: (state: S) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | RolledBack | FutureWorldLine | StateObjectFailed, R>
  /** Seals the current version now (normally the period and commit waits do this). */
  readonly seal: Effect.Effect<void>
  readonly stats: () => WorkerStats
}

export type StartError = CheckpointStoreError | CorruptCheckpoint | CoordinatorUnavailable | FutureWorldLine

/**
 * Starts a StateObject: opens its store, registers with the coordinator, restores what the
 * coordinator names (after a crash: its checkpoint at the recovery cut), and seals periodically
 * until the scope closes.
 */
export const make = <S extends VersionedState>(
  options: StateObjectOptions<S>
): Effect.Effect<StateObject<S>, StartError, Dse | CheckpointStore | Scope.Scope> =>
  Effect.flatMap(Effect.scope, (parent) =>
    Effect.flatMap(ScopeModule.fork(parent, ExecutionStrategy.sequential), (scope) =>
      // Its own scope: a start that fails (say the coordinator is away) closes its store again,
      // so that a retry can open it.
      start(options).pipe(
        Effect.provideService(ScopeModule.Scope, scope),
        Effect.onError((cause) => ScopeModule.close(scope, Exit.failCause(cause)))
      )
    )
  )

const start = <S extends VersionedState>(
  options: StateObjectOptions<S>
): Effect.Effect<StateObject<S>, StartError, Dse | CheckpointStore | Scope.Scope> =>
  Effect.gen(function* () {
    const { runtime } = yield* Dse
    const stores = yield* CheckpointStore
    const store = runtime.mode === "ephemeral" ? undefined : yield* stores.open(options.name)
    const worker = new Worker(options.name, options.state, runtime, store)
    worker.kind = options.kind
    const scope = yield* Effect.scope
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    // Persists and scheduled seals belong to this worker: a crash (scope close) interrupts them.
    worker.fork = (effect) => {
      runFork(Effect.forkIn(effect, scope))
    }
    const listing = yield* Worker.listing(store)
    const registration = yield* runtime.registerFresh({
      name: options.name,
      worldLine: 0,
      committed: listing.base,
      // A checkpoint is valid in the last world-line the worker adopted durably (see StoredCheckpoints).
      checkpoints: listing.checkpoints.map((c) => ({
        worldLine: Math.max(c.worldLine, listing.worldLine),
        version: c.version,
        deps: c.deps
      })),
      ...(options.kind !== undefined ? { kind: options.kind } : {})
    })
    const newest = listing.checkpoints.length > 0 ? listing.checkpoints[listing.checkpoints.length - 1]!.version : listing.base
    const restoreTo =
      runtime.mode === "speculative"
        ? registration.recoveryCut !== undefined
          ? Cut.at(Cut.fromWire(registration.recoveryCut), registration.id as WorkerId)
          : listing.base
        : runtime.mode === "durable"
          ? newest
          : 0
    if (restoreTo < listing.base || restoreTo > newest) {
      return yield* new StoreError({
        worker: options.name,
        operation: "start",
        reason: `the cluster committed version ${restoreTo} of this worker, but its store holds versions ${listing.base}..${newest}: the data directory does not belong to this cluster or lost files`
      })
    }
    yield* worker.start(registration.id as WorkerId, registration.worldLine, restoreTo, restoreTo)
    runtime.attach(worker, registration)
    yield* Effect.addFinalizer(() => Effect.sync(() => runtime.detach(worker)))
    yield* runtime.catchUpWorker(worker)
    if (runtime.mode === "speculative") {
      // The periodic seal (SPEC 3.4) is armed by the first change after a seal: a version is sealed
      // at most one period after it became dirty, and an idle worker has no timer at all (a 10 ms
      // timer per idle worker cost each process ~5% of a core).
      const dirty = yield* Effect.makeLatch(false)
      worker.onDirty = () => dirty.unsafeOpen()
      yield* Effect.forkScoped(
        Effect.forever(
          dirty.await.pipe(
            Effect.zipRight(dirty.close),
            Effect.zipRight(Effect.sleep(runtime.options.sealPeriod)),
            Effect.zipRight(Effect.suspend(() => worker.periodicSeal()))
          )
        )
      )
    }
    return {
      name: options.name,
      get id() {
        return worker.id
      },
      state: options.state,
      action: (body) => worker.action(body),
      seal: worker.sealExclusive(),
      stats: () => worker.stats()
    } satisfies StateObject<S>
  })
