/**
 * A process that hosts several workers (a broker process hosts one per partition) crashes and
 * restarts: each worker's registration opens a world-line of its own, and the events of those
 * changes can reach the process before the workers that started in the older ones are attached.
 * Every worker must still end in the process's world-line, and serve its sthreads.
 */
import { describe, expect, it } from "@effect/vitest"
import { CheckpointStore, Dse, StateObject, Sthread, VersionedMap, VersionedState } from "@dse/core"
import { Effect, Fiber, TestClock } from "effect"
import { InProcessCluster } from "../src/index"

const PARTITIONS = 4

const drive = <A, E>(fiber: Fiber.RuntimeFiber<A, E>, stepMs = 5, maxSteps = 400) =>
  Effect.gen(function* () {
    for (let i = 0; i < maxSteps && fiber.unsafePoll() === null; i++) yield* TestClock.adjust(`${stepMs} millis`)
    return yield* Fiber.join(fiber)
  })

/**
 * The process's store, with restores that take `restoreDelay` of the partition's index: the workers
 * are attached one after another, well after the world-line changes their registrations opened.
 */
const slowRestores = <A, E, R>(program: Effect.Effect<A, E, R>) =>
  Effect.flatMap(CheckpointStore, (stores) =>
    Effect.provideService(program, CheckpointStore, {
      open: (worker) =>
        Effect.map(stores.open(worker), (store) => ({
          ...store,
          restore: (version) =>
            Effect.zipRight(Effect.sleep(`${5 * (PARTITIONS - Number(worker.split("-")[1]))} millis`), store.restore(version))
        }))
    })
  )

/** Runs `effect` while moving the test clock (the coordinator's latency is on that clock). */
const driven = <A, E>(effect: Effect.Effect<A, E>) => Effect.flatMap(Effect.fork(effect), (fiber) => drive(fiber, 1))

const makeState = () => VersionedState.struct({ counts: VersionedMap.make<number>() })
type PartitionObject = StateObject.StateObject<ReturnType<typeof makeState>>

describe("a process with several workers", () => {
  it.scoped("after a crash and restart, every worker reaches the process's world-line and serves its sthreads", () =>
    Effect.gen(function* () {
      const cluster = yield* InProcessCluster.make({ persistDelay: "1 millis", coordinatorLatency: "1 millis" })
      const live: Array<PartitionObject> = []
      const broker = yield* driven(cluster.spawn(
        "broker",
        slowRestores(Effect.forEach(
          Array.from({ length: PARTITIONS }, (_, p) => p),
          (p) =>
            Effect.map(StateObject.make({ name: `part-${p}`, state: makeState(), kind: "partition" }), (so) => {
              live[p] = so
            }),
          { concurrency: "unbounded", discard: true }
        ))
      ))
      const increment = (so: PartitionObject) => so.action((s) => Effect.sync(() => s.counts.set("n", (s.counts.get("n") ?? 0) + 1)))
      const incrementAll = Effect.forEach(live, (so) => Dse.sthread(increment(so)), { concurrency: "unbounded" })
      const commitAll = (threads: ReadonlyArray<readonly [unknown, Sthread.Sthread]>) =>
        Effect.forEach(threads, ([, thread]) => Dse.awaitCommitOf(thread), { discard: true })

      yield* drive(yield* Effect.fork(Effect.provide(Effect.flatMap(incrementAll, commitAll), broker.context())))

      // Work that has not committed when the process dies: each worker's restart changes the world-line.
      yield* drive(yield* Effect.fork(Effect.provide(incrementAll, broker.context())), 1)
      yield* broker.crash
      yield* TestClock.adjust("3 millis")
      yield* drive(yield* Effect.fork(broker.restart), 1)
      yield* TestClock.adjust("50 millis")

      // Every worker is in the process's world-line, and an sthread of that world-line runs on each.
      const dse = yield* Effect.provide(Dse.Dse, broker.context())
      expect(live.map((so) => so.stats().worldLine)).toEqual(live.map(() => dse.worldLine()))
      expect(dse.worldLine()).toBeGreaterThan(1)
      const second = yield* Effect.fork(Effect.provide(Effect.flatMap(incrementAll, commitAll), broker.context()))
      yield* drive(second)
      expect(live.map((so) => so.state.counts.get("n"))).toEqual(live.map(() => 2))
    })
  )
})
