import { describe, expect, it } from "@effect/vitest"
import type { StateObject } from "@dse/core"
import { Effect, Fiber, TestClock } from "effect"
import { BankWorkload, InProcessCluster } from "../src/index"

const drive = (fiber: Fiber.RuntimeFiber<any, any>, stepMs = 5, maxSteps = 400) =>
  Effect.gen(function* () {
    for (let i = 0; i < maxSteps && fiber.unsafePoll() === null; i++) yield* TestClock.adjust(`${stepMs} millis`)
    return yield* Fiber.join(fiber)
  })

describe("InProcessCluster", () => {
  it.scoped("a transfer across two workers commits and is reflected in both", () =>
    Effect.gen(function* () {
      const cluster = yield* InProcessCluster.make()
      const observations = { violations: [] as Array<string> }
      const live: Array<StateObject.StateObject<any>> = []
      for (const b of [0, 1]) {
        yield* cluster.spawn(`branch-${b}`, BankWorkload.branchProgram(cluster.network, b, 1, observations, (so) => { live[b] = so }))
      }
      const client = yield* cluster.spawn("client", Effect.void)
      const outputs: Array<BankWorkload.Output> = []
      const op: BankWorkload.Operation = { _tag: "transfer", id: "t1", from: [0, "acct0"], to: [1, "acct0"], amount: 30 }
      const fiber = yield* Effect.fork(Effect.provide(BankWorkload.runOperation(cluster.network, op, outputs), client.context()))
      yield* drive(fiber)
      expect(outputs.map((o) => o.result)).toEqual(["ok"])
      const snaps = live.map((so) => BankWorkload.snapshot(so.state, 1))
      expect(BankWorkload.check(snaps, 1, [op], outputs)).toEqual([])
      expect(snaps[0]!.accounts.acct0).toBe(70)
    })
  )
})

describe("InProcessCluster crashes", () => {
  const setup = Effect.gen(function* () {
    const cluster = yield* InProcessCluster.make({ persistDelay: "1 millis" })
    const observations = { violations: [] as Array<string> }
    const live: Array<StateObject.StateObject<any>> = []
    const procs = []
    for (const b of [0, 1]) {
      procs.push(yield* cluster.spawn(`branch-${b}`, BankWorkload.branchProgram(cluster.network, b, 1, observations, (so) => { live[b] = so })))
    }
    const client = yield* cluster.spawn("client", Effect.void)
    return { cluster, observations, live, procs, client }
  })

  it.scoped("a worker crash before commit: the transfer is driven again and applied once", () =>
    Effect.gen(function* () {
      const { cluster, live, procs, client, observations } = yield* setup
      const outputs: Array<BankWorkload.Output> = []
      const op: BankWorkload.Operation = { _tag: "transfer", id: "t1", from: [0, "acct0"], to: [1, "acct0"], amount: 30 }
      const fiber = yield* Effect.fork(Effect.provide(BankWorkload.runOperation(cluster.network, op, outputs), client.context()))
      yield* Effect.yieldNow()
      yield* procs[1]!.crash
      yield* TestClock.adjust("3 millis")
      yield* procs[1]!.restart
      yield* drive(fiber)
      const snaps = live.map((so) => BankWorkload.snapshot(so.state, 1))
      expect(BankWorkload.check(snaps, 1, [op], outputs)).toEqual([])
      expect(observations.violations).toEqual([])
    })
  )

  it.scoped("a coordinator crash pauses commits; after restart the transfer commits", () =>
    Effect.gen(function* () {
      const { cluster, live, client } = yield* setup
      const outputs: Array<BankWorkload.Output> = []
      const op: BankWorkload.Operation = { _tag: "transfer", id: "t1", from: [0, "acct0"], to: [1, "acct0"], amount: 30 }
      yield* cluster.crashCoordinator
      const fiber = yield* Effect.fork(Effect.provide(BankWorkload.runOperation(cluster.network, op, outputs), client.context()))
      yield* TestClock.adjust("50 millis")
      expect(outputs).toEqual([])
      yield* cluster.restartCoordinator
      yield* drive(fiber)
      const snaps = live.map((so) => BankWorkload.snapshot(so.state, 1))
      expect(BankWorkload.check(snaps, 1, [op], outputs)).toEqual([])
    })
  )

  it.scoped("everything crashes at once: committed state survives", () =>
    Effect.gen(function* () {
      const { cluster, live, procs, client } = yield* setup
      const outputs: Array<BankWorkload.Output> = []
      const op: BankWorkload.Operation = { _tag: "transfer", id: "t1", from: [0, "acct0"], to: [1, "acct0"], amount: 30 }
      const fiber = yield* Effect.fork(Effect.provide(BankWorkload.runOperation(cluster.network, op, outputs), client.context()))
      yield* drive(fiber)
      for (const p of procs) yield* p.crash
      yield* cluster.crashCoordinator
      yield* cluster.restartCoordinator
      // In parallel, as real processes start: a rebuilding coordinator answers restarts once all are back.
      yield* Effect.forEach(procs, (p) => p.restart, { concurrency: "unbounded", discard: true })
      yield* TestClock.adjust("20 millis")
      const snaps = live.map((so) => BankWorkload.snapshot(so.state, 1))
      expect(BankWorkload.check(snaps, 1, [op], outputs)).toEqual([])
    })
  )
})
