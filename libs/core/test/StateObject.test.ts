import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Layer, TestClock } from "effect"
import { CutAdvanced, WorldLineChanged } from "../src/CoordinatorProtocol"
import * as Dse from "../src/Dse"
import type { Version, WorkerId } from "../src/Ids"
import { DependencySet } from "../src/DependencySet"
import * as StateObject from "../src/StateObject"
import * as Sthread from "../src/Sthread"
import { VersionedCell, VersionedMap } from "../src/VersionedState"
import { FakeCoordinator, FakeStore } from "./fakes"
import { flush } from "./support"

/** Lets forked background work (persists, reports) run to completion. */
const settle = Effect.repeatN(Effect.yieldNow(), 20)

const setup = (mode: "speculative" | "durable" | "ephemeral" = "speculative") =>
  Effect.gen(function* () {
    const coordinator = yield* FakeCoordinator.make
    const store = new FakeStore()
    const context = yield* Layer.build(
      Layer.provideMerge(Dse.layer({ mode }), Layer.merge(coordinator.layer, store.layer))
    )
    return { coordinator, store, context }
  })

describe("StateObject", () => {
  it.scoped("an Action's changes are sealed into one version and reported once persisted", () =>
    Effect.gen(function* () {
      const { coordinator, store, context } = yield* setup()
      const so = yield* Effect.provide(StateObject.make({ name: "a", state: VersionedMap.make<number>() }), context)
      yield* so.action((m) => Effect.sync(() => m.set("x", 1).set("y", 2)))
      expect(so.stats().version).toBe(1)
      yield* so.seal
      yield* settle
      expect(so.stats().version).toBe(2)
      expect(store.persists).toBe(1)
      expect(coordinator.reports).toEqual([{ worker: so.id, worldLine: 1, version: 1, prev: 0, deps: [] }])
    })
  )

  it.scoped("seals on the period, not before", () =>
    Effect.gen(function* () {
      const { store, context } = yield* setup()
      const so = yield* Effect.provide(StateObject.make({ name: "a", state: VersionedCell.make(0) }), context)
      yield* so.action((c) => Effect.sync(() => c.update((n) => n + 1)))
      yield* TestClock.adjust("5 millis")
      expect(store.persists).toBe(0)
      yield* TestClock.adjust("10 millis")
      expect(store.persists).toBe(1)
    })
  )

  it.scoped("the seal period starts at the first change after a seal; an idle worker has no timer", () =>
    Effect.gen(function* () {
      const { store, context } = yield* setup()
      const so = yield* Effect.provide(StateObject.make({ name: "a", state: VersionedCell.make(0) }), context)
      yield* settle
      expect(Chunk.size(yield* TestClock.sleeps())).toBe(0)
      yield* TestClock.adjust("1003 millis")
      yield* so.action((c) => Effect.sync(() => c.update((n) => n + 1)))
      yield* settle
      expect(Chunk.size(yield* TestClock.sleeps())).toBe(1)
      yield* TestClock.adjust("8 millis")
      expect(store.persists).toBe(0)
      yield* TestClock.adjust("3 millis")
      expect(store.persists).toBe(1)
      yield* settle
      expect(Chunk.size(yield* TestClock.sleeps())).toBe(0)
    })
  )

  it.scoped("an untouched version is not sealed", () =>
    Effect.gen(function* () {
      const { store, context } = yield* setup()
      const so = yield* Effect.provide(StateObject.make({ name: "a", state: VersionedCell.make(0) }), context)
      yield* so.action((c) => Effect.sync(() => c.get()))
      yield* TestClock.adjust("50 millis")
      expect(store.persists).toBe(0)
      expect(so.stats().version).toBe(1)
    })
  )

  it.scoped("Lamport rule: a dependency above our version seals and jumps before the Action", () =>
    Effect.gen(function* () {
      const { coordinator, context } = yield* setup()
      const a = yield* Effect.provide(StateObject.make({ name: "a", state: VersionedCell.make(0) }), context)
      const b = yield* Effect.provide(StateObject.make({ name: "b", state: VersionedCell.make(0) }), context)
      yield* b.action((c) => Effect.sync(() => c.set(1)))
      const thread = new Sthread.Sthread(1)
      thread.deps.add(a.id, 7 as any)
      yield* Sthread.within(b.action((c) => Effect.sync(() => c.set(2))), thread)
      expect(b.stats().version).toBe(7)
      yield* settle
      // version 1 was sealed before the jump, and version 7 depends on (a, 7): never upward.
      expect(coordinator.reports.map((r) => r.version)).toEqual([1])
      yield* b.seal
      yield* settle
      expect(coordinator.reports.at(-1)).toEqual({ worker: b.id, worldLine: 1, version: 7, prev: 1, deps: [[a.id, 7]] })
    })
  )

  it.scoped("an sthread depends on the Action's version afterwards (compacted)", () =>
    Effect.gen(function* () {
      const { context } = yield* setup()
      const a = yield* Effect.provide(StateObject.make({ name: "a", state: VersionedCell.make(0) }), context)
      const b = yield* Effect.provide(StateObject.make({ name: "b", state: VersionedCell.make(0) }), context)
      const [, thread] = yield* Effect.provide(
        Dse.sthread(
          Effect.zipRight(
            a.action((c) => Effect.sync(() => c.set(1))),
            b.action((c) => Effect.sync(() => c.set(1)))
          )
        ),
        context
      )
      // b's version 1 now depends on a's, so the sthread needs only b's.
      expect(thread.deps.toArray()).toEqual([[b.id, 1]])
    })
  )

  it.scoped("a read-only Action depends on the last touched version, not the current one", () =>
    Effect.gen(function* () {
      const { context } = yield* setup()
      const a = yield* Effect.provide(StateObject.make({ name: "a", state: VersionedCell.make(0) }), context)
      yield* a.action((c) => Effect.sync(() => c.set(1)))
      yield* a.seal
      const [value, thread] = yield* Effect.provide(Dse.sthread(a.action((c) => Effect.sync(() => c.get()))), context)
      expect(value).toBe(1)
      expect(a.stats().version).toBe(2)
      expect(thread.deps.toArray()).toEqual([[a.id, 1]])
    })
  )

  it.scoped("awaitCommit seals on demand and completes when the cut covers the sthread", () =>
    Effect.gen(function* () {
      const { coordinator, context } = yield* setup()
      coordinator.autoCommit = true
      const a = yield* Effect.provide(StateObject.make({ name: "a", state: VersionedCell.make(0) }), context)
      const fiber = yield* Effect.fork(
        Effect.provide(
          Dse.sthread(Effect.zipRight(a.action((c) => Effect.sync(() => c.set(5))), Dse.awaitCommit)),
          context
        )
      )
      const [, thread] = yield* Fiber.join(fiber)
      expect(thread.deps.toArray()).toEqual([[a.id, 1]])
      expect(a.stats().committed).toBe(1)
    })
  )

  it.scoped("durable mode persists every Action before it returns", () =>
    Effect.gen(function* () {
      const { store, coordinator, context } = yield* setup("durable")
      const a = yield* Effect.provide(StateObject.make({ name: "a", state: VersionedCell.make(0) }), context)
      yield* a.action((c) => Effect.sync(() => c.set(1)))
      expect(store.persists).toBe(1)
      yield* a.action((c) => Effect.sync(() => c.set(2)))
      expect(store.persists).toBe(2)
      expect(coordinator.reports).toEqual([])
    })
  )

  it.scoped("ephemeral mode never persists", () =>
    Effect.gen(function* () {
      const { store, context } = yield* setup("ephemeral")
      const a = yield* Effect.provide(StateObject.make({ name: "a", state: VersionedCell.make(0) }), context)
      yield* a.action((c) => Effect.sync(() => c.set(1)))
      yield* TestClock.adjust("100 millis")
      expect(store.persists).toBe(0)
    })
  )

  it.scoped("a world-line change restores a worker that read lost work, and keeps an independent one", () =>
    Effect.gen(function* () {
      const { coordinator, context } = yield* setup()
      const a = yield* Effect.provide(StateObject.make({ name: "a", state: VersionedCell.make(0) }), context)
      const b = yield* Effect.provide(StateObject.make({ name: "b", state: VersionedCell.make(0) }), context)
      const c = yield* Effect.provide(StateObject.make({ name: "c", state: VersionedCell.make(0) }), context)
      yield* Effect.provide(
        Dse.sthread(
          Effect.zipRight(
            a.action((s) => Effect.sync(() => s.set(1))),
            b.action((s) => Effect.sync(() => s.set(1)))
          )
        ),
        context
      )
      yield* c.action((s) => Effect.sync(() => s.set(1)))
      // a's version 1 is lost: the recovery cut has a at 0.
      yield* coordinator.changeWorldLine([[a.id, 0], [b.id, 0], [c.id, 0]])
      yield* Effect.sleep("1 millis").pipe(Effect.zipLeft(TestClock.adjust("1 millis")), Effect.fork)
      yield* TestClock.adjust("1 millis")
      yield* settle
      const dse = yield* Effect.provide(Dse.Dse, context)
      expect(dse.worldLine()).toBe(2)
      expect(b.state.get()).toBe(0)
      expect(c.state.get()).toBe(1)
    })
  )

  it.scoped("an sthread of an older world-line with uncommitted dependencies fails with RolledBack", () =>
    Effect.gen(function* () {
      const { coordinator, context } = yield* setup()
      const a = yield* Effect.provide(StateObject.make({ name: "a", state: VersionedCell.make(0) }), context)
      const thread = new Sthread.Sthread(1)
      thread.deps.add(99 as WorkerId, 3 as any)
      yield* coordinator.changeWorldLine([[a.id, 0]])
      yield* TestClock.adjust("1 millis")
      const result = yield* Effect.flip(Sthread.within(a.action((s) => Effect.sync(() => s.set(1))), thread))
      expect(result._tag).toBe("RolledBack")
      expect(a.state.get()).toBe(0)
    })
  )

  it.scoped("an Action in an sthread of a future world-line runs once the worker reaches that world-line", () =>
    Effect.gen(function* () {
      const { coordinator, context } = yield* setup()
      const a = yield* Effect.provide(StateObject.make({ name: "a", state: VersionedCell.make(0) }), context)
      const thread = new Sthread.Sthread(2)
      const fiber = yield* Effect.fork(Sthread.within(a.action((s) => Effect.sync(() => s.set(7))), thread))
      yield* flush
      expect(fiber.unsafePoll()).toBeNull()
      yield* coordinator.changeWorldLine([[a.id, 0]])
      yield* flush
      // It ran (it used to spin for ever once the world-lines were equal).
      expect(fiber.unsafePoll()).not.toBeNull()
      yield* Fiber.join(fiber)
      expect(a.state.get()).toBe(7)
      expect(a.stats().worldLine).toBe(2)
    })
  )

  it.scoped("cut pushes advance the committed version and settle waiters", () =>
    Effect.gen(function* () {
      const { coordinator, context } = yield* setup()
      const a = yield* Effect.provide(StateObject.make({ name: "a", state: VersionedCell.make(0) }), context)
      const fiber = yield* Effect.fork(
        Effect.provide(Dse.sthread(Effect.zipRight(a.action((c) => Effect.sync(() => c.set(5))), Dse.awaitCommit)), context)
      )
      yield* TestClock.adjust("20 millis")
      expect(coordinator.reports.length).toBe(1)
      yield* coordinator.publish(new CutAdvanced({ worldLine: 1, cut: [[a.id, 1]] }))
      yield* Fiber.join(fiber)
      expect(a.stats().committed).toBe(1)
    })
  )
})

describe("StateObject in durable mode", () => {
  it.scoped("a read-only Action completes without a seal (nothing new to persist)", () =>
    Effect.gen(function* () {
      const coordinator = yield* FakeCoordinator.make
      const store = new FakeStore()
      const context = yield* Layer.build(
        Layer.provideMerge(Dse.layer({ mode: "durable" }), Layer.merge(coordinator.layer, store.layer))
      )
      const a = yield* Effect.provide(StateObject.make({ name: "a", state: VersionedCell.make(0) }), context)
      yield* a.action((c) => Effect.sync(() => c.set(1)))
      const value = yield* a.action((c) => Effect.sync(() => c.get())).pipe(Effect.timeout("1 second"), Effect.fork)
      yield* TestClock.adjust("2 seconds")
      const result = yield* Fiber.join(value)
      expect(result).toBe(1)
      expect(store.persists).toBe(1)
    })
  )
})

describe("seal requests", () => {
  it.scoped("a commit wait on a local version also asks, in the same request, for what that version depends on elsewhere", () =>
    Effect.gen(function* () {
      const { coordinator, context } = yield* setup()
      coordinator.autoCommit = false
      const a = yield* Effect.provide(StateObject.make({ name: "a", state: VersionedCell.make(0) }), context)
      // An sthread that already depends on version 7 of a worker of another process (id 99).
      const thread = new Sthread.Sthread(1, DependencySet.of([99 as WorkerId, 7 as Version]))
      yield* Sthread.within(a.action((c) => Effect.sync(() => c.set(5))), thread)
      const version = a.stats().version
      const waiter = yield* Effect.fork(Effect.provide(Dse.awaitCommitOf(thread), context))
      yield* flush
      // Without the foreign dependency the coordinator would ask for it only after a's report.
      expect(coordinator.sealRequests).toEqual([[[a.id, version], [99, 7]]])
      yield* Fiber.interrupt(waiter)
    })
  )
})

describe("re-registration", () => {
  it.scoped("a worker re-registered by its process (it missed world-line changes) sends its kind again", () =>
    Effect.gen(function* () {
      const { coordinator, context } = yield* setup()
      yield* Effect.provide(StateObject.make({ name: "kv-0", kind: "kv", state: VersionedCell.make(0) }), context)
      expect(coordinator.registrations.map((r) => [r.worldLine, r.kind])).toEqual([[0, "kv"]])
      // A change two world-lines ahead: the process missed one and re-registers its workers.
      coordinator.worldLine = 3
      yield* coordinator.publish(new WorldLineChanged({ worldLine: 3, recoveryCut: [] }))
      yield* flush
      expect(coordinator.registrations.map((r) => [r.worldLine, r.kind])).toEqual([[0, "kv"], [1, "kv"]])
    })
  )
})
