/**
 * Batched cut pushes (CoordinatorOptions.cutPushInterval): a cut change nobody waits for waits
 * for the interval and goes out once with the latest cut; a change that commits a version a
 * commit waiter asked for (requestSeal) goes out at once, whichever of the report and the request
 * arrives first.
 */
import type { CheckpointReport } from "@dse/core"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, TestClock } from "effect"
import { cutEvent, inbox, request, start } from "./support/harness"
import * as Store from "./support/MemoryClusterStateStore"

const report = (worker: number, version: number, prev: number, deps: ReadonlyArray<readonly [number, number]> = []): CheckpointReport => ({
  worker,
  worldLine: 1,
  version,
  prev,
  deps
})

const cuts = (events: ReadonlyArray<{ readonly _tag: string }>) => events.filter((e) => e._tag === "CutAdvanced")

/** Members a, b (ids 1, 2) on a coordinator that batches pushes over 50 ms. */
const batching = Effect.gen(function* () {
  const coordinator = yield* start(Store.make(), { cutPushInterval: Duration.millis(50) })
  for (const name of ["a", "b"]) yield* coordinator.register(request(name))
  const events = yield* inbox(coordinator)
  expect(yield* events.drain).toEqual([cutEvent(1, { 1: 0, 2: 0 })])
  return { coordinator, events }
})

describe("batched cut pushes", () => {
  it.scoped("cut changes nobody waits for go out once per interval, with the latest cut", () =>
    Effect.gen(function* () {
      const { coordinator, events } = yield* batching
      yield* coordinator.report(report(1, 1, 0))
      yield* coordinator.report(report(2, 1, 0))
      yield* coordinator.report(report(1, 2, 1))
      expect(yield* events.drain).toEqual([])
      // The status is live: only the push is batched.
      expect((yield* coordinator.status).workers.map((w) => w.committed)).toEqual([2, 1])
      yield* TestClock.adjust(Duration.millis(49))
      expect(yield* events.drain).toEqual([])
      yield* TestClock.adjust(Duration.millis(1))
      expect(yield* events.drain).toEqual([cutEvent(1, { 1: 2, 2: 1 })])
      // Nothing moved since: the next interval pushes nothing.
      yield* TestClock.adjust(Duration.millis(100))
      expect(yield* events.drain).toEqual([])
    })
  )

  it.scoped("a report that commits an awaited version is pushed at once", () =>
    Effect.gen(function* () {
      const { coordinator, events } = yield* batching
      yield* coordinator.requestSeal([[1, 2]])
      yield* coordinator.report(report(1, 1, 0))
      // Version 1 is not what anyone waits for: batched.
      expect(cuts(yield* events.drain)).toEqual([])
      yield* coordinator.report(report(1, 2, 1))
      expect(cuts(yield* events.drain)).toEqual([cutEvent(1, { 1: 2, 2: 0 })])
    })
  )

  it.scoped("an awaited version committed by a report whose push was batched is pushed when the request arrives", () =>
    Effect.gen(function* () {
      const { coordinator, events } = yield* batching
      yield* coordinator.report(report(2, 1, 0))
      expect(yield* events.drain).toEqual([])
      yield* coordinator.requestSeal([[2, 1]])
      expect(cuts(yield* events.drain)).toEqual([cutEvent(1, { 1: 0, 2: 1 })])
    })
  )

  it.scoped("an awaited version that needs another worker's version is pushed when that one commits it", () =>
    Effect.gen(function* () {
      const { coordinator, events } = yield* batching
      yield* coordinator.requestSeal([[1, 1]])
      yield* coordinator.report(report(1, 1, 0, [[2, 1]]))
      // Persisted, not committed: its dependency on b is not persisted yet.
      expect(cuts(yield* events.drain)).toEqual([])
      yield* coordinator.report(report(2, 1, 0))
      expect(cuts(yield* events.drain)).toEqual([cutEvent(1, { 1: 1, 2: 1 })])
    })
  )

  it.scoped("with interval 0 every change goes out at once", () =>
    Effect.gen(function* () {
      const coordinator = yield* start(Store.make(), { cutPushInterval: 0 })
      yield* coordinator.register(request("a"))
      const events = yield* inbox(coordinator)
      yield* coordinator.report(report(1, 1, 0))
      yield* coordinator.report(report(1, 2, 1))
      expect(yield* events.drain).toEqual([cutEvent(1, { 1: 0 }), cutEvent(1, { 1: 1 }), cutEvent(1, { 1: 2 })])
    })
  )
})
