/**
 * Batched cut pushes (CoordinatorOptions.cutPushInterval): a cut change nobody waits for waits
 * for the interval and goes out once with the latest cut; a change that commits a version a
 * commit waiter asked for (requestSeal) goes out at once, whichever of the report and the request
 * arrives first. Such a push, and seal requests, go only to the subscriptions they concern when
 * the waiter and the workers' processes named theirs.
 */
import type { CheckpointReport } from "@dse/core"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, TestClock } from "effect"
import { SealRequested } from "@dse/core"
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

  /** Members a (id 1) in process p and b (id 2) in process q, a third subscriber r, and an anonymous one. */
  const routed = Effect.gen(function* () {
    const coordinator = yield* start(Store.make(), { cutPushInterval: Duration.millis(50) })
    yield* coordinator.register(request("a", { subscriber: "p" }))
    yield* coordinator.register(request("b", { subscriber: "q" }))
    const inboxes = { p: yield* inbox(coordinator, "p"), q: yield* inbox(coordinator, "q"), r: yield* inbox(coordinator, "r"), anyone: yield* inbox(coordinator) }
    for (const events of Object.values(inboxes)) expect(yield* events.drain).toEqual([cutEvent(1, { 1: 0, 2: 0 })])
    return { coordinator, ...inboxes }
  })

  it.scoped("a cut a named waiter needs goes at once to it and to the process of the worker it commits, to the others with the next batch", () =>
    Effect.gen(function* () {
      const { coordinator, p, q, r, anyone } = yield* routed
      yield* coordinator.requestSeal([[2, 1]], "p")
      yield* coordinator.report(report(2, 1, 0))
      // q answers committed reads of b: it hears as soon as the waiter does.
      for (const told of [p, q]) expect(cuts(yield* told.drain)).toEqual([cutEvent(1, { 1: 0, 2: 1 })])
      for (const other of [r, anyone]) expect(cuts(yield* other.drain)).toEqual([])
      yield* TestClock.adjust(Duration.millis(50))
      for (const every of [p, q, r, anyone]) expect(cuts(yield* every.drain)).toEqual([cutEvent(1, { 1: 0, 2: 1 })])
    })
  )

  it.scoped("a named waiter whose version committed before it asked hears at once, with that worker's process only", () =>
    Effect.gen(function* () {
      const { coordinator, p, q, r } = yield* routed
      yield* coordinator.report(report(1, 1, 0))
      yield* coordinator.requestSeal([[1, 1]], "r")
      for (const told of [r, p]) expect(cuts(yield* told.drain)).toEqual([cutEvent(1, { 1: 1, 2: 0 })])
      expect(cuts(yield* q.drain)).toEqual([])
    })
  )

  it.scoped("a cut that commits a worker whose process named no subscription goes to everyone at once", () =>
    Effect.gen(function* () {
      const { coordinator, p, q, r, anyone } = yield* routed
      yield* coordinator.register(request("c"))
      yield* TestClock.adjust(Duration.millis(50))
      for (const every of [p, q, r, anyone]) yield* every.drain
      yield* coordinator.requestSeal([[3, 1]], "p")
      yield* coordinator.report(report(3, 1, 0))
      for (const every of [p, q, r, anyone]) expect(cuts(yield* every.drain)).toEqual([cutEvent(1, { 1: 0, 2: 0, 3: 1 })])
    })
  )

  it.scoped("seal requests go to the processes of the workers they name; to everyone when one of them named none", () =>
    Effect.gen(function* () {
      const { coordinator, p, q, r, anyone } = yield* routed
      yield* coordinator.requestSeal([[2, 3]], "p")
      const seals = (events: ReadonlyArray<{ readonly _tag: string }>) => events.filter((e) => e._tag === "SealRequested")
      expect(seals(yield* q.drain)).toEqual([new SealRequested({ deps: [[2, 3]] })])
      for (const other of [p, r, anyone]) expect(seals(yield* other.drain)).toEqual([])
      // c registered without a subscription: a request that names it goes to everyone.
      yield* coordinator.register(request("c"))
      yield* coordinator.requestSeal([[3, 1]], "p")
      for (const every of [p, q, r, anyone]) expect(seals(yield* every.drain)).toEqual([new SealRequested({ deps: [[3, 1]] })])
    })
  )

  it.scoped("a waiter that names no subscription gets the cut at once, with everyone", () =>
    Effect.gen(function* () {
      const { coordinator, p, q, r, anyone } = yield* routed
      yield* coordinator.requestSeal([[1, 1]])
      yield* coordinator.report(report(1, 1, 0))
      for (const every of [p, q, r, anyone]) expect(cuts(yield* every.drain)).toEqual([cutEvent(1, { 1: 1, 2: 0 })])
    })
  )
})
