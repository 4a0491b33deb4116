/**
 * Failures: a crash of the workflow host, a rollback that restores it, and the output-commit
 * boundary of `execute`.
 */
import { Dse } from "@dse/core"
import type { StateObject } from "@dse/core"
import { BankWorkload } from "@dse/testing"
import { describe, expect, it } from "@effect/vitest"
import { Activity, Workflow } from "@effect/workflow"
import { Deferred, Effect, Schedule, Schema } from "effect"
import { drive, hostCommitted, inside, makeCluster, outside, settle, spawnHost, until } from "./support"

describe("host crash", () => {
  const makeSteps = (counts: Record<string, number>, gate: Deferred.Deferred<void>) => {
    const Steps = Workflow.make({ name: "Steps", payload: { id: Schema.String }, success: Schema.Number, idempotencyKey: ({ id }) => id })
    const step = (name: string, value: number, wait = false) =>
      Activity.make({
        name,
        success: Schema.Number,
        execute: Effect.gen(function* () {
          counts[name] = (counts[name] ?? 0) + 1
          if (wait) yield* Deferred.await(gate)
          return value
        })
      })
    const layer = Steps.toLayer(() =>
      Effect.gen(function* () {
        const a = yield* step("a1", 1)
        const b = yield* step("a2", 2)
        const c = yield* step("a3", 3, true)
        return a + b + c
      })
    )
    return { Steps, layer }
  }

  it.scoped("a crash mid-workflow: re-driven to completion, no activity whose result had committed runs again", () =>
    Effect.gen(function* () {
      const counts: Record<string, number> = {}
      const gate = yield* Deferred.make<void>()
      const { Steps, layer } = makeSteps(counts, gate)
      const cluster = yield* makeCluster({ persistDelay: "2 millis" })
      const host = yield* spawnHost(cluster, layer, { sweepInterval: "1 hour" })
      yield* drive(yield* Effect.fork(outside(host, Steps.execute({ id: "c1" }, { discard: true }))))
      yield* until(() => counts.a3 === 1)
      yield* drive(yield* Effect.fork(hostCommitted(host)))
      yield* host.process.crash
      yield* host.process.restart
      yield* Deferred.succeed(gate, undefined)
      expect(yield* drive(yield* Effect.fork(outside(host, Steps.execute({ id: "c1" }))))).toBe(6)
      expect(counts).toEqual({ a1: 1, a2: 1, a3: 2 })
    })
  )

  it.scoped("a crash before anything committed: the outside caller still gets the result once, after commit", () =>
    Effect.gen(function* () {
      const counts: Record<string, number> = {}
      const gate = yield* Deferred.make<void>()
      yield* Deferred.succeed(gate, undefined)
      const { Steps, layer } = makeSteps(counts, gate)
      const cluster = yield* makeCluster({ persistDelay: "50 millis" })
      const host = yield* spawnHost(cluster, layer, { sweepInterval: "1 hour" })
      // The caller is outside; it retries the (idempotent) call when the host goes away.
      const call = outside(host, Steps.execute({ id: "c2" })).pipe(
        Effect.catchAllDefect((d) => Effect.fail(d)),
        Effect.retry(Schedule.spaced("10 millis"))
      )
      const fiber = yield* Effect.fork(Effect.suspend(() => call))
      yield* until(() => counts.a3 === 1, 1)
      expect(fiber.unsafePoll()).toBeNull()
      yield* host.process.crash
      yield* host.process.restart
      expect(yield* drive(fiber)).toBe(6)
      // Everything re-ran: nothing had committed before the crash.
      expect(counts.a3).toBe(2)
    })
  )
})

describe("rollback", () => {
  const N = 6

  it.scoped("after a rollback that restores the host, every execution is re-driven from the restored state and none is left stuck", () =>
    Effect.gen(function* () {
      const cluster = yield* makeCluster({ persistDelay: "20 millis" })
      const observations = { violations: [] as Array<string> }
      let branch: StateObject.StateObject<any> | undefined
      const bank = yield* cluster.spawn("bank", BankWorkload.branchProgram(cluster.network, 0, 1, observations, (so) => (branch = so)))
      const gate1 = yield* Deferred.make<void>()
      const gate2 = yield* Deferred.make<void>()
      const counts = { inc: 0, hold: 0 }
      const Counted = Workflow.make({ name: "Counted", payload: { id: Schema.String }, success: Schema.Number, idempotencyKey: ({ id }) => id })
      const layer = Counted.toLayer(() =>
        Effect.gen(function* () {
          const value = yield* Activity.make({
            name: "inc",
            success: Schema.Number,
            execute: Effect.gen(function* () {
              counts.inc++
              yield* Deferred.await(gate1)
              // A call inside the DSE domain: speculative, tagged with the run's sthread.
              const key = yield* Activity.idempotencyKey("inc")
              return yield* cluster.network
                .call<BankWorkload.BranchRequest, number, never>(BankWorkload.branchEndpoint(0), { _tag: "inc", op: key })
                .pipe(
                  // Transient failures are retried; a speculation failure (RolledBack) ends the run,
                  // which the engine drives again from the restored state.
                  Effect.retry({ while: (e) => e._tag !== "RolledBack", schedule: Schedule.spaced("2 millis") }),
                  Effect.orDie
                )
            })
          })
          yield* Activity.make({
            name: "hold",
            execute: Effect.zipRight(Effect.sync(() => void counts.hold++), Deferred.await(gate2))
          })
          return value
        })
      )
      // No sweeper: re-driving must come from the restore itself.
      const host = yield* spawnHost(cluster, layer, { sweepInterval: "1 hour" })
      const ids = Array.from({ length: N }, (_, i) => `e${i}`)
      const executionIds = yield* drive(
        yield* Effect.fork(Effect.forEach(ids, (id) => outside(host, Counted.execute({ id }, { discard: true }))))
      )
      // Everything speculative from here: the bank's increments are not even sealed when it crashes.
      yield* Deferred.succeed(gate1, undefined)
      yield* settle(200)
      expect(counts.hold).toBe(N)
      expect(host.stateObject().state.activities.size).toBe(N)
      expect(branch!.state.counter.get()).toBe(N)

      yield* bank.crash
      yield* bank.restart
      yield* until(() => host.engine().stats().restores >= 1, 1)
      yield* Deferred.succeed(gate2, undefined)
      // Nobody asks: the engine drives every execution again by itself.
      yield* until(() => executionIds.every((id) => host.stateObject().state.executions.get(id)?.status === "complete"))

      const results = yield* drive(
        yield* Effect.fork(Effect.forEach(ids, (id) => outside(host, Counted.execute({ id })), { concurrency: "unbounded" }))
      )
      // Each execution's increment happened once in the surviving history.
      expect(results.slice().sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i + 1))
      expect(branch!.state.counter.get()).toBe(N)
      expect(counts.inc).toBe(2 * N)
      for (const id of executionIds) expect(host.stateObject().state.executions.get(id)?.status).toBe("complete")
      expect(host.engine().stats().swept).toBe(0)
      expect(observations.violations).toEqual([])
    })
  )
})

describe("the boundary", () => {
  it.scoped("an outside execute returns only after the result commits; an inside one gets the speculative result at once", () =>
    Effect.gen(function* () {
      const Quick = Workflow.make({ name: "Quick", payload: { id: Schema.String }, success: Schema.String, idempotencyKey: ({ id }) => id })
      const layer = Quick.toLayer(({ id }) => Activity.make({ name: "work", success: Schema.String, execute: Effect.succeed(`done ${id}`) }))
      const cluster = yield* makeCluster()
      const host = yield* spawnHost(cluster, layer)
      yield* drive(yield* Effect.fork(outside(host, Quick.execute({ id: "warm-up" }))))
      // Commits stop while the coordinator is down; speculation goes on.
      yield* cluster.crashCoordinator
      const fromOutside = yield* Effect.fork(outside(host, Quick.execute({ id: "o" })))
      const fromInside = yield* Effect.fork(inside(host, Quick.execute({ id: "i" })))
      const outsideId = yield* Quick.executionId({ id: "o" })
      yield* until(() => host.stateObject().state.executions.get(outsideId)?.status === "complete")
      expect(yield* drive(fromInside)).toBe("done i")
      yield* until(() => false, 10, 20).pipe(Effect.catchAllDefect(() => Effect.void))
      expect(fromOutside.unsafePoll()).toBeNull()
      yield* cluster.restartCoordinator
      expect(yield* drive(fromOutside)).toBe("done o")
      // By then the completion had committed.
      const committed = yield* drive(yield* Effect.fork(inside(host, Effect.zipRight(Quick.poll(outsideId), Dse.awaitCommit))))
      expect(committed).toBeUndefined()
    })
  )
})
