/**
 * The rules of the engine, each on a workflow host in an in-process cluster, with the TestClock.
 */
import { describe, expect, it } from "@effect/vitest"
import { Activity, DurableClock, DurableDeferred, Workflow } from "@effect/workflow"
import { Deferred, Effect, Exit, Layer, Schema, TestClock } from "effect"
import { drive, hostCommitted, inside, makeCluster, outside, settle, spawnHost, until } from "./support"

const Go = DurableDeferred.make("go", { success: Schema.String })

describe("activity memoization", () => {
  it.scoped("a replay returns recorded activity results without executing them again", () =>
    Effect.gen(function* () {
      const counts = { a: 0, b: 0 }
      const Memo = Workflow.make({ name: "Memo", payload: { id: Schema.String }, success: Schema.String, idempotencyKey: ({ id }) => id })
      const MemoLive = Memo.toLayer(() =>
        Effect.gen(function* () {
          const a = yield* Activity.make({ name: "a", success: Schema.Number, execute: Effect.sync(() => ++counts.a) })
          const go = yield* DurableDeferred.await(Go)
          const b = yield* Activity.make({ name: "b", success: Schema.Number, execute: Effect.sync(() => ++counts.b) })
          return `${a}-${go}-${b}`
        })
      )
      const cluster = yield* makeCluster()
      const host = yield* spawnHost(cluster, MemoLive)
      const executionId = yield* drive(yield* Effect.fork(outside(host, Memo.execute({ id: "m1" }, { discard: true }))))
      yield* until(() => host.engine().stats().runsInFlight === 0)
      expect(yield* outside(host, Memo.poll(executionId))).toBeInstanceOf(Workflow.Suspended)
      const token = DurableDeferred.tokenFromExecutionId(Go, { workflow: Memo, executionId })
      yield* drive(yield* Effect.fork(outside(host, DurableDeferred.succeed(Go, { token, value: "x" }))))
      const result = yield* drive(yield* Effect.fork(outside(host, Memo.execute({ id: "m1" }))))
      expect(result).toBe("1-x-1")
      expect(counts).toEqual({ a: 1, b: 1 })
      expect(host.engine().stats().runsStarted).toBe(2)
      // Executing again (same idempotency key) returns the recorded result: nothing runs.
      expect(yield* drive(yield* Effect.fork(outside(host, Memo.execute({ id: "m1" }))))).toBe("1-x-1")
      expect(counts).toEqual({ a: 1, b: 1 })
    })
  )
})

describe("describing the runs in flight", () => {
  it.scoped("a run waiting in an activity is reported at that step, and the host's latch as drained", () =>
    Effect.gen(function* () {
      const release = yield* Deferred.make<void>()
      const Slow = Workflow.make({ name: "Slow", payload: { id: Schema.String }, success: Schema.String, idempotencyKey: ({ id }) => id })
      const SlowLive = Slow.toLayer(() =>
        Activity.make({ name: "wait-for-release", success: Schema.String, execute: Effect.as(Deferred.await(release), "done") })
      )
      const cluster = yield* makeCluster()
      const host = yield* spawnHost(cluster, SlowLive)
      const executionId = yield* drive(yield* Effect.fork(outside(host, Slow.execute({ id: "s1" }, { discard: true }))))
      yield* until(() => host.engine().stats().runs.some((r) => r.step.startsWith("wait-for-release: executing")))
      const stats = host.engine().stats()
      expect(stats.runs).toEqual([
        { executionId, workflow: "Slow", step: "wait-for-release: executing (attempt 1)", forMillis: expect.any(Number) }
      ])
      // The activity runs outside the host's Actions: it holds no latch entry that a seal would wait for.
      expect(stats.stateObject.actionsRunning).toBe(0)
      yield* Deferred.succeed(release, undefined)
      yield* until(() => host.engine().stats().runsInFlight === 0)
      expect(host.engine().stats().runs).toEqual([])
    })
  )
})

describe("Activity.retry", () => {
  it.scoped("each failed attempt is recorded and the next one runs until one succeeds", () =>
    Effect.gen(function* () {
      let calls = 0
      class Flaky extends Schema.TaggedError<Flaky>()("Flaky", { attempt: Schema.Number }) {}
      const Retry = Workflow.make({ name: "Retry", payload: { id: Schema.String }, success: Schema.Number, error: Flaky, idempotencyKey: ({ id }) => id })
      const RetryLive = Retry.toLayer(() =>
        Activity.make({
          name: "flaky",
          success: Schema.Number,
          error: Flaky,
          execute: Effect.gen(function* () {
            const attempt = yield* Activity.CurrentAttempt
            calls++
            if (attempt < 3) return yield* new Flaky({ attempt })
            return attempt
          })
        }).pipe(Activity.retry({ times: 5 }))
      )
      const cluster = yield* makeCluster()
      const host = yield* spawnHost(cluster, RetryLive)
      expect(yield* drive(yield* Effect.fork(outside(host, Retry.execute({ id: "r1" }))))).toBe(3)
      expect(calls).toBe(3)
      const retriesExhausted = Workflow.make({ name: "Retry", payload: { id: Schema.String }, success: Schema.Number, error: Flaky, idempotencyKey: ({ id }) => id })
      expect(retriesExhausted.name).toBe("Retry")
    })
  )

  it.scoped("when every attempt fails, the workflow fails with the last error", () =>
    Effect.gen(function* () {
      class Flaky extends Schema.TaggedError<Flaky>()("Flaky", { attempt: Schema.Number }) {}
      const Doomed = Workflow.make({ name: "Doomed", payload: { id: Schema.String }, error: Flaky, idempotencyKey: ({ id }) => id })
      const DoomedLive = Doomed.toLayer(() =>
        Activity.make({
          name: "always-fails",
          error: Flaky,
          execute: Effect.flatMap(Activity.CurrentAttempt, (attempt) => new Flaky({ attempt }))
        }).pipe(Activity.retry({ times: 2 }))
      )
      const cluster = yield* makeCluster()
      const host = yield* spawnHost(cluster, DoomedLive)
      const exit = yield* drive(yield* Effect.fork(Effect.exit(outside(host, Doomed.execute({ id: "d1" })))))
      expect(exit).toEqual(Exit.fail(new Flaky({ attempt: 3 })))
      // Failed attempts are stored as plain data (errors failed inside a span are Proxies).
      expect(host.engine().stats().failed).toBe(false)
    })
  )
})

describe("durable sleep", () => {
  it.scoped("DurableClock.sleep suspends the execution and wakes it at the wake-up time", () =>
    Effect.gen(function* () {
      const Nap = Workflow.make({ name: "Nap", payload: { id: Schema.String }, success: Schema.String, idempotencyKey: ({ id }) => id })
      const NapLive = Nap.toLayer(() =>
        Effect.gen(function* () {
          yield* DurableClock.sleep({ name: "nap", duration: "2 seconds", inMemoryThreshold: "1 millis" })
          return "rested"
        })
      )
      const cluster = yield* makeCluster()
      const host = yield* spawnHost(cluster, NapLive)
      const fiber = yield* Effect.fork(outside(host, Nap.execute({ id: "n1" })))
      const executionId = yield* Nap.executionId({ id: "n1" })
      yield* until(() => host.stateObject().state.clocks.size === 1)
      const clock = Array.from(host.stateObject().state.clocks.values())[0]!
      expect(clock.name).toBe("nap")
      yield* until(() => host.engine().stats().runsInFlight === 0)
      expect(yield* outside(host, Nap.poll(executionId))).toBeInstanceOf(Workflow.Suspended)
      // Not before its time.
      yield* TestClock.adjust("1900 millis")
      yield* settle()
      expect(fiber.unsafePoll()).toBeNull()
      expect(yield* drive(fiber, 50)).toBe("rested")
      expect(host.stateObject().state.clocks.size).toBe(0)
    })
  )
})

describe("signals (no lost wake-up)", () => {
  const Gate = (counts: { before: number; after: number }, gate: Deferred.Deferred<void>) => {
    const Signalled = Workflow.make({ name: "Signalled", payload: { id: Schema.String }, success: Schema.String, idempotencyKey: ({ id }) => id })
    const layer = Signalled.toLayer(() =>
      Effect.gen(function* () {
        yield* Activity.make({
          name: "before",
          execute: Effect.zipRight(Effect.sync(() => void counts.before++), Deferred.await(gate))
        })
        const value = yield* DurableDeferred.await(Go)
        yield* Activity.make({ name: "after", execute: Effect.sync(() => void counts.after++) })
        return value
      })
    )
    return { Signalled, layer }
  }

  it.scoped("a signal that arrives while the run is still executing (before it suspends) wakes it", () =>
    Effect.gen(function* () {
      const counts = { before: 0, after: 0 }
      const gate = yield* Deferred.make<void>()
      const { Signalled, layer } = Gate(counts, gate)
      const cluster = yield* makeCluster()
      const host = yield* spawnHost(cluster, layer, { sweepInterval: "1 hour" })
      const executionId = yield* drive(yield* Effect.fork(outside(host, Signalled.execute({ id: "s1" }, { discard: true }))))
      yield* until(() => counts.before === 1)
      const token = DurableDeferred.tokenFromExecutionId(Go, { workflow: Signalled, executionId })
      // The run is inside "before": the signal lands before the workflow reaches its await.
      yield* drive(yield* Effect.fork(outside(host, DurableDeferred.succeed(Go, { token, value: "early" }))))
      yield* Deferred.succeed(gate, undefined)
      expect(yield* drive(yield* Effect.fork(outside(host, Signalled.execute({ id: "s1" }))))).toBe("early")
      expect(counts).toEqual({ before: 1, after: 1 })
    })
  )

  it.scoped("a signal that arrives after the execution suspended wakes it", () =>
    Effect.gen(function* () {
      const counts = { before: 0, after: 0 }
      const gate = yield* Deferred.make<void>()
      yield* Deferred.succeed(gate, undefined)
      const { Signalled, layer } = Gate(counts, gate)
      const cluster = yield* makeCluster()
      const host = yield* spawnHost(cluster, layer, { sweepInterval: "1 hour" })
      const executionId = yield* drive(yield* Effect.fork(outside(host, Signalled.execute({ id: "s2" }, { discard: true }))))
      yield* until(() => host.stateObject().state.executions.get(executionId)?.status === "suspended")
      const token = DurableDeferred.tokenFromExecutionId(Go, { workflow: Signalled, executionId })
      yield* drive(yield* Effect.fork(outside(host, DurableDeferred.succeed(Go, { token, value: "late" }))))
      expect(yield* drive(yield* Effect.fork(outside(host, Signalled.execute({ id: "s2" }))))).toBe("late")
      expect(counts).toEqual({ before: 1, after: 1 })
    })
  )

  it.scoped("signals at every point of a run: none is lost", () =>
    Effect.gen(function* () {
      const cluster = yield* makeCluster()
      const counts = { before: 0, after: 0 }
      const gates: Array<Deferred.Deferred<void>> = []
      const Racy = Workflow.make({ name: "Racy", payload: { k: Schema.Number }, success: Schema.String, idempotencyKey: ({ k }) => `${k}` })
      const layer = Racy.toLayer(({ k }) =>
        Effect.gen(function* () {
          yield* Activity.make({ name: "before", execute: Effect.zipRight(Effect.sync(() => void counts.before++), Deferred.await(gates[k]!)) })
          const value = yield* DurableDeferred.await(Go)
          yield* Activity.make({ name: "after", execute: Effect.sync(() => void counts.after++) })
          return value
        })
      )
      const host = yield* spawnHost(cluster, layer, { sweepInterval: "1 hour" })
      const rounds = 60
      for (let k = 0; k < rounds; k++) {
        gates[k] = yield* Deferred.make<void>()
        const executionId = yield* drive(yield* Effect.fork(outside(host, Racy.execute({ k }, { discard: true }))))
        yield* until(() => counts.before === k + 1, 1)
        // Release the run, and signal from inside the domain after k scheduler turns: the signal
        // lands at every point of the run (before its await, between its read and its suspension, after).
        yield* Deferred.succeed(gates[k]!, undefined)
        yield* Effect.repeatN(Effect.yieldNow(), k)
        const token = DurableDeferred.tokenFromExecutionId(Go, { workflow: Racy, executionId })
        yield* inside(host, DurableDeferred.succeed(Go, { token, value: `v${k}` }))
        yield* until(() => host.stateObject().state.executions.get(executionId)?.status === "complete", 5, 100)
        expect(yield* drive(yield* Effect.fork(outside(host, Racy.execute({ k }))))).toBe(`v${k}`)
      }
      expect(counts.after).toBe(rounds)
    })
  )
})

describe("signal between the read and the suspension", () => {
  it.scoped("a signal that lands after the run read its deferred but before it recorded its suspension wakes it", () =>
    Effect.gen(function* () {
      // The workflow awaits Go while one of its own activities signals Go: the await reads nothing,
      // then waits for the running activity (which records the signal) before it suspends.
      const Self = Workflow.make({ name: "Self", payload: { id: Schema.String }, success: Schema.String, idempotencyKey: ({ id }) => id })
      const layer = Self.toLayer(() =>
        Effect.map(
          Effect.all(
            [
              DurableDeferred.await(Go),
              Activity.make({
                name: "signal-self",
                execute: Effect.flatMap(DurableDeferred.token(Go), (token) => DurableDeferred.succeed(Go, { token, value: "self" }))
              })
            ],
            { concurrency: 2 }
          ),
          ([value]) => value
        )
      )
      const cluster = yield* makeCluster()
      const host = yield* spawnHost(cluster, layer, { sweepInterval: "1 hour" })
      expect(yield* drive(yield* Effect.fork(outside(host, Self.execute({ id: "self" }))))).toBe("self")
      // The first run suspended after the signal had arrived: it ran again instead of sleeping forever.
      expect(host.engine().stats().runsStarted).toBe(2)
    })
  )
})

describe("compensation", () => {
  class Boom extends Schema.TaggedError<Boom>()("Boom", {}) {}
  const makeSaga = (log: Array<string>, gate?: Deferred.Deferred<void>) => {
    const Saga = Workflow.make({ name: "Saga", payload: { id: Schema.String, fail: Schema.Boolean }, error: Boom, idempotencyKey: ({ id }) => id })
    const layer = Saga.toLayer(({ fail }) =>
      Effect.gen(function* () {
        for (const step of ["a", "b", "c"]) {
          yield* Activity.make({ name: `do-${step}`, success: Schema.String, execute: Effect.sync(() => (log.push(`do ${step}`), step)) }).pipe(
            Saga.withCompensation((value) => Effect.sync(() => void log.push(`undo ${value}`)))
          )
        }
        if (gate) yield* Activity.make({ name: "hold", execute: Deferred.await(gate) })
        if (fail) return yield* new Boom()
      })
    )
    return { Saga, layer }
  }

  it.scoped("compensations run in reverse order when the workflow fails", () =>
    Effect.gen(function* () {
      const log: Array<string> = []
      const { Saga, layer } = makeSaga(log)
      const cluster = yield* makeCluster()
      const host = yield* spawnHost(cluster, layer)
      const exit = yield* drive(yield* Effect.fork(Effect.exit(outside(host, Saga.execute({ id: "x", fail: true })))))
      expect(exit).toEqual(Exit.fail(new Boom()))
      expect(log).toEqual(["do a", "do b", "do c", "undo c", "undo b", "undo a"])
      // A workflow that succeeds runs none.
      log.length = 0
      yield* drive(yield* Effect.fork(outside(host, Saga.execute({ id: "y", fail: false }))))
      expect(log).toEqual(["do a", "do b", "do c"])
    })
  )

  it.scoped("shutting down the host runs no compensation; the execution resumes at the next start", () =>
    Effect.gen(function* () {
      const log: Array<string> = []
      const gate = yield* Deferred.make<void>()
      const { Saga, layer } = makeSaga(log, gate)
      const cluster = yield* makeCluster()
      const host = yield* spawnHost(cluster, layer)
      yield* drive(yield* Effect.fork(outside(host, Saga.execute({ id: "z", fail: true }, { discard: true }))))
      yield* until(() => log.length === 3)
      // Let the recorded steps commit, then stop the host (its scope closes: a graceful shutdown).
      yield* drive(yield* Effect.fork(hostCommitted(host)))
      yield* host.process.crash
      expect(log).toEqual(["do a", "do b", "do c"])
      yield* Deferred.succeed(gate, undefined)
      yield* host.process.restart
      const exit = yield* drive(yield* Effect.fork(Effect.exit(outside(host, Saga.execute({ id: "z", fail: true })))))
      expect(exit).toEqual(Exit.fail(new Boom()))
      expect(log).toEqual(["do a", "do b", "do c", "undo c", "undo b", "undo a"])
    })
  )
})

describe("interrupt", () => {
  it.scoped("interrupting a suspended execution ends it as interrupted and runs its compensations", () =>
    Effect.gen(function* () {
      const log: Array<string> = []
      const Waiting = Workflow.make({ name: "Waiting", payload: { id: Schema.String }, idempotencyKey: ({ id }) => id })
      const layer = Waiting.toLayer(() =>
        Effect.gen(function* () {
          yield* Activity.make({ name: "take", execute: Effect.sync(() => void log.push("take")) }).pipe(
            Waiting.withCompensation(() => Effect.sync(() => void log.push("give back")))
          )
          yield* DurableDeferred.await(Go)
        })
      )
      const cluster = yield* makeCluster()
      const host = yield* spawnHost(cluster, layer)
      const executionId = yield* drive(yield* Effect.fork(outside(host, Waiting.execute({ id: "w" }, { discard: true }))))
      yield* until(() => host.stateObject().state.executions.get(executionId)?.status === "suspended")
      yield* drive(yield* Effect.fork(outside(host, Waiting.interrupt(executionId))))
      const result = yield* drive(yield* Effect.fork(outside(host, Waiting.poll(executionId).pipe(Effect.repeat({ until: (r) => r?._tag === "Complete" })))))
      expect(result?._tag === "Complete" && Exit.isInterrupted(result.exit)).toBe(true)
      expect(log).toEqual(["take", "give back"])
      expect((yield* host.engine().status(executionId)).outcome).toBe("interrupted")
    })
  )
})

describe("child workflows", () => {
  it.scoped("a parent waits for a child's result, and is woken when a suspended child completes", () =>
    Effect.gen(function* () {
      const Child = Workflow.make({ name: "Child", payload: { id: Schema.String }, success: Schema.String, idempotencyKey: ({ id }) => id })
      const Parent = Workflow.make({ name: "Parent", payload: { id: Schema.String }, success: Schema.String, idempotencyKey: ({ id }) => id })
      const layer = Layer.mergeAll(
        Child.toLayer(({ id }) => Effect.map(DurableDeferred.await(Go), (v) => `${id}:${v}`)),
        Parent.toLayer(({ id }) => Effect.map(Child.execute({ id: `${id}-child` }), (c) => `parent(${c})`))
      )
      const cluster = yield* makeCluster()
      const host = yield* spawnHost(cluster, layer, { sweepInterval: "1 hour" })
      const fiber = yield* Effect.fork(outside(host, Parent.execute({ id: "p" })))
      const childId = yield* Child.executionId({ id: "p-child" })
      yield* until(() => host.stateObject().state.executions.get(childId)?.status === "suspended")
      const token = DurableDeferred.tokenFromExecutionId(Go, { workflow: Child, executionId: childId })
      yield* drive(yield* Effect.fork(outside(host, DurableDeferred.succeed(Go, { token, value: "ok" }))))
      expect(yield* drive(fiber)).toBe("parent(p-child:ok)")
    })
  )
})

