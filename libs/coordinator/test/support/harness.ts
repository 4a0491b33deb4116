/** Helpers to run coordinators on a MemoryClusterStateStore and watch their events. */
import { ClusterStateStore, CutAdvanced, workerId } from "@dse/core"
import type { CoordinatorEvent, Cut, RegisterRequest, StoredCheckpointMeta } from "@dse/core"
import { Chunk, Deferred, Effect, Exit, Queue, Scope, Stream } from "effect"
import { Coordinator } from "../../src/index"
import type { CoordinatorOptions, CoordinatorService } from "../../src/index"
import type { MemoryClusterStateStore } from "./MemoryClusterStateStore"

/** A coordinator in its own scope, so a test can crash it and build another on the same store. */
export const start = (store: MemoryClusterStateStore, options: CoordinatorOptions = {}) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const coordinator = yield* Coordinator.make(options).pipe(
      Effect.provideService(ClusterStateStore, store.service),
      Scope.extend(scope),
      Effect.orDie
    )
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    return coordinator
  })

/** Lets every other fiber run until nothing moves (all the work here is in memory). */
export const settle = Effect.gen(function* () {
  for (let i = 0; i < 50; i++) yield* Effect.yieldNow()
})

export interface Inbox {
  /** The next event (waits). */
  readonly take: Effect.Effect<CoordinatorEvent>
  /** Every event received so far, after letting the coordinator settle. */
  readonly drain: Effect.Effect<Array<CoordinatorEvent>>
  /** Completes when the stream ends. */
  readonly ended: Deferred.Deferred<void>
}

/** Subscribes now (as `subscriber`, if given); the first event is the baseline CutAdvanced. */
export const inbox = (coordinator: CoordinatorService, subscriber?: string) =>
  Effect.gen(function* () {
    const stream = yield* Effect.orDie(coordinator.subscribeAs(subscriber))
    const queue = yield* Queue.unbounded<CoordinatorEvent>()
    const ended = yield* Deferred.make<void>()
    yield* Effect.forkScoped(
      Stream.runForEach(stream, (e) => Queue.offer(queue, e)).pipe(Effect.ensuring(Deferred.succeed(ended, undefined)))
    )
    const inbox: Inbox = {
      take: Queue.take(queue),
      drain: Effect.zipRight(settle, Effect.map(Queue.takeAll(queue), Chunk.toArray)),
      ended
    }
    return inbox
  })

export const request = (
  name: string,
  options: {
    readonly worldLine?: number
    readonly committed?: number
    readonly checkpoints?: ReadonlyArray<StoredCheckpointMeta>
    readonly address?: string
    readonly pid?: number
    readonly kind?: string
    readonly subscriber?: string
  } = {}
): RegisterRequest => ({
  name,
  worldLine: options.worldLine ?? 0,
  committed: options.committed ?? 0,
  checkpoints: options.checkpoints ?? [],
  ...(options.address !== undefined ? { address: options.address } : {}),
  ...(options.pid !== undefined ? { pid: options.pid } : {}),
  ...(options.kind !== undefined ? { kind: options.kind } : {}),
  ...(options.subscriber !== undefined ? { subscriber: options.subscriber } : {})
})

/** A wire cut as a plain object by id, for readable assertions. */
export const byId = (cut: Cut.CutWire | Cut.Cut): Record<number, number> => {
  const out: Record<number, number> = {}
  for (const [w, v] of cut) out[w] = v
  return out
}

export const cutEvent = (worldLine: number, cut: Record<number, number>) =>
  new CutAdvanced({
    worldLine,
    cut: Object.entries(cut).map(([w, v]) => [workerId(Number(w)), v] as const)
  })

export const tags = (events: ReadonlyArray<CoordinatorEvent>) => events.map((e) => e._tag)
