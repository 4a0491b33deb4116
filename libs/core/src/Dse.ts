/**
 * The speculation runtime of a process, and the boundary of the DSE domain (SPEC 3.3, 3.5, 3.6).
 *
 * `Dse.layer` connects a process to the coordinator and hosts its StateObjects. Speculative code
 * has `Dse` in its requirements; crossing the boundary is explicit:
 * - `Dse.sthread(effect)` runs in-domain work in a new speculative thread;
 * - `Dse.awaitCommit` waits until everything the current sthread depends on has committed;
 * - `Dse.external(effect)` runs an outside side effect only after that commit;
 * - transports use `Dse.serve` and `Dse.call` to carry headers on every message.
 */
import type { Scope } from "effect"
import { Context, Deferred, Duration, Effect, FiberRef, Layer, Runtime } from "effect"
import { CoordinatorClient } from "./CoordinatorProtocol"
import type { Cut } from "./Cut"
import { DependencySet } from "./DependencySet"
import type { CoordinatorUnavailable } from "./Errors"
import { FutureWorldLine, RolledBack, StaleWorldLine } from "./Errors"
import type { ExecutionMode } from "./ExecutionMode"
import type { Header } from "./Header"
import { allDependencies } from "./Header"
import type { WorldLine } from "./Ids"
import { Runtime as DseRuntime } from "./internal/runtime"
import type { WorkerStats } from "./internal/worker"
import { currentSthread, Sthread } from "./Sthread"

export interface DseOptions {
  /** Default "speculative". */
  readonly mode?: ExecutionMode
  /** How often a StateObject seals its current version. Default 10 ms. */
  readonly sealPeriod?: Duration.DurationInput
  /** How long a message of a world-line this process has not reached yet waits for it. Default 2 s. */
  readonly futureWorldLineWait?: Duration.DurationInput
  /** Where this process can be reached; sent to the coordinator for status and discovery. */
  readonly address?: string
}

export interface DseService {
  readonly mode: ExecutionMode
  readonly sealPeriod: Duration.Duration
  /** The world-line this process is in. */
  readonly worldLine: () => number
  /** The committed cut as this process knows it. */
  readonly cut: () => Cut
  readonly workers: () => ReadonlyArray<WorkerStats>
  /** Whether `worker` is a member this process knows of (from the cut it follows). */
  readonly isKnownWorker: (worker: number) => boolean
  /** Asks the coordinator for the current membership (for an id this process has not seen yet). */
  readonly refreshMembership: Effect.Effect<void, CoordinatorUnavailable>
  /**
   * Sets the address this process's workers register with (for status and discovery). Call it once
   * the server listens (its port may be ephemeral), before creating StateObjects.
   */
  readonly setAddress: (address: string) => void
  /** @internal */
  readonly runtime: DseRuntime
}

export class Dse extends Context.Tag("@dse/core/Dse")<Dse, DseService>() {}

export const make = (
  options: DseOptions = {}
): Effect.Effect<DseService, CoordinatorUnavailable, CoordinatorClient | Scope.Scope> =>
  Effect.gen(function* () {
    const coordinator = yield* CoordinatorClient
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const scope = yield* Effect.scope
    const runtime = new DseRuntime(
      {
        mode: options.mode ?? "speculative",
        sealPeriod: Duration.decode(options.sealPeriod ?? Duration.millis(10)),
        futureWorldLineWait: Duration.decode(options.futureWorldLineWait ?? Duration.seconds(2))
      },
      coordinator,
      (effect) => {
        runFork(Effect.forkIn(effect, scope))
      }
    )
    if (options.address !== undefined) runtime.address = options.address
    const first = yield* Deferred.make<void>()
    yield* runtime.follow(first)
    // The first event is the coordinator's current state: start from it.
    yield* Deferred.await(first)
    return {
      mode: runtime.mode,
      sealPeriod: runtime.options.sealPeriod,
      worldLine: () => runtime.worldLine,
      cut: () => runtime.currentCut(),
      workers: () => runtime.localWorkers().map((w) => w.stats()),
      isKnownWorker: (worker) => runtime.isKnownWorker(worker),
      refreshMembership: runtime.refreshMembership,
      setAddress: (address) => {
        runtime.address = address
      },
      runtime
    }
  })

export const layer = (options: DseOptions = {}): Layer.Layer<Dse, CoordinatorUnavailable, CoordinatorClient> =>
  Layer.scoped(Dse, make(options))

/** Runs `effect` in a new sthread of this process's world-line; returns the result and the sthread. */
export const sthread = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<readonly [A, Sthread], E, R | Dse> =>
  Effect.flatMap(Dse, (dse) => {
    const thread = new Sthread(dse.worldLine())
    return Effect.map(Effect.locally(effect, currentSthread, thread), (a) => [a, thread] as const)
  })

/** Waits until everything the current sthread depends on has committed (no-op outside an sthread). */
export const awaitCommit: Effect.Effect<void, RolledBack, Dse> = Effect.flatMap(Dse, (dse) =>
  Effect.flatMap(FiberRef.get(currentSthread), (thread) =>
    thread ? dse.runtime.awaitCommit(thread.deps, thread.worldLine) : Effect.void
  )
)

/** Waits until `thread`'s dependencies have committed. */
export const awaitCommitOf = (thread: Sthread): Effect.Effect<void, RolledBack, Dse> =>
  Effect.flatMap(Dse, (dse) => dse.runtime.awaitCommit(thread.deps, thread.worldLine))

/**
 * Fails with `RolledBack` as soon as this process learns that a failure lost something `thread`
 * depends on; never completes otherwise (once it has committed, nothing of it can be lost). Unlike
 * a commit wait it asks for no seal: it is for a reader that waits for something else meanwhile (a
 * retry, a poll), which must hear of the loss when its process does, not at its next call.
 */
export const awaitLoss = (thread: Sthread): Effect.Effect<never, RolledBack, Dse> =>
  Effect.flatMap(Dse, (dse) =>
    Effect.zipRight(dse.runtime.awaitCommit(thread.deps, thread.worldLine, { seal: false }), Effect.never)
  )

/**
 * Runs an outside side effect (an email, a payment, a reply to a client) only after everything
 * the current sthread depends on has committed (SPEC 3.6).
 */
export const external = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | RolledBack, R | Dse> =>
  Effect.zipRight(awaitCommit, effect)

/**
 * Server side of a message: runs `handler` in an sthread made from the incoming header.
 * Without a header the caller is outside the domain: the reply is released only after its
 * dependencies commit, and carries no header.
 *
 * A failure is an output too (it was decided on speculative state): pass `Effect.exit(handler)`
 * to get a reply header and, for an outside caller, the commit wait on failures as well.
 */
export const serve = <A, E, R>(
  header: Header | undefined,
  handler: Effect.Effect<A, E, R>
): Effect.Effect<readonly [A, Header | undefined], E | RolledBack | StaleWorldLine | FutureWorldLine, R | Dse> =>
  Effect.flatMap(Dse, ({ runtime }): Effect.Effect<
    readonly [A, Header | undefined],
    E | RolledBack | StaleWorldLine | FutureWorldLine,
    R
  > => {
    if (runtime.mode !== "speculative") {
      // No speculation to track; a caller's sthread (in process) must not leak into the handler.
      return Effect.map(Effect.locally(handler, currentSthread, undefined), (a) =>
        [a, header ? { worldLine: Math.max(1, runtime.worldLine) as WorldLine, deps: DependencySet.empty() } : undefined] as const
      )
    }
    if (header === undefined) {
      const thread = new Sthread(runtime.worldLine)
      return Effect.locally(
        Effect.flatMap(handler, (a) => Effect.as(runtime.awaitCommit(thread.deps, thread.worldLine), [a, undefined] as const)),
        currentSthread,
        thread
      )
    }
    return Effect.flatMap(admit(runtime, header), (incoming) => {
      const thread = new Sthread(runtime.worldLine, incoming.clone())
      return Effect.map(Effect.locally(handler, currentSthread, thread), (a) => {
        const reply = DependencySet.empty()
        for (const [w, v] of thread.deps) if (incoming.get(w) !== v) reply.add(w, v)
        return [a, { worldLine: thread.worldLine as WorldLine, deps: reply }] as const
      })
    })
  })

/** Checks an incoming header's world-line; returns its uncommitted dependencies. */
const admit = (
  runtime: DseRuntime,
  header: Header
): Effect.Effect<DependencySet, StaleWorldLine | FutureWorldLine> =>
  Effect.suspend(() => {
    const deps = allDependencies(header)
    if (header.worldLine === runtime.worldLine) return Effect.succeed(uncommitted(runtime, deps))
    if (header.worldLine < runtime.worldLine) {
      // A message whose dependencies have all committed carries no speculation, whatever its world-line.
      return runtime.isCoveredIn(deps, header.worldLine)
        ? Effect.succeed(DependencySet.empty())
        : Effect.fail(new StaleWorldLine({ received: header.worldLine, current: runtime.worldLine }))
    }
    return Effect.flatMap(runtime.awaitWorldLine(header.worldLine), (ok) =>
      ok ? admit(runtime, header) : Effect.fail(new FutureWorldLine({ received: header.worldLine, current: runtime.worldLine }))
    )
  })

const uncommitted = (runtime: DseRuntime, deps: DependencySet): DependencySet => {
  const out = DependencySet.empty()
  for (const [w, v] of deps) if (runtime.committedOf(w) < v) out.add(w, v)
  return out
}

/**
 * Client side of a message: tags it with the current sthread's header (none outside an sthread:
 * the call is then from outside the domain) and absorbs the reply's header. A reply that says the
 * sthread's world-line is stale fails the sthread with `RolledBack`.
 */
export const call = <A, E, R>(
  send: (header: Header | undefined) => Effect.Effect<readonly [A, Header | undefined], E, R>
): Effect.Effect<A, Exclude<E, StaleWorldLine> | RolledBack, R> =>
  Effect.flatMap(FiberRef.get(currentSthread), (thread) => {
    const header = thread?.header()
    return send(header).pipe(
      Effect.map(([a, reply]) => {
        if (thread && reply) thread.absorb(reply)
        return a
      }),
      Effect.catchIf(
        (e): e is Extract<E, StaleWorldLine> => e instanceof StaleWorldLine,
        (e) => Effect.fail(new RolledBack({ worldLine: e.current, reason: `stale world-line ${e.received}` }))
      )
    ) as Effect.Effect<A, Exclude<E, StaleWorldLine> | RolledBack, R>
  })
