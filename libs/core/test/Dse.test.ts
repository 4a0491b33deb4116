import { describe, expect, it } from "@effect/vitest"
import type { Context } from "effect"
import { Effect, Fiber, Option, TestClock } from "effect"
import type { Dependency } from "../src/DependencySet"
import { DependencySet } from "../src/DependencySet"
import * as Dse from "../src/Dse"
import { FutureWorldLine, RolledBack, StaleWorldLine } from "../src/Errors"
import type { Header } from "../src/Header"
import type { Version, WorkerId, WorldLine } from "../src/Ids"
import * as StateObject from "../src/StateObject"
import * as Sthread from "../src/Sthread"
import { VersionedCell } from "../src/VersionedState"
import { flush, setup } from "./support"

const dep = (worker: number, version: number): Dependency => [worker as WorkerId, version as Version]
const sorted = (set: DependencySet) => set.toArray().slice().sort((x, y) => x[0] - y[0])
const header = (worldLine: number, deps: ReadonlyArray<Dependency>, source?: Dependency): Header => ({
  worldLine: worldLine as WorldLine,
  source,
  deps: DependencySet.fromIterable(deps)
})

const cell = <R>(context: Context.Context<R>, name: string) =>
  Effect.provide(StateObject.make({ name, state: VersionedCell.make(0) }), context)

const isPending = <A, E>(fiber: Fiber.Fiber<A, E>) => Effect.map(Fiber.poll(fiber), Option.isNone)

describe("Dse.serve", () => {
  it.scoped("without a header, the reply is released only after the handler's dependencies commit", () =>
    Effect.gen(function* () {
      const { coordinator, context } = yield* setup()
      coordinator.autoCommit = false
      const a = yield* cell(context, "a")
      const other = yield* cell(context, "other")
      const fiber = yield* Effect.fork(
        Effect.provide(Dse.serve(undefined, a.action((c) => Effect.sync(() => c.set(5)).pipe(Effect.as("done")))), context)
      )
      yield* flush
      expect(yield* isPending(fiber)).toBe(true)
      // The commit wait sealed a's version on demand and it was reported; it is not committed yet.
      expect(coordinator.reports.map((r) => [r.worker, r.version])).toEqual([[a.id, 1]])
      // A cut that does not cover the dependency does not release it.
      yield* coordinator.commit(other.id, 3)
      yield* flush
      expect(yield* isPending(fiber)).toBe(true)
      yield* coordinator.commit(a.id, 1)
      const [value, reply] = yield* Fiber.join(fiber)
      expect(value).toBe("done")
      expect(reply).toBeUndefined()
    })
  )

  it.scoped("with a header of the current world-line, it replies at once with the action's version, not echoing the incoming deps", () =>
    Effect.gen(function* () {
      const { coordinator, context } = yield* setup()
      coordinator.autoCommit = false
      const a = yield* cell(context, "a")
      const b = yield* cell(context, "b")
      const c = yield* cell(context, "c")
      const incoming = header(1, [dep(c.id, 1)], dep(b.id, 1))
      const fiber = yield* Effect.fork(
        Effect.provide(Dse.serve(incoming, a.action((s) => Effect.sync(() => s.set(1)).pipe(Effect.as("ok")))), context)
      )
      yield* flush
      const exit = yield* Fiber.poll(fiber)
      expect(Option.isSome(exit)).toBe(true) // no commit happened, and none was needed
      const [value, reply] = yield* Fiber.join(fiber)
      expect(value).toBe("ok")
      expect(reply).toBeDefined()
      expect(reply!.worldLine).toBe(1)
      expect(sorted(reply!.deps)).toEqual([dep(a.id, a.stats().version)])
      expect(reply!.deps.get(b.id)).toBeUndefined()
      expect(reply!.deps.get(c.id)).toBeUndefined()
    })
  )

  it.scoped("a header of an older world-line whose dependencies are uncommitted fails with StaleWorldLine", () =>
    Effect.gen(function* () {
      const { context } = yield* setup({ worldLine: 2 })
      let ran = false
      const error = yield* Effect.flip(
        Effect.provide(Dse.serve(header(1, [dep(9, 3)]), Effect.sync(() => (ran = true))), context)
      )
      expect(error).toBeInstanceOf(StaleWorldLine)
      expect(error).toMatchObject({ _tag: "StaleWorldLine", received: 1, current: 2 })
      expect(ran).toBe(false)
    })
  )

  it.scoped("a header of an older world-line whose dependencies committed in it is accepted", () =>
    Effect.gen(function* () {
      const { coordinator, context } = yield* setup({ worldLine: 1 })
      yield* coordinator.advanceCut([[9, 3]])
      yield* coordinator.changeWorldLine([[9, 3]])
      yield* flush
      let ran = false
      const [, reply] = yield* Effect.provide(
        Dse.serve(header(1, [dep(9, 2)], dep(9, 3)), Effect.sync(() => (ran = true))),
        context
      )
      expect(ran).toBe(true)
      expect(reply?.worldLine).toBe(2)
      expect(reply?.deps.size).toBe(0)
    })
  )

  it.scoped("an older world-line's dependency is judged by that world-line's recovery cut, not a later cut (versions are reused)", () =>
    Effect.gen(function* () {
      const { coordinator, context } = yield* setup({ worldLine: 1 })
      // (9, 5) of world-line 1 was lost: the recovery cut of world-line 2 has worker 9 at 3 ...
      yield* coordinator.changeWorldLine([[9, 3]])
      // ... and worker 9 later commits a new version 5 in world-line 2.
      yield* coordinator.advanceCut([[9, 6]])
      yield* flush
      let ran = false
      const error = yield* Effect.flip(
        Effect.provide(Dse.serve(header(1, [dep(9, 5)]), Effect.sync(() => (ran = true))), context)
      )
      expect(ran).toBe(false)
      expect(error).toBeInstanceOf(StaleWorldLine)
    })
  )

  it.scoped("a process that missed a world-line change fails its commit waiters, even when the new cut covers their numbers", () =>
    Effect.gen(function* () {
      const { coordinator, context } = yield* setup({ worldLine: 1 })
      const thread = new Sthread.Sthread(1)
      thread.deps.add(9 as WorkerId, 1 as Version)
      const fiber = yield* Effect.fork(Effect.provide(Dse.awaitCommitOf(thread), context))
      yield* flush
      // The WorldLineChanged event was missed (a lost connection): the next event is already of world-line 3.
      coordinator.worldLine = 3
      yield* coordinator.advanceCut([[9, 7]])
      yield* flush
      const error = yield* Effect.flip(Fiber.join(fiber))
      expect(error).toBeInstanceOf(RolledBack)
    })
  )

  it.scoped("a commit wait that starts while a world-line change is being applied is judged by that change's recovery cut", () =>
    Effect.gen(function* () {
      const { coordinator, store, context } = yield* setup({ worldLine: 1 })
      const a = yield* Effect.provide(StateObject.make({ name: "a", state: VersionedCell.make(0) }), context)
      const thread = new Sthread.Sthread(1)
      thread.deps.add(99 as WorkerId, 1 as Version)
      // a's current version depends on (99, 1), which the recovery cut below loses: a restores, slowly.
      yield* Sthread.within(a.action((c) => Effect.sync(() => c.set(1))), thread)
      store.restoreDelay = Effect.sleep("10 millis")
      yield* coordinator.changeWorldLine([[a.id, 0], [99, 0]])
      yield* flush
      // The change is under way (a restores): a waiter of world-line 1 arrives now.
      const waiter = yield* Effect.fork(Effect.provide(Dse.awaitCommitOf(thread), context))
      yield* flush
      yield* TestClock.adjust("20 millis")
      yield* flush
      // World-line 2 then commits a version 1 of worker 99 (a reused number): it must not count.
      yield* coordinator.advanceCut([[99, 3]])
      yield* flush
      const exit = yield* Fiber.await(waiter)
      expect(exit._tag).toBe("Failure")
    })
  )

  it.scoped("a header of a world-line whose recovery cut this process never saw is stale", () =>
    Effect.gen(function* () {
      const { coordinator, context } = yield* setup({ worldLine: 2 })
      yield* coordinator.advanceCut([[9, 3]])
      yield* flush
      const error = yield* Effect.flip(
        Effect.provide(Dse.serve(header(1, [dep(9, 2)]), Effect.void), context)
      )
      expect(error).toBeInstanceOf(StaleWorldLine)
    })
  )

  it.scoped("a header of a future world-line waits, and fails with FutureWorldLine after the wait", () =>
    Effect.gen(function* () {
      const { context } = yield* setup({ futureWorldLineWait: "2 seconds" })
      let ran = false
      const fiber = yield* Effect.fork(
        Effect.provide(Dse.serve(header(3, []), Effect.sync(() => (ran = true))), context)
      )
      yield* flush
      yield* TestClock.adjust("1999 millis")
      yield* flush
      expect(yield* isPending(fiber)).toBe(true)
      yield* TestClock.adjust("1 millis")
      const error = yield* Effect.flip(Fiber.join(fiber))
      expect(error).toBeInstanceOf(FutureWorldLine)
      expect(error).toMatchObject({ _tag: "FutureWorldLine", received: 3, current: 1 })
      expect(ran).toBe(false)
    })
  )

  it.scoped("the future world-line wait also ends in an uninterruptible region (a finalizer)", () =>
    Effect.gen(function* () {
      const { context } = yield* setup({ futureWorldLineWait: "2 seconds" })
      const fiber = yield* Effect.fork(
        Effect.uninterruptible(Effect.provide(Dse.serve(header(3, []), Effect.void), context))
      )
      yield* flush
      yield* TestClock.adjust("2 seconds")
      yield* flush
      expect(yield* isPending(fiber)).toBe(false)
      expect(yield* Effect.flip(Fiber.join(fiber))).toBeInstanceOf(FutureWorldLine)
    })
  )

  it.scoped("a header of a future world-line is admitted once the process reaches that world-line", () =>
    Effect.gen(function* () {
      const { coordinator, context } = yield* setup()
      const fiber = yield* Effect.fork(Effect.provide(Dse.serve(header(2, []), Effect.succeed("ok")), context))
      yield* flush
      expect(yield* isPending(fiber)).toBe(true)
      yield* coordinator.changeWorldLine([])
      const [value, reply] = yield* Fiber.join(fiber)
      expect(value).toBe("ok")
      expect(reply?.worldLine).toBe(2)
    })
  )
})

describe("Dse.call", () => {
  const okReply = <A>(a: A) => Effect.succeed([a, undefined] as const)

  it.effect("tags the request with the ambient sthread's world-line and dependencies", () =>
    Effect.gen(function* () {
      const thread = new Sthread.Sthread(4, DependencySet.of(dep(1, 2), dep(3, 5)))
      let sent: Header | undefined
      yield* Sthread.within(
        Dse.call((h) => {
          sent = h
          return okReply(null)
        }),
        thread
      )
      expect(sent?.worldLine).toBe(4)
      expect(sorted(sent!.deps)).toEqual([dep(1, 2), dep(3, 5)])
    })
  )

  it.effect("outside an sthread, the request carries no header", () =>
    Effect.gen(function* () {
      let sent: Header | undefined | "not called" = "not called"
      yield* Dse.call((h) => {
        sent = h
        return okReply(null)
      })
      expect(sent).toBeUndefined()
    })
  )

  it.effect("absorbs the reply header into the ambient sthread", () =>
    Effect.gen(function* () {
      const thread = new Sthread.Sthread(1, DependencySet.of(dep(1, 2)))
      const value = yield* Sthread.within(
        Dse.call(() => Effect.succeed(["v", header(1, [dep(4, 2)], dep(3, 7))] as const)),
        thread
      )
      expect(value).toBe("v")
      expect(sorted(thread.deps)).toEqual([dep(1, 2), dep(3, 7), dep(4, 2)])
    })
  )

  it.effect("maps StaleWorldLine to RolledBack", () =>
    Effect.gen(function* () {
      const thread = new Sthread.Sthread(1, DependencySet.of(dep(1, 2)))
      const error = yield* Effect.flip(
        Sthread.within(Dse.call(() => Effect.fail(new StaleWorldLine({ received: 1, current: 2 }))), thread)
      )
      expect(error).toBeInstanceOf(RolledBack)
      expect(error).toMatchObject({ _tag: "RolledBack", worldLine: 2 })
    })
  )

  it.effect("passes other failures through unchanged", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Dse.call(() => Effect.fail(new FutureWorldLine({ received: 3, current: 2 }))))
      expect(error).toBeInstanceOf(FutureWorldLine)
    })
  )
})

describe("Dse.external and awaitCommit", () => {
  it.scoped("external runs its effect only after the sthread's dependencies commit", () =>
    Effect.gen(function* () {
      const { coordinator, context } = yield* setup()
      const a = yield* cell(context, "a")
      let ran = 0
      const fiber = yield* Effect.fork(
        Effect.provide(
          Dse.sthread(Effect.zipRight(a.action((s) => Effect.sync(() => s.set(1))), Dse.external(Effect.sync(() => ran++)))),
          context
        )
      )
      yield* flush
      expect(ran).toBe(0)
      expect(yield* isPending(fiber)).toBe(true)
      yield* coordinator.commit(a.id, 1)
      yield* Fiber.join(fiber)
      expect(ran).toBe(1)
    })
  )

  it.scoped("external never runs its effect when the sthread is rolled back", () =>
    Effect.gen(function* () {
      const { coordinator, context } = yield* setup()
      const a = yield* cell(context, "a")
      let ran = 0
      const fiber = yield* Effect.fork(
        Effect.provide(
          Dse.sthread(Effect.zipRight(a.action((s) => Effect.sync(() => s.set(1))), Dse.external(Effect.sync(() => ran++)))),
          context
        )
      )
      yield* flush
      yield* coordinator.changeWorldLine([[a.id, 0]])
      const error = yield* Effect.flip(Fiber.join(fiber))
      expect(error).toBeInstanceOf(RolledBack)
      yield* flush
      expect(ran).toBe(0)
    })
  )

  it.scoped("external of an sthread of an older world-line with lost dependencies fails at once without running", () =>
    Effect.gen(function* () {
      const { context } = yield* setup({ worldLine: 2 })
      let ran = 0
      const thread = new Sthread.Sthread(1, DependencySet.of(dep(9, 4)))
      const error = yield* Effect.flip(
        Effect.provide(Sthread.within(Dse.external(Effect.sync(() => ran++)), thread), context)
      )
      expect(error).toBeInstanceOf(RolledBack)
      expect(ran).toBe(0)
    })
  )

  it.scoped("awaitCommit fails with RolledBack when a world-line change's recovery cut does not cover the deps", () =>
    Effect.gen(function* () {
      const { coordinator, context } = yield* setup()
      const a = yield* cell(context, "a")
      const b = yield* cell(context, "b")
      const [, thread] = yield* Effect.provide(
        Dse.sthread(Effect.zipRight(a.action((s) => Effect.sync(() => s.set(1))), b.action((s) => Effect.sync(() => s.set(1))))),
        context
      )
      const fiber = yield* Effect.fork(Effect.provide(Dse.awaitCommitOf(thread), context))
      yield* flush
      expect(yield* isPending(fiber)).toBe(true)
      // b's version 1 survives, but a's (which b's depends on) does not.
      yield* coordinator.changeWorldLine([
        [a.id, 0],
        [b.id, 0]
      ])
      const error = yield* Effect.flip(Fiber.join(fiber))
      expect(error).toBeInstanceOf(RolledBack)
      expect(error.worldLine).toBe(2)
    })
  )

  it.scoped("awaitCommit succeeds when a world-line change's recovery cut covers the deps", () =>
    Effect.gen(function* () {
      const { coordinator, context } = yield* setup()
      const a = yield* cell(context, "a")
      const fiber = yield* Effect.fork(
        Effect.provide(Dse.sthread(Effect.zipRight(a.action((s) => Effect.sync(() => s.set(1))), Dse.awaitCommit)), context)
      )
      yield* flush
      expect(yield* isPending(fiber)).toBe(true)
      yield* coordinator.changeWorldLine([[a.id, 1]])
      const [, thread] = yield* Fiber.join(fiber)
      expect(sorted(thread.deps)).toEqual([dep(a.id, 1)])
      expect(a.stats().restores).toBe(0)
      expect(a.state.get()).toBe(1)
    })
  )
})

describe("Dse.awaitLoss", () => {
  it.scoped("fails with RolledBack when a world-line change loses a dependency, and asks for no seal", () =>
    Effect.gen(function* () {
      const { coordinator, context } = yield* setup()
      const thread = new Sthread.Sthread(1)
      thread.deps.add(9 as WorkerId, 2 as Version)
      const fiber = yield* Effect.fork(Effect.provide(Dse.awaitLoss(thread), context))
      yield* flush
      expect(yield* isPending(fiber)).toBe(true)
      expect(coordinator.sealRequests).toEqual([])
      yield* coordinator.changeWorldLine([[9, 1]])
      const error = yield* Effect.flip(Fiber.join(fiber))
      expect(error).toBeInstanceOf(RolledBack)
    })
  )

  it.scoped("never completes when the dependencies survive a world-line change or commit", () =>
    Effect.gen(function* () {
      const { coordinator, context } = yield* setup()
      const survivor = new Sthread.Sthread(1)
      survivor.deps.add(9 as WorkerId, 1 as Version)
      const committed = new Sthread.Sthread(1)
      committed.deps.add(8 as WorkerId, 1 as Version)
      const a = yield* Effect.fork(Effect.provide(Dse.awaitLoss(survivor), context))
      const b = yield* Effect.fork(Effect.provide(Dse.awaitLoss(committed), context))
      yield* flush
      yield* coordinator.commit(8, 1)
      yield* flush
      yield* coordinator.changeWorldLine([[8, 1], [9, 1]])
      yield* flush
      expect(yield* isPending(a)).toBe(true)
      expect(yield* isPending(b)).toBe(true)
      yield* Fiber.interrupt(a)
      yield* Fiber.interrupt(b)
    })
  )

  it.scoped("of an sthread of an older world-line with lost dependencies, fails at once", () =>
    Effect.gen(function* () {
      const { coordinator, context } = yield* setup()
      yield* coordinator.changeWorldLine([[9, 0]])
      yield* flush
      const thread = new Sthread.Sthread(1)
      thread.deps.add(9 as WorkerId, 1 as Version)
      const error = yield* Effect.flip(Effect.provide(Dse.awaitLoss(thread), context))
      expect(error).toBeInstanceOf(RolledBack)
    })
  )
})
