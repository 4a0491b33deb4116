/**
 * The Coordinator service: membership, reports and cut events, seal requests, crash restarts and
 * world-line changes (SPEC 3.5, 3.7), each rule in its own test.
 */
import { CoordinatorClient, WorldLineChanged } from "@dse/core"
import type { SealRequested } from "@dse/core"
import type { CheckpointReport, CoordinatorEvent } from "@dse/core"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Exit, Fiber, Layer, Option, Stream } from "effect"
import { Coordinator } from "../src/Coordinator"
import { byId, cutEvent, inbox, request, settle, start, tags } from "./support/harness"
import * as Store from "./support/MemoryClusterStateStore"

/** A report of `version`, whose worker's previous checkpoint is `prev`. */
const report = (
  worker: number,
  version: number,
  prev: number,
  deps: ReadonlyArray<readonly [number, number]> = [],
  worldLine = 1
): CheckpointReport => ({ worker, worldLine, version, prev, deps })

const seals = (events: ReadonlyArray<CoordinatorEvent>) =>
  events.filter((e): e is SealRequested => e._tag === "SealRequested").map((e) => e.deps)

/** A coordinator with members a, b, c (ids 1, 2, 3) on a fresh store. */
const abc = Effect.gen(function* () {
  const store = Store.make()
  const coordinator = yield* start(store)
  for (const name of ["a", "b", "c"]) yield* coordinator.register(request(name))
  return { store, coordinator }
})

describe("membership", () => {
  it.scoped("new names get the next id, starting at 1, and a fresh start of a new member changes no world-line", () =>
    Effect.gen(function* () {
      const store = Store.make()
      const coordinator = yield* start(store)
      const a = yield* coordinator.register(request("a"))
      const b = yield* coordinator.register(request("b", { address: "127.0.0.1:4000", pid: 42, kind: "kv" }))
      expect(a).toEqual({ id: 1, worldLine: 1, cut: [[1, 0]] })
      expect(b).toEqual({ id: 2, worldLine: 1, cut: [[1, 0], [2, 0]] })
      expect(store.members).toEqual([
        { id: 1, name: "a" },
        { id: 2, name: "b" }
      ])
      expect(store.history).toEqual([])
      const status = yield* coordinator.status
      expect(status.workers[1]).toEqual({
        id: 2,
        name: "b",
        committed: 0,
        persisted: 0,
        pending: 0,
        registered: true,
        address: "127.0.0.1:4000",
        pid: 42,
        kind: "kv"
      })
    })
  )

  it.scoped("member ids are stable across a coordinator restart", () =>
    Effect.gen(function* () {
      const store = Store.make()
      const first = yield* start(store)
      for (const name of ["a", "b", "c"]) yield* first.register(request(name))
      yield* first.shutdown
      const second = yield* start(store)
      expect((yield* second.register(request("c", { worldLine: 1 }))).id).toBe(3)
      expect((yield* second.register(request("d"))).id).toBe(4)
      expect((yield* second.register(request("a", { worldLine: 1 }))).id).toBe(1)
      expect((yield* second.register(request("b", { worldLine: 1 }))).id).toBe(2)
      expect(store.members.map((m) => `${m.id}:${m.name}`)).toEqual(["1:a", "2:b", "3:c", "4:d"])
    })
  )

  it.scoped("a new member's id is persisted before it is handed out", () =>
    Effect.gen(function* () {
      const store = Store.make()
      const coordinator = yield* start(store)
      const gate = yield* Deferred.make<void>()
      store.before.set("addMember", Deferred.await(gate))
      const fiber = yield* Effect.fork(coordinator.register(request("a")))
      yield* settle
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      expect(store.members).toEqual([])
      yield* Deferred.succeed(gate, undefined)
      expect((yield* Fiber.join(fiber)).id).toBe(1)
      expect(store.members).toEqual([{ id: 1, name: "a" }])
    })
  )

  it.scoped("a member write that fails hands out no id", () =>
    Effect.gen(function* () {
      const store = Store.make()
      const coordinator = yield* start(store)
      store.before.set("addMember", Effect.fail(Store.failure("addMember")))
      const failed = yield* Effect.exit(coordinator.register(request("a")))
      expect(Exit.isFailure(failed) && failed.cause._tag === "Fail" && failed.cause.error._tag).toBe("CoordinatorUnavailable")
      expect((yield* coordinator.status).workers).toEqual([])
      expect((yield* coordinator.register(request("a"))).id).toBe(1)
    })
  )

  it.scoped("an invalid worker name is refused", () =>
    Effect.gen(function* () {
      const { coordinator } = yield* abc
      const error = yield* Effect.flip(coordinator.register(request("no spaces allowed")))
      expect(error._tag).toBe("CoordinatorUnavailable")
    })
  )

  it.scoped("a world-line newer than the coordinator's is refused with FutureWorldLine", () =>
    Effect.gen(function* () {
      const { coordinator } = yield* abc
      const error = yield* Effect.flip(coordinator.register(request("a", { worldLine: 2 })))
      expect(error).toMatchObject({ _tag: "FutureWorldLine", received: 2, current: 1 })
    })
  )
})

describe("reports and the cut", () => {
  it.scoped("reports advance the cut and publish one CutAdvanced per change", () =>
    Effect.gen(function* () {
      const { coordinator } = yield* abc
      const events = yield* inbox(coordinator)
      yield* coordinator.report(report(1, 1, 0))
      yield* coordinator.report(report(1, 2, 1, [[2, 1]]))
      yield* coordinator.report(report(3, 1, 0, [[1, 3]]))
      yield* coordinator.report(report(2, 1, 0))
      expect(yield* events.drain).toEqual([
        cutEvent(1, { 1: 0, 2: 0, 3: 0 }),
        cutEvent(1, { 1: 1, 2: 0, 3: 0 }),
        cutEvent(1, { 1: 2, 2: 1, 3: 0 })
      ])
      const status = yield* coordinator.status
      expect(status.workers.map((w) => [w.committed, w.persisted, w.pending])).toEqual([
        [2, 2, 0],
        [1, 1, 0],
        [0, 1, 1]
      ])
    })
  )

  it.scoped("reports of another world-line or of a non-member are ignored", () =>
    Effect.gen(function* () {
      const { coordinator } = yield* abc
      yield* coordinator.register(request("a", { committed: 0 })) // crash restart: world-line 2
      const events = yield* inbox(coordinator)
      yield* coordinator.report(report(2, 1, 0, [], 1)) // stale
      yield* coordinator.report(report(2, 1, 0, [], 3)) // not reached
      yield* coordinator.report(report(9, 1, 0, [], 2)) // not a member
      expect(yield* events.drain).toEqual([cutEvent(2, { 1: 0, 2: 0, 3: 0 })])
      expect((yield* coordinator.status).workers.map((w) => w.persisted)).toEqual([0, 0, 0])
      yield* coordinator.report(report(2, 1, 0, [], 2))
      expect(yield* events.drain).toEqual([cutEvent(2, { 1: 0, 2: 1, 3: 0 })])
    })
  )

  it.scoped("every subscriber gets every event, starting with the current cut", () =>
    Effect.gen(function* () {
      const { coordinator } = yield* abc
      const early = yield* inbox(coordinator)
      yield* coordinator.report(report(1, 1, 0))
      const late = yield* inbox(coordinator)
      yield* coordinator.report(report(2, 1, 0))
      const a = yield* early.drain
      const b = yield* late.drain
      expect(a).toEqual([cutEvent(1, { 1: 0, 2: 0, 3: 0 }), cutEvent(1, { 1: 1, 2: 0, 3: 0 }), cutEvent(1, { 1: 1, 2: 1, 3: 0 })])
      expect(b).toEqual(a.slice(1))
    })
  )

  it.scoped("the events stream subscribes when run, starts with a baseline and ends at shutdown", () =>
    Effect.gen(function* () {
      const { coordinator } = yield* abc
      yield* coordinator.report(report(1, 1, 0))
      const fiber = yield* Effect.fork(Stream.runCollect(coordinator.events))
      yield* settle
      yield* coordinator.report(report(2, 1, 0))
      yield* settle
      yield* coordinator.shutdown
      const events = Chunk.toArray(yield* Fiber.join(fiber))
      expect(events).toEqual([cutEvent(1, { 1: 1, 2: 0, 3: 0 }), cutEvent(1, { 1: 1, 2: 1, 3: 0 })])
      expect((yield* Effect.flip(coordinator.status))._tag).toBe("CoordinatorUnavailable")
      expect((yield* Effect.flip(coordinator.register(request("d"))))._tag).toBe("CoordinatorUnavailable")
    })
  )
})

describe("gaps: a report counts only when its predecessor is in the graph", () => {
  /** Committed versions by id. */
  const cutOf = (coordinator: { readonly status: Effect.Effect<{ readonly cut: ReadonlyArray<readonly [number, number]> }, unknown> }) =>
    Effect.map(Effect.orDie(coordinator.status), (s) => byId(s.cut))

  it.scoped("a lost report blocks commits of later versions of that worker", () =>
    Effect.gen(function* () {
      const { coordinator } = yield* abc
      // b:1 needs a:1, which was never persisted; its report is lost. b:2 and b:3 arrive.
      yield* coordinator.report(report(2, 2, 1))
      yield* coordinator.report(report(2, 3, 2))
      expect(yield* cutOf(coordinator)).toEqual({ 1: 0, 2: 0, 3: 0 })
      const b = (yield* coordinator.status).workers[1]!
      expect([b.committed, b.persisted, b.pending]).toEqual([0, 3, 2])
      // Others go on committing; b stays at 0.
      yield* coordinator.report(report(3, 1, 0))
      expect(yield* cutOf(coordinator)).toEqual({ 1: 0, 2: 0, 3: 1 })
    })
  )

  it.scoped("a late report fills the gap and everything commits", () =>
    Effect.gen(function* () {
      const { coordinator } = yield* abc
      const events = yield* inbox(coordinator)
      yield* coordinator.report(report(2, 2, 1))
      yield* coordinator.report(report(2, 3, 2))
      yield* coordinator.report(report(2, 1, 0, [[1, 1]]))
      expect(yield* cutOf(coordinator)).toEqual({ 1: 0, 2: 0, 3: 0 }) // b:1 needs a:1
      yield* coordinator.report(report(1, 1, 0))
      expect(yield* events.drain).toEqual([cutEvent(1, { 1: 0, 2: 0, 3: 0 }), cutEvent(1, { 1: 1, 2: 3, 3: 0 })])
      expect((yield* coordinator.status).workers[1]!.pending).toBe(0)
    })
  )

  it.scoped("a late report without unmet dependencies commits its held successors at once", () =>
    Effect.gen(function* () {
      const { coordinator } = yield* abc
      const events = yield* inbox(coordinator)
      yield* coordinator.report(report(2, 3, 2))
      yield* coordinator.report(report(2, 2, 1))
      yield* coordinator.report(report(2, 1, 0))
      expect(yield* events.drain).toEqual([cutEvent(1, { 1: 0, 2: 0, 3: 0 }), cutEvent(1, { 1: 0, 2: 3, 3: 0 })])
    })
  )

  it.scoped("a live re-attach with its checkpoints fills a gap", () =>
    Effect.gen(function* () {
      const { coordinator } = yield* abc
      yield* coordinator.report(report(2, 2, 1))
      yield* coordinator.report(report(2, 3, 2))
      // b re-attaches (its connection broke): its chain above what it knows committed.
      yield* coordinator.register(
        request("b", {
          worldLine: 1,
          committed: 0,
          checkpoints: [
            { worldLine: 1, version: 1, deps: [[1, 1]] },
            { worldLine: 1, version: 2, deps: [] }
          ]
        })
      )
      expect(yield* cutOf(coordinator)).toEqual({ 1: 0, 2: 0, 3: 0 }) // b:1 still needs a:1
      expect((yield* coordinator.status).workers[1]!.pending).toBe(3) // b:3 was connected by b:2
      yield* coordinator.report(report(1, 1, 0))
      expect(yield* cutOf(coordinator)).toEqual({ 1: 1, 2: 3, 3: 0 })
    })
  )

  it.scoped("a crash restart's checkpoints are a chain: one of an older world-line breaks it", () =>
    Effect.gen(function* () {
      const { coordinator } = yield* abc
      yield* coordinator.register(request("c")) // world-line 2
      // b:1 is of world-line 1 (not valid now), b:2 of world-line 2: b:2 follows a version the
      // coordinator cannot count, so it must not commit.
      const r = yield* coordinator.register(
        request("b", {
          checkpoints: [
            { worldLine: 1, version: 1, deps: [] },
            { worldLine: 2, version: 2, deps: [] }
          ]
        })
      )
      expect(byId(r.recoveryCut!)).toEqual({ 1: 0, 2: 0, 3: 0 })
    })
  )

  it.scoped("a version jump with the right prev still commits (Lamport)", () =>
    Effect.gen(function* () {
      const { coordinator } = yield* abc
      yield* coordinator.report(report(2, 4, 0)) // first checkpoint, numbered 4
      expect(yield* cutOf(coordinator)).toEqual({ 1: 0, 2: 4, 3: 0 })
      yield* coordinator.report(report(2, 9, 4, [[1, 2]]))
      yield* coordinator.report(report(1, 2, 0))
      expect(yield* cutOf(coordinator)).toEqual({ 1: 2, 2: 9, 3: 0 })
    })
  )

  it.scoped("duplicate reports are idempotent, held or accepted", () =>
    Effect.gen(function* () {
      const { coordinator } = yield* abc
      const events = yield* inbox(coordinator)
      yield* coordinator.report(report(2, 3, 2))
      yield* coordinator.report(report(2, 3, 2))
      yield* coordinator.report(report(2, 1, 0, [[1, 1]]))
      yield* coordinator.report(report(2, 1, 0, [[1, 1]]))
      expect((yield* coordinator.status).workers[1]!.pending).toBe(2)
      yield* coordinator.report(report(2, 2, 1))
      yield* coordinator.report(report(2, 2, 1))
      expect((yield* coordinator.status).workers[1]!.pending).toBe(3)
      yield* coordinator.report(report(1, 1, 0))
      yield* coordinator.report(report(1, 1, 0))
      yield* coordinator.report(report(2, 3, 2))
      expect(yield* events.drain).toEqual([cutEvent(1, { 1: 0, 2: 0, 3: 0 }), cutEvent(1, { 1: 1, 2: 3, 3: 0 })])
      expect((yield* coordinator.status).workers.map((w) => w.pending)).toEqual([0, 0, 0])
    })
  )

  it.scoped("held reports are dropped at a world-line change", () =>
    Effect.gen(function* () {
      const { coordinator } = yield* abc
      yield* coordinator.report(report(2, 2, 1))
      yield* coordinator.register(request("c")) // world-line 2; b's held b:2 is of world-line 1
      expect((yield* coordinator.status).workers[1]!.pending).toBe(0)
      // In world-line 2, b:1 fills the old gap, but the held b:2 is gone: only b:1 commits.
      yield* coordinator.report(report(2, 1, 0, [], 2))
      expect(yield* cutOf(coordinator)).toEqual({ 1: 0, 2: 1, 3: 0 })
      expect((yield* coordinator.status).workers[1]!.pending).toBe(0)
    })
  )

  it.scoped("a committed hint connects held reports", () =>
    Effect.gen(function* () {
      const { coordinator, store } = yield* abc
      yield* coordinator.report(report(2, 1, 0))
      yield* coordinator.shutdown
      const next = yield* start(store)
      // b's next report reaches the new coordinator before b has re-attached: held.
      yield* next.report(report(2, 2, 1))
      expect((yield* next.status).workers[1]!.pending).toBe(1)
      yield* next.register(request("a", { worldLine: 1 }))
      yield* next.register(request("c", { worldLine: 1 }))
      yield* next.register(request("b", { worldLine: 1, committed: 1 }))
      expect(yield* cutOf(next)).toEqual({ 1: 0, 2: 2, 3: 0 })
    })
  )

  it.scoped("a wanted version connected by a late report gets its unpersisted dependencies sealed", () =>
    Effect.gen(function* () {
      const { coordinator } = yield* abc
      const events = yield* inbox(coordinator)
      yield* coordinator.requestSeal([[2, 2]])
      yield* coordinator.report(report(2, 2, 1, [[3, 4]])) // held: nothing asked yet
      expect(seals(yield* events.drain)).toEqual([[[2, 2]]])
      yield* coordinator.report(report(2, 1, 0, [[1, 1]]))
      expect(seals(yield* events.drain)).toEqual([[[1, 1], [3, 4]]])
    })
  )
})

describe("seal requests", () => {
  it.scoped("requestSeal asks, in one batch, only for versions not reported as persisted", () =>
    Effect.gen(function* () {
      const { coordinator } = yield* abc
      yield* coordinator.report(report(1, 1, 0))
      yield* coordinator.report(report(1, 2, 1, [[3, 9]]))
      const events = yield* inbox(coordinator)
      yield* coordinator.requestSeal([
        [1, 1], // committed
        [2, 3],
        [3, 1]
      ])
      yield* coordinator.requestSeal([[1, 1]])
      expect(seals(yield* events.drain)).toEqual([
        [
          [2, 3],
          [3, 1]
        ]
      ])
    })
  )

  it.scoped("a wanted version, once reported, gets its unpersisted dependencies sealed, transitively", () =>
    Effect.gen(function* () {
      const { coordinator } = yield* abc
      const events = yield* inbox(coordinator)
      yield* coordinator.requestSeal([[1, 1]])
      yield* coordinator.report(report(1, 1, 0, [[2, 2], [3, 1]]))
      yield* coordinator.report(report(2, 2, 0, [[3, 4]]))
      expect(seals(yield* events.drain)).toEqual([[[1, 1]], [[2, 2], [3, 1]], [[3, 4]]])
      yield* coordinator.report(report(3, 4, 0))
      expect(tags(yield* events.drain)).toEqual(["CutAdvanced"])
      // Committed wants are forgotten: a later version with unpersisted deps asks for nothing.
      yield* coordinator.report(report(1, 2, 1, [[2, 7]]))
      expect(yield* events.drain).toEqual([])
    })
  )

  it.scoped("requestSeal of a persisted but blocked version asks for the unreported version that blocks it", () =>
    Effect.gen(function* () {
      const { coordinator } = yield* abc
      yield* coordinator.report(report(1, 1, 0, [[2, 1]]))
      yield* coordinator.report(report(2, 1, 0, [[3, 2]]))
      const events = yield* inbox(coordinator)
      yield* coordinator.requestSeal([[1, 1]])
      expect(seals(yield* events.drain)).toEqual([[[3, 2]]])
      // Its report uncovers the next blocker, which is asked for without a new request.
      yield* coordinator.report(report(3, 2, 0, [[2, 5]]))
      expect(seals(yield* events.drain)).toEqual([[[2, 5]]])
    })
  )

  it.scoped("a report that uncovers an older blocker of a wanted version gets that blocker sealed", () =>
    Effect.gen(function* () {
      const { coordinator } = yield* abc
      yield* coordinator.report(report(2, 1, 0, [[3, 1]])) // before anyone waits
      const events = yield* inbox(coordinator)
      yield* coordinator.requestSeal([[1, 1]])
      yield* coordinator.report(report(1, 1, 0, [[2, 2]]))
      // b:2 needs b:1, which needs c:1: nobody asked for c:1 yet.
      yield* coordinator.report(report(2, 2, 1))
      expect(seals(yield* events.drain)).toEqual([[[1, 1]], [[2, 2]], [[3, 1]]])
      yield* coordinator.report(report(3, 1, 0))
      expect(byId((yield* coordinator.status).cut)).toEqual({ 1: 1, 2: 2, 3: 1 })
    })
  )

  it.scoped("wanted versions are forgotten at a world-line change", () =>
    Effect.gen(function* () {
      const { coordinator } = yield* abc
      yield* coordinator.requestSeal([[2, 5]])
      yield* coordinator.register(request("c", { committed: 0 })) // world-line 2
      const events = yield* inbox(coordinator)
      yield* coordinator.report(report(2, 5, 0, [[1, 3]], 2))
      expect(seals(yield* events.drain)).toEqual([])
    })
  )
})

describe("crash restart and world-lines", () => {
  it.scoped("a world-line change is persisted before anyone hears of it", () =>
    Effect.gen(function* () {
      const { coordinator, store } = yield* abc
      yield* coordinator.report(report(1, 1, 0))
      const events = yield* inbox(coordinator)
      const gate = yield* Deferred.make<void>()
      store.before.set("recordWorldLine", Deferred.await(gate))
      const fiber = yield* Effect.fork(coordinator.register(request("b")))
      yield* settle
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      expect(store.history).toEqual([])
      // Reports wait: the change is atomic with respect to them.
      const late = yield* Effect.fork(coordinator.report(report(3, 1, 0)))
      expect(tags(yield* events.drain)).toEqual(["CutAdvanced"])
      yield* Deferred.succeed(gate, undefined)
      const registration = yield* Fiber.join(fiber)
      yield* Fiber.join(late)
      expect(registration).toEqual({ id: 2, worldLine: 2, cut: [[1, 1], [2, 0], [3, 0]], recoveryCut: [[1, 1], [2, 0], [3, 0]] })
      expect(store.history.map((r) => [r.worldLine, byId(r.recoveryCut)])).toEqual([[2, { 1: 1, 2: 0, 3: 0 }]])
      expect(yield* events.drain).toEqual([new WorldLineChanged({ worldLine: 2, recoveryCut: registration.recoveryCut! })])
      expect((yield* coordinator.status).workers[2]!.persisted).toBe(0) // the world-line-1 report came too late
    })
  )

  it.scoped("a world-line write that fails changes nothing and tells nobody", () =>
    Effect.gen(function* () {
      const { coordinator, store } = yield* abc
      const events = yield* inbox(coordinator)
      store.before.set("recordWorldLine", Effect.fail(Store.failure("recordWorldLine")))
      const error = yield* Effect.flip(coordinator.register(request("b")))
      expect(error._tag).toBe("CoordinatorUnavailable")
      expect((yield* coordinator.status).worldLine).toBe(1)
      expect(tags(yield* events.drain)).toEqual(["CutAdvanced"])
      const retry = yield* coordinator.register(request("b"))
      expect(retry.worldLine).toBe(2)
    })
  )

  it.scoped("uncommitted versions are dropped at a world-line change; survivors re-report", () =>
    Effect.gen(function* () {
      const { coordinator } = yield* abc
      yield* coordinator.report(report(1, 1, 0, [[2, 1]]))
      yield* coordinator.register(request("c"))
      const status = yield* coordinator.status
      expect(status.workers.map((w) => w.pending)).toEqual([0, 0, 0])
      yield* coordinator.report(report(1, 1, 0, [[2, 1]], 2))
      yield* coordinator.report(report(2, 1, 0, [], 2))
      expect(byId((yield* coordinator.status).cut)).toEqual({ 1: 1, 2: 1, 3: 0 })
    })
  )

  it.scoped("a crash restart first merges its durable checkpoints of the current world-line, and its committed hint", () =>
    Effect.gen(function* () {
      const { coordinator } = yield* abc
      yield* coordinator.report(report(2, 1, 0, [[1, 1]]))
      // a persisted 1 and 2 but the reports were lost; b:1 waits for a:1.
      const first = yield* coordinator.register(
        request("a", {
          checkpoints: [
            { worldLine: 1, version: 1, deps: [] },
            { worldLine: 1, version: 2, deps: [[3, 1]] }
          ]
        })
      )
      expect(byId(first.recoveryCut!)).toEqual({ 1: 1, 2: 1, 3: 0 })
      // In world-line 2, checkpoints of world-line 1 are not merged; the hint is.
      const second = yield* coordinator.register(
        request("c", { committed: 4, checkpoints: [{ worldLine: 1, version: 5, deps: [] }] })
      )
      expect(second.worldLine).toBe(3)
      expect(byId(second.recoveryCut!)).toEqual({ 1: 1, 2: 1, 3: 4 })
    })
  )

  it.scoped("a new name that arrives with checkpoints is a crash restart", () =>
    Effect.gen(function* () {
      const { coordinator, store } = yield* abc
      const r = yield* coordinator.register(request("d", { checkpoints: [{ worldLine: 1, version: 1, deps: [] }] }))
      expect(r).toEqual({ id: 4, worldLine: 2, cut: [[1, 0], [2, 0], [3, 0], [4, 1]], recoveryCut: [[1, 0], [2, 0], [3, 0], [4, 1]] })
      expect(store.log).toEqual(["addMember 1 a", "addMember 2 b", "addMember 3 c", "addMember 4 d", "recordWorldLine 2"])
    })
  )

  it.scoped("a live re-attach in the current world-line merges all its checkpoints and its hint", () =>
    Effect.gen(function* () {
      const { coordinator } = yield* abc
      const events = yield* inbox(coordinator)
      const r = yield* coordinator.register(
        request("b", {
          worldLine: 1,
          committed: 0,
          checkpoints: [
            { worldLine: 1, version: 1, deps: [] },
            { worldLine: 1, version: 2, deps: [[1, 1]] }
          ]
        })
      )
      expect(r).toEqual({ id: 2, worldLine: 1, cut: [[1, 0], [2, 1], [3, 0]] })
      expect(yield* events.drain).toEqual([cutEvent(1, { 1: 0, 2: 0, 3: 0 }), cutEvent(1, { 1: 0, 2: 1, 3: 0 })])
      yield* coordinator.register(request("a", { worldLine: 1, committed: 0, checkpoints: [{ worldLine: 1, version: 1, deps: [] }] }))
      expect(byId((yield* coordinator.status).cut)).toEqual({ 1: 1, 2: 2, 3: 0 })
    })
  )

  it.scoped("a live worker of an older world-line gets the recovery cut of the first change it missed", () =>
    Effect.gen(function* () {
      const { coordinator } = yield* abc
      yield* coordinator.report(report(1, 2, 0))
      yield* coordinator.register(request("c")) // 2: {a: 2}
      yield* coordinator.report(report(1, 3, 2, [], 2))
      yield* coordinator.register(request("b")) // 3: {a: 3}
      const r = yield* coordinator.register(
        request("a", { worldLine: 1, committed: 2, checkpoints: [{ worldLine: 1, version: 9, deps: [] }] })
      )
      expect(r).toEqual({ id: 1, worldLine: 3, cut: [[1, 3], [2, 0], [3, 0]], recoveryCut: [[1, 2], [2, 0], [3, 0]] })
      expect((yield* coordinator.status).workers[0]!.persisted).toBe(3) // its checkpoints were ignored
    })
  )
})

describe("coordinator restart (rebuild)", () => {
  it.scoped("commits pause until every member has re-attached, then the rebuilt cut is published", () =>
    Effect.gen(function* () {
      const { coordinator, store } = yield* abc
      yield* coordinator.report(report(1, 1, 0))
      yield* coordinator.report(report(2, 1, 0, [[1, 1]]))
      yield* coordinator.report(report(3, 1, 0, [[2, 1]]))
      const before = (yield* coordinator.status).cut
      expect(byId(before)).toEqual({ 1: 1, 2: 1, 3: 1 })
      yield* coordinator.shutdown

      const next = yield* start(store)
      expect((yield* next.status).rebuilding).toBe(true)
      const events = yield* inbox(next)
      // c lags: it only knows c:0 committed, and resends its checkpoint.
      const c = yield* next.register(request("c", { worldLine: 1, committed: 0, checkpoints: [{ worldLine: 1, version: 1, deps: [[2, 1]] }] }))
      expect(c.cut).toEqual([[1, 0], [2, 0], [3, 0]])
      const a = yield* next.register(request("a", { worldLine: 1, committed: 1 }))
      yield* next.report(report(1, 2, 1))
      expect(a.cut).toEqual([[1, 0], [2, 0], [3, 0]])
      expect(tags(yield* events.drain)).toEqual(["CutAdvanced"]) // the baseline only
      yield* next.register(request("b", { worldLine: 1, committed: 1 }))
      const status = yield* next.status
      expect(status.rebuilding).toBe(false)
      expect(byId(status.cut)).toEqual({ 1: 2, 2: 1, 3: 1 })
      expect(yield* events.drain).toEqual([cutEvent(1, { 1: 2, 2: 1, 3: 1 })])
    })
  )

  it.scoped("the base of a rebuild is the last recovery cut", () =>
    Effect.gen(function* () {
      const { coordinator, store } = yield* abc
      yield* coordinator.report(report(1, 4, 0))
      yield* coordinator.register(request("b")) // world-line 2, recovery cut {a: 4}
      yield* coordinator.shutdown
      const next = yield* start(store)
      const status = yield* next.status
      expect(status.worldLine).toBe(2)
      expect(byId(status.cut)).toEqual({ 1: 4, 2: 0, 3: 0 })
    })
  )

  it.scoped("a fresh restart during a rebuild waits, then one world-line change answers all restarts with the rebuilt cut", () =>
    Effect.gen(function* () {
      const { coordinator, store } = yield* abc
      yield* coordinator.report(report(1, 1, 0))
      yield* coordinator.report(report(2, 1, 0, [[1, 1]]))
      yield* coordinator.report(report(3, 1, 0))
      yield* coordinator.shutdown

      const next = yield* start(store)
      const events = yield* inbox(next)
      // a crashed too; it persisted a:2 (unreported) and knows a:1 committed.
      const a = yield* Effect.fork(
        next.register(request("a", { committed: 1, checkpoints: [{ worldLine: 1, version: 2, deps: [[3, 1]] }] }))
      )
      const b = yield* Effect.fork(
        next.register(request("b", { committed: 0, checkpoints: [{ worldLine: 1, version: 1, deps: [[1, 1]] }] }))
      )
      yield* settle
      expect(Option.isNone(yield* Fiber.poll(a))).toBe(true)
      expect(Option.isNone(yield* Fiber.poll(b))).toBe(true)
      expect(store.history).toEqual([])
      yield* next.register(request("c", { worldLine: 1, committed: 1 }))
      const ra = yield* Fiber.join(a)
      const rb = yield* Fiber.join(b)
      // The rebuilt cut has the pre-crash one ({a: 1, b: 1, c: 1}) and a:2, persisted but unreported.
      expect(ra).toEqual({ id: 1, worldLine: 2, cut: [[1, 2], [2, 1], [3, 1]], recoveryCut: [[1, 2], [2, 1], [3, 1]] })
      expect(rb).toEqual({ ...ra, id: 2 })
      expect(store.history.map((r) => r.worldLine)).toEqual([2])
      expect(yield* events.drain).toEqual([
        cutEvent(1, { 1: 0, 2: 0, 3: 0 }),
        new WorldLineChanged({ worldLine: 2, recoveryCut: ra.recoveryCut! })
      ])
    })
  )

  it.scoped("a live re-attach that ends a rebuild with waiting restarts gets the recovery cut of the change it caused", () =>
    Effect.gen(function* () {
      const { coordinator, store } = yield* abc
      yield* coordinator.report(report(1, 1, 0))
      yield* coordinator.report(report(3, 1, 0))
      yield* coordinator.shutdown

      const next = yield* start(store)
      const a = yield* Effect.fork(next.register(request("a", { committed: 1 })))
      yield* next.register(request("b", { worldLine: 1, committed: 0 }))
      yield* settle
      // c is the last member back: its attach ends the rebuild and a's restart moves the world-line.
      const c = yield* next.register(request("c", { worldLine: 1, committed: 1 }))
      const ra = yield* Fiber.join(a)
      expect(ra.worldLine).toBe(2)
      expect(c.worldLine).toBe(2)
      expect(c.recoveryCut).toEqual(ra.recoveryCut)
    })
  )

  it.scoped("shutdown fails registrations that wait for a rebuild", () =>
    Effect.gen(function* () {
      const { coordinator, store } = yield* abc
      yield* coordinator.shutdown
      const next = yield* start(store)
      const events = yield* inbox(next)
      const a = yield* Effect.fork(next.register(request("a")))
      yield* settle
      yield* next.shutdown
      const error = yield* Effect.flip(Fiber.join(a))
      expect(error._tag).toBe("CoordinatorUnavailable")
      yield* Deferred.await(events.ended)
    })
  )
})

describe("layers", () => {
  it.scoped("Coordinator.layer and Coordinator.layerClient give the runtime its CoordinatorClient", () =>
    Effect.gen(function* () {
      const client = yield* CoordinatorClient
      expect(yield* client.register(request("a"))).toEqual({ id: 1, worldLine: 1, cut: [[1, 0]] })
      yield* client.report(report(1, 1, 0))
      expect(byId((yield* client.status).cut)).toEqual({ 1: 1 })
      // FutureWorldLine reaches the runtime as itself, typed.
      const error = yield* Effect.flip(client.register(request("a", { worldLine: 5 })))
      expect(error).toMatchObject({ _tag: "FutureWorldLine", received: 5, current: 1 })
      const coordinator = yield* Coordinator
      expect((yield* Effect.flip(coordinator.register(request("a", { worldLine: 5 }))))._tag).toBe("FutureWorldLine")
    }).pipe(
      Effect.provide(
        Layer.provideMerge(Coordinator.layerClient, Coordinator.layer).pipe(Layer.provide(Store.make().layer))
      )
    )
  )
})
