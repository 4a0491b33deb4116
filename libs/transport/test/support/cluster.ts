/**
 * A cluster in the test process: the real coordinator (libs/coordinator) on an in-memory cluster
 * state, and any number of "processes", each with its own Dse runtime (its own view of the cut and
 * world-line) over an in-memory checkpoint store.
 *
 * libs/coordinator and libs/storage are imported by path: they are not dependencies of
 * @dse/transport (see README, "Tests").
 */
import { CheckpointStore, CoordinatorClient, Dse } from "@dse/core"
import type { Context, Duration, Scope } from "effect"
import { Effect, Layer, Schedule } from "effect"
import { Coordinator } from "@dse/coordinator"
import { MemoryCheckpointStore, MemoryClusterStateStore } from "@dse/storage"

export type ProcessContext = Context.Context<Dse.Dse | CoordinatorClient | CheckpointStore>

export interface ProcessOptions extends Dse.DseOptions {
  /** How long each persist of this process stays in flight. Default 0. */
  readonly persistDelay?: Duration.DurationInput
}

export const makeCluster = Effect.gen(function* () {
  const clusterState = yield* MemoryClusterStateStore.make
  const coordinator = yield* Effect.provide(Coordinator.make(), clusterState.layer)
  const client = Coordinator.toClient(coordinator)

  /** A new process: its own Dse runtime and checkpoint store, alive until the scope closes. */
  const spawn = (options: ProcessOptions = {}): Effect.Effect<ProcessContext, unknown, Scope.Scope> =>
    Effect.gen(function* () {
      const { persistDelay, ...dse } = options
      const store = yield* MemoryCheckpointStore.make(persistDelay !== undefined ? { persistDelay } : {})
      return yield* Layer.build(
        Layer.provideMerge(Dse.layer(dse), Layer.merge(Layer.succeed(CoordinatorClient, client), store.layer))
      )
    })

  /** The committed version of `worker` as the coordinator sees it. */
  const committed = (worker: number) =>
    Effect.map(coordinator.status, (status) => status.workers.find((w) => w.id === worker)?.committed ?? 0)

  return { coordinator, spawn, committed }
})

/** Waits (polling, 5 s at most) until `check` holds. */
export const eventually = (check: Effect.Effect<boolean>): Effect.Effect<void> =>
  Effect.flatMap(check, (ok) => (ok ? Effect.void : Effect.fail("not yet" as const))).pipe(
    Effect.retry({ schedule: Schedule.spaced("10 millis"), times: 500 }),
    Effect.orDie
  )
