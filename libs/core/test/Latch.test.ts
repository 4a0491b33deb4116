import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Option } from "effect"
import { ActionLatch } from "../src/internal/latch"
import * as StateObject from "../src/StateObject"
import { VersionedCell } from "../src/VersionedState"
import { flush, setup } from "./support"

describe("ActionLatch", () => {
  it.effect("an exclusive section with no Action running runs at once", () =>
    Effect.gen(function* () {
      const latch = new ActionLatch()
      const result = yield* latch.exclusive(Effect.succeed(42))
      expect(result).toBe(42)
      expect(latch.exclusivePending).toBe(false)
    })
  )

  it.effect("an exclusive section waits for running Actions to leave", () =>
    Effect.gen(function* () {
      const latch = new ActionLatch()
      yield* latch.enter
      yield* latch.enter
      let ran = false
      const section = yield* Effect.fork(latch.exclusive(Effect.sync(() => (ran = true))))
      yield* flush
      expect(latch.exclusivePending).toBe(true)
      expect(ran).toBe(false)
      latch.leave()
      yield* flush
      expect(ran).toBe(false)
      latch.leave()
      yield* Fiber.join(section)
      expect(ran).toBe(true)
      expect(latch.exclusivePending).toBe(false)
    })
  )

  it.effect("Actions arriving while an exclusive section is pending wait until it ends", () =>
    Effect.gen(function* () {
      const latch = new ActionLatch()
      const release = yield* Deferred.make<void>()
      let inSection = false
      yield* latch.enter // an Action in flight
      const section = yield* Effect.fork(
        latch.exclusive(
          Effect.gen(function* () {
            inSection = true
            yield* Deferred.await(release)
            inSection = false
          })
        )
      )
      yield* flush
      expect(latch.exclusivePending).toBe(true)
      let entered = false
      const late = yield* Effect.fork(Effect.map(latch.enter, () => (entered = true)))
      yield* flush
      expect(entered).toBe(false) // held back while the section is pending (not yet running)
      latch.leave()
      yield* flush
      expect(inSection).toBe(true)
      expect(entered).toBe(false) // still held back while the section runs
      expect(latch.running).toBe(0)
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(section)
      yield* Fiber.join(late)
      expect(entered).toBe(true)
      expect(latch.running).toBe(1)
    })
  )

  it.effect("exclusive sections are mutually exclusive", () =>
    Effect.gen(function* () {
      const latch = new ActionLatch()
      let active = 0
      let maxActive = 0
      const order: Array<string> = []
      const gates = [yield* Deferred.make<void>(), yield* Deferred.make<void>(), yield* Deferred.make<void>()]
      const section = (i: number) =>
        latch.exclusive(
          Effect.gen(function* () {
            active++
            maxActive = Math.max(maxActive, active)
            order.push(`start ${i}`)
            yield* Deferred.await(gates[i]!)
            order.push(`end ${i}`)
            active--
          })
        )
      const fibers = [yield* Effect.fork(section(0)), yield* Effect.fork(section(1)), yield* Effect.fork(section(2))]
      yield* flush
      expect(active).toBe(1)
      expect(order).toEqual(["start 0"])
      for (let i = 0; i < 3; i++) {
        yield* Deferred.succeed(gates[i]!, undefined)
        yield* flush
      }
      for (const f of fibers) expect(Option.isSome(yield* Fiber.poll(f))).toBe(true)
      expect(maxActive).toBe(1)
      expect(order).toHaveLength(6)
      for (let i = 0; i < order.length; i += 2) {
        // every start is immediately followed by its own end
        expect(order[i + 1]).toBe(order[i]!.replace("start", "end"))
      }
    })
  )
})

describe("ActionLatch inside a StateObject", () => {
  it.scoped("an Action that runs a nested Action on its own StateObject completes even when a seal arrives meanwhile", () =>
    Effect.gen(function* () {
      const { context } = yield* setup()
      const a = yield* Effect.provide(StateObject.make({ name: "a", state: VersionedCell.make(0) }), context)
      const proceed = yield* Deferred.make<void>()
      const outer = yield* Effect.fork(
        a.action((c) =>
          Effect.gen(function* () {
            c.set(1)
            yield* Deferred.await(proceed) // an async Action (SPEC 3.1) ...
            return yield* a.action((inner) => Effect.sync(() => inner.update((n) => n + 1))) // ... that re-enters
          })
        )
      )
      yield* flush
      const seal = yield* Effect.fork(a.seal) // the periodic or on-demand seal lands while the Action awaits
      yield* flush
      yield* Deferred.succeed(proceed, undefined)
      yield* flush
      expect(Option.isSome(yield* Fiber.poll(outer)), "the outer Action finished").toBe(true)
      expect(Option.isSome(yield* Fiber.poll(seal)), "the seal finished").toBe(true)
      expect(a.state.get()).toBe(2)
    })
  )
})
