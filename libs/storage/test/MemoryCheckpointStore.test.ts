import { CheckpointStore, worldLine } from "@dse/core"
import type { WorkerStore } from "@dse/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Scope, TestClock } from "effect"
import { MemoryCheckpointStore } from "../src/index"
import { checkpointStoreContract } from "./checkpointStoreContract"
import { entriesOf, meta, persistRange, v } from "./helpers"

checkpointStoreContract("MemoryCheckpointStore", Effect.map(MemoryCheckpointStore.make(), (m) => m.service))

checkpointStoreContract(
  "MemoryCheckpointStore with a persist delay",
  // Every persist sleeps (on the live clock here), so ordering is exercised with operations in flight.
  Effect.map(MemoryCheckpointStore.make({ persistDelay: "1 millis" }), (m) => m.service),
  { live: true }
)

const startPersist = (store: WorkerStore, version: number, value: unknown) =>
  Effect.fork(store.persist(meta(version), [["a", value]])).pipe(Effect.tap(() => Effect.yieldNow()))

describe("MemoryCheckpointStore", () => {
  it.scoped("a crash drops a persist that is still in flight", () =>
    Effect.gen(function* () {
      const mem = yield* MemoryCheckpointStore.make({ persistDelay: "10 millis" })
      const w = yield* mem.service.open("w1")
      const first = yield* startPersist(w, 1, 1)
      yield* TestClock.adjust("10 millis")
      yield* Fiber.join(first)
      const second = yield* startPersist(w, 2, 2)
      yield* TestClock.adjust("5 millis")
      expect(yield* mem.inFlight("w1")).toBe(1)
      yield* mem.crash("w1")
      const error = yield* Effect.flip(Fiber.join(second))
      expect(error._tag).toBe("CheckpointStoreError")
      yield* TestClock.adjust("100 millis")
      const restarted = yield* mem.service.open("w1")
      expect((yield* restarted.list).checkpoints.map((c) => c.version)).toEqual([1])
      expect(entriesOf(yield* restarted.restore(v(1)))).toEqual({ a: 1 })
    }))

  it.scoped("completed persists survive a crash and the restarted worker reopens the same store", () =>
    Effect.gen(function* () {
      const mem = yield* MemoryCheckpointStore.make()
      const before = yield* mem.service.open("w1")
      yield* persistRange(before, 1, 3)
      yield* before.prune(v(1))
      yield* before.adoptWorldLine(worldLine(2))
      yield* mem.crash("w1")
      const after = yield* mem.service.open("w1")
      expect((yield* after.list).base).toBe(1)
      expect((yield* after.list).worldLine).toBe(2)
      expect((yield* after.restore(v(3))).entries.get("k")).toBe(3)
      yield* after.discardAfter(v(2))
      yield* after.persist(meta(3, [], 2), [["k", "new"]])
      expect((yield* after.restore(v(3))).entries.get("k")).toBe("new")
    }))

  it.scoped("operations queued behind an in-flight persist are dropped by a crash", () =>
    Effect.gen(function* () {
      const mem = yield* MemoryCheckpointStore.make({ persistDelay: "10 millis" })
      const w = yield* mem.service.open("w1")
      const p1 = yield* startPersist(w, 1, 1)
      const p2 = yield* startPersist(w, 2, 2)
      const pruned = yield* Effect.fork(w.prune(v(1))).pipe(Effect.tap(() => Effect.yieldNow()))
      expect(yield* mem.inFlight("w1")).toBe(2)
      yield* mem.crash("w1")
      for (const fiber of [p1, p2, pruned]) {
        expect((yield* Effect.flip(Fiber.join(fiber)))._tag).toBe("CheckpointStoreError")
      }
      const restarted = yield* mem.service.open("w1")
      expect(yield* restarted.list).toEqual({ base: 0, worldLine: 0, checkpoints: [] })
    }))

  it.scoped("the handle of a crashed worker is dead", () =>
    Effect.gen(function* () {
      const mem = yield* MemoryCheckpointStore.make()
      const w = yield* mem.service.open("w1")
      yield* persistRange(w, 1, 1)
      yield* mem.crash("w1")
      expect((yield* Effect.flip(w.persist(meta(2), [])))._tag).toBe("CheckpointStoreError")
      expect((yield* Effect.flip(w.restore(v(1))))._tag).toBe("CheckpointStoreError")
      expect((yield* Effect.flip(w.list))._tag).toBe("CheckpointStoreError")
      const restarted = yield* mem.service.open("w1")
      expect((yield* restarted.list).checkpoints.map((c) => c.version)).toEqual([1])
    }))

  it.scoped("closing the scope of a crashed handle does not close its successor", () =>
    Effect.gen(function* () {
      const mem = yield* MemoryCheckpointStore.make()
      const oldScope = yield* Scope.make()
      yield* Scope.extend(mem.service.open("w1"), oldScope)
      yield* mem.crash("w1")
      const successor = yield* mem.service.open("w1")
      yield* Scope.close(oldScope, Exit.void)
      yield* successor.persist(meta(1), [["a", 1]])
      expect((yield* Effect.flip(mem.service.open("w1")))._tag).toBe("CheckpointStoreError")
    }))

  it.scoped("a crash of one worker leaves the others running; crash() with no worker crashes all", () =>
    Effect.gen(function* () {
      const mem = yield* MemoryCheckpointStore.make()
      const a = yield* mem.service.open("a")
      const b = yield* mem.service.open("b")
      yield* mem.crash("a")
      expect((yield* Effect.flip(a.persist(meta(1), [])))._tag).toBe("CheckpointStoreError")
      yield* b.persist(meta(1), [])
      yield* mem.crash()
      expect((yield* Effect.flip(b.persist(meta(2), [])))._tag).toBe("CheckpointStoreError")
      expect((yield* (yield* mem.service.open("b")).list).checkpoints.length).toBe(1)
    }))

  it.scoped("interrupting an in-flight persist drops it", () =>
    Effect.gen(function* () {
      const mem = yield* MemoryCheckpointStore.make({ persistDelay: "10 millis" })
      const w = yield* mem.service.open("w1")
      const p1 = yield* startPersist(w, 1, 1)
      yield* TestClock.adjust("5 millis")
      yield* Fiber.interrupt(p1)
      expect(yield* mem.inFlight("w1")).toBe(0)
      const p2 = yield* startPersist(w, 1, "again")
      yield* TestClock.adjust("10 millis")
      yield* Fiber.join(p2)
      expect(entriesOf(yield* w.restore(v(1)))).toEqual({ a: "again" })
    }))

  it.scoped("operations called after an in-flight persist wait for it", () =>
    Effect.gen(function* () {
      const mem = yield* MemoryCheckpointStore.make({ persistDelay: "10 millis" })
      const w = yield* mem.service.open("w1")
      yield* startPersist(w, 1, 1)
      const restored = yield* Effect.fork(w.restore(v(1))).pipe(Effect.tap(() => Effect.yieldNow()))
      yield* TestClock.adjust("9 millis")
      expect(restored.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      expect(entriesOf(yield* Fiber.join(restored))).toEqual({ a: 1 })
    }))

  it.scoped("setPersistDelay changes the delay of later persists", () =>
    Effect.gen(function* () {
      const mem = yield* MemoryCheckpointStore.make()
      const w = yield* mem.service.open("w1")
      yield* w.persist(meta(1), [])
      yield* mem.setPersistDelay("1 second")
      const p2 = yield* startPersist(w, 2, 2)
      expect(p2.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(p2)
    }))

  it.scoped("the layer of a store provides the same data every time it is built", () =>
    Effect.gen(function* () {
      const mem = yield* MemoryCheckpointStore.make()
      const useStore = <A, E>(f: (s: typeof mem.service) => Effect.Effect<A, E, Scope.Scope>) =>
        Effect.scoped(Effect.flatMap(CheckpointStore, f)).pipe(Effect.provide(mem.layer))
      yield* useStore((s) => Effect.flatMap(s.open("w1"), (w) => w.persist(meta(1), [["a", 1]])))
      const state = yield* useStore((s) => Effect.flatMap(s.open("w1"), (w) => w.restore(v(1))))
      expect(entriesOf(state)).toEqual({ a: 1 })
    }))

  it.scoped("layer() builds an empty store each time", () =>
    Effect.gen(function* () {
      const layer = MemoryCheckpointStore.layer()
      const persistOnce = Effect.scoped(
        Effect.flatMap(CheckpointStore, (s) => Effect.flatMap(s.open("w1"), (w) => w.persist(meta(1), [])))
      ).pipe(Effect.provide(layer))
      yield* persistOnce
      yield* persistOnce // would fail (version 1 not above 1) if the data were shared
    }))
})
