/**
 * The property test of the foundation: random schedules of bank operations, counters and
 * registers over K workers, with random crashes of workers and of the coordinator at random points
 * (including while a checkpoint is in flight), lossy and reordering messages. After healing, it
 * checks that (1) every committed output is reflected in the state, (2) each worker's state is what
 * a failure-free run of exactly the committed operations gives, (3) money is conserved, and (4) no
 * message of an old world-line was applied — before and after a crash of every process at once
 * (which leaves only committed state).
 *
 * Time is the TestClock and randomness is seeded, so a failing schedule replays exactly:
 * fast-check prints its seed and path; rerun with DSE_PROPERTY_SEED=<seed> DSE_PROPERTY_PATH=<path>.
 */
import { describe, expect, it } from "@effect/vitest"
import type { StateObject } from "@dse/core"
import { Cause, Context, Duration, Effect, Fiber, Random, TestClock, TestContext } from "effect"
import * as fc from "fast-check"
import { BankWorkload, InProcessCluster } from "../src/index"

type Step =
  | { readonly _tag: "transfer"; readonly from: number; readonly fromAcct: number; readonly to: number; readonly toAcct: number; readonly amount: number }
  | { readonly _tag: "inc"; readonly branch: number }
  | { readonly _tag: "write"; readonly branch: number; readonly value: number }
  | { readonly _tag: "crash"; readonly branch: number; readonly downMs: number }
  | { readonly _tag: "crashCoordinator"; readonly downMs: number }
  | { readonly _tag: "tick"; readonly ms: number }

interface Schedule {
  readonly branches: number
  readonly accounts: number
  readonly persistDelayMs: number
  readonly maxDelayMs: number
  readonly loss: number
  readonly coordinatorLatencyMs: number
  readonly seed: number
  readonly steps: ReadonlyArray<Step>
}

const scheduleArb: fc.Arbitrary<Schedule> = fc
  .record({
    branches: fc.integer({ min: 2, max: 4 }),
    accounts: fc.integer({ min: 1, max: 3 }),
    persistDelayMs: fc.constantFrom(0, 1, 3),
    maxDelayMs: fc.constantFrom(0, 1, 4),
    loss: fc.constantFrom(0, 0, 0.05),
    coordinatorLatencyMs: fc.constantFrom(0, 1),
    seed: fc.integer()
  })
  .chain((base) => {
    const branch = fc.integer({ min: 0, max: base.branches - 1 })
    const acct = fc.integer({ min: 0, max: base.accounts - 1 })
    const step: fc.Arbitrary<Step> = fc.oneof(
      { weight: 5, arbitrary: fc.record({ _tag: fc.constant("transfer" as const), from: branch, fromAcct: acct, to: branch, toAcct: acct, amount: fc.integer({ min: 1, max: 80 }) }) },
      { weight: 2, arbitrary: fc.record({ _tag: fc.constant("inc" as const), branch }) },
      { weight: 1, arbitrary: fc.record({ _tag: fc.constant("write" as const), branch, value: fc.integer({ min: 1, max: 1000 }) }) },
      { weight: 2, arbitrary: fc.record({ _tag: fc.constant("crash" as const), branch, downMs: fc.integer({ min: 0, max: 20 }) }) },
      { weight: 1, arbitrary: fc.record({ _tag: fc.constant("crashCoordinator" as const), downMs: fc.integer({ min: 0, max: 20 }) }) },
      { weight: 4, arbitrary: fc.record({ _tag: fc.constant("tick" as const), ms: fc.integer({ min: 1, max: 15 }) }) }
    )
    return fc.record({ steps: fc.array(step, { minLength: 5, maxLength: 40 }) }).map((s) => ({ ...base, ...s }))
  })

interface RunResult {
  readonly violations: ReadonlyArray<string>
  readonly operations: number
  readonly crashes: number
  readonly worldLine: number
}

/** Moves the clock until every fiber has ended (restarts may wait for the coordinator's latency). */
const drive = (fibers: ReadonlyArray<Fiber.RuntimeFiber<unknown, unknown>>) =>
  Effect.gen(function* () {
    for (let i = 0; i < 400 && fibers.some((f) => f.unsafePoll() === null); i++) yield* TestClock.adjust("5 millis")
  })

const runSchedule = (schedule: Schedule): Effect.Effect<RunResult, unknown> =>
  Effect.gen(function* () {
    const cluster = yield* InProcessCluster.make({
      faults: { delayMs: [0, schedule.maxDelayMs], requestLoss: schedule.loss, replyLoss: schedule.loss },
      persistDelay: `${schedule.persistDelayMs} millis`
    })
    const observations: BankWorkload.Observations = { violations: [] }
    const live: Array<StateObject.StateObject<any>> = []
    const processes = yield* Effect.forEach(Array.from({ length: schedule.branches }, (_, b) => b), (b) =>
      cluster.spawn(
        `branch-${b}`,
        BankWorkload.branchProgram(cluster.network, b, schedule.accounts, observations, (so) => {
          live[b] = so
        })
      )
    )
    const client = yield* cluster.spawn("client", Effect.void)
    // Latency to the coordinator from now on (set after start-up, which runs before the clock moves).
    cluster.coordinator.latency = Duration.millis(schedule.coordinatorLatencyMs)
    const operations: Array<BankWorkload.Operation> = []
    const outputs: Array<BankWorkload.Output> = []
    const fibers: Array<Fiber.RuntimeFiber<void>> = []
    const lastWrite = new Map<number, Fiber.RuntimeFiber<void>>()
    const restarts: Array<Fiber.RuntimeFiber<void, unknown>> = []
    let crashes = 0

    const issue = (operation: BankWorkload.Operation, after?: Fiber.RuntimeFiber<void>) =>
      Effect.gen(function* () {
        operations.push(operation)
        const run = Effect.provide(BankWorkload.runOperation(cluster.network, operation, outputs), client.context())
        return yield* Effect.fork(after ? Effect.zipRight(Fiber.join(after), run) : run)
      })

    let n = 0
    for (const step of schedule.steps) {
      const id = `op${n++}`
      switch (step._tag) {
        case "transfer":
          fibers.push(
            yield* issue({ _tag: "transfer", id, from: [step.from, `acct${step.fromAcct}`], to: [step.to, `acct${step.toAcct}`], amount: step.amount })
          )
          break
        case "inc":
          fibers.push(yield* issue({ _tag: "inc", id, branch: step.branch }))
          break
        case "write": {
          const fiber = yield* issue({ _tag: "write", id, branch: step.branch, value: step.value }, lastWrite.get(step.branch))
          lastWrite.set(step.branch, fiber)
          fibers.push(fiber)
          break
        }
        case "crash": {
          const p = processes[step.branch]!
          if (!p.alive()) break
          crashes++
          yield* p.crash
          restarts.push(yield* Effect.fork(Effect.zipRight(Effect.sleep(`${step.downMs} millis`), p.restart)))
          break
        }
        case "crashCoordinator": {
          if (!cluster.coordinatorUp) break
          crashes++
          yield* cluster.crashCoordinator
          restarts.push(yield* Effect.fork(Effect.zipRight(Effect.sleep(`${step.downMs} millis`), cluster.restartCoordinator)))
          break
        }
        case "tick":
          yield* TestClock.adjust(`${step.ms} millis`)
          break
      }
    }

    // Heal: stop injecting message loss, let every pending restart happen, and run to quiescence.
    cluster.network.faults = { delayMs: [0, schedule.maxDelayMs] }
    yield* TestClock.adjust("25 millis")
    yield* cluster.restartCoordinator
    const healing = yield* Effect.fork(
      Effect.forEach(processes, (p) => p.restart, { concurrency: "unbounded", discard: true })
    )
    yield* drive([...restarts, healing])
    let rounds = 0
    while (fibers.some((f) => f.unsafePoll() === null) && rounds < 1000) {
      yield* TestClock.adjust("20 millis")
      rounds++
    }
    const stuck = fibers.filter((f) => f.unsafePoll() === null).length
    if (stuck > 0 && process.env.DSE_PROPERTY_DEBUG) {
      const { Dse } = yield* Effect.promise(() => import("@dse/core"))
      const clientDse = Context.get(client.context(), Dse.Dse)
      console.log("client", clientDse.worldLine(), JSON.stringify(Array.from(clientDse.cut())), (clientDse.runtime as any).commitWaiters)
      for (const so of live) console.log("branch", JSON.stringify(so.stats()))
      console.log("coordinator", JSON.stringify(yield* cluster.coordinator.client.status))
    }
    for (const f of fibers) {
      const exit = f.unsafePoll()
      if (exit && exit._tag === "Failure") observations.violations.push(`an operation died: ${Cause.pretty(exit.cause)}`)
    }
    yield* TestClock.adjust("50 millis")

    const violations: Array<string> = [...observations.violations]
    if (stuck > 0) violations.push(`${stuck} operations still running after healing (stuck)`)
    const read = () =>
      live.map((so) => BankWorkload.snapshot(so.state, schedule.accounts))
    violations.push(...BankWorkload.check(read(), schedule.accounts, operations, outputs).map((v) => `live: ${v}`))

    // Crash everything at once: what survives is exactly the committed state.
    for (const p of processes) yield* p.crash
    yield* cluster.crashCoordinator
    yield* cluster.restartCoordinator
    yield* drive([
      yield* Effect.fork(Effect.forEach(processes, (p) => p.restart, { concurrency: "unbounded", discard: true }))
    ])
    yield* TestClock.adjust("50 millis")
    violations.push(...BankWorkload.check(read(), schedule.accounts, operations, outputs).map((v) => `after full restart: ${v}`))
    for (const f of fibers) yield* Fiber.interrupt(f)
    const dse = client.context()
    const worldLine = live[0]!.stats().worldLine
    void dse
    return { violations, operations: operations.length, crashes, worldLine }
  }).pipe(Effect.scoped, Effect.withRandom(Random.make(schedule.seed)), Effect.provide(TestContext.TestContext))

const runs = Number(process.env.DSE_PROPERTY_RUNS ?? 200)
const seed = process.env.DSE_PROPERTY_SEED !== undefined ? Number(process.env.DSE_PROPERTY_SEED) : undefined
const path = process.env.DSE_PROPERTY_PATH

describe("bank under random crashes (property)", () => {
  it(`${runs} random schedules keep every guarantee`, async () => {
    let totalOps = 0
    let totalCrashes = 0
    await fc.assert(
      fc.asyncProperty(scheduleArb, async (schedule) => {
        const result = await Effect.runPromise(runSchedule(schedule))
        totalOps += result.operations
        totalCrashes += result.crashes
        if (result.violations.length > 0) {
          throw new Error(`violations:\n  ${result.violations.slice(0, 10).join("\n  ")}`)
        }
      }),
      { numRuns: runs, ...(seed !== undefined ? { seed } : {}), ...(path !== undefined ? { path } : {}), endOnFailure: true }
    )
    console.log(`property: ${runs} schedules, ${totalOps} operations, ${totalCrashes} crashes`)
    expect(totalOps).toBeGreaterThan(0)
    expect(totalCrashes).toBeGreaterThan(0)
  }, 600_000)
})
