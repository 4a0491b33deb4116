/**
 * The property: random event streams through a 2-stage pipeline (filter/map, then a running total
 * per key held in the broker) over 2 broker processes, with random crashes of either broker
 * process, of the processor process and of the coordinator at random points (persists in flight,
 * messages delayed and lost), end with the committed sink holding every expected output exactly once: for every key,
 * exactly the running totals of its positive readings, in order.
 *
 * Time is the TestClock and randomness is seeded, so a failing schedule replays exactly:
 * fast-check prints its seed and path; rerun with DSE_PROPERTY_SEED=<seed> DSE_PROPERTY_PATH=<path>.
 * DSE_PROPERTY_RUNS=N changes the number of schedules (default 5, to keep the package run short; run 50+ when changing the broker).
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Random, TestClock, TestContext } from "effect"
import * as fc from "fast-check"
import type { Delivered } from "../src/BrokerClient"
import * as Pipeline from "../src/Pipeline"
import * as Sensor from "./fixtures/sensorPipeline"
import type { BrokerCluster } from "./support"
import { readCommitted, setup } from "./support"

type Step =
  | { readonly _tag: "produce"; readonly readings: ReadonlyArray<{ readonly key: number; readonly amount: number }> }
  | { readonly _tag: "crashBroker"; readonly broker: number; readonly downMs: number }
  | { readonly _tag: "crashProcessor"; readonly downMs: number }
  | { readonly _tag: "crashCoordinator"; readonly downMs: number }
  | { readonly _tag: "tick"; readonly ms: number }

interface Schedule {
  readonly partitions: number
  /** For each topic (readings, clean, totals): the broker process (0 or 1) that hosts it. */
  readonly placement: readonly [number, number, number]
  readonly keys: number
  readonly persistDelayMs: number
  readonly sealPeriodMs: number
  readonly maxDelayMs: number
  readonly loss: number
  readonly maxBatch: number
  readonly seed: number
  readonly steps: ReadonlyArray<Step>
}

const scheduleArb: fc.Arbitrary<Schedule> = fc
  .record({
    partitions: fc.integer({ min: 1, max: 2 }),
    placement: fc.tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 1 })),
    keys: fc.integer({ min: 1, max: 4 }),
    persistDelayMs: fc.constantFrom(0, 1, 3),
    sealPeriodMs: fc.constantFrom(10, 30),
    maxDelayMs: fc.constantFrom(0, 1, 3),
    loss: fc.constantFrom(0, 0, 0.03),
    maxBatch: fc.constantFrom(1, 3, 10),
    seed: fc.integer()
  })
  .chain((base) => {
    const reading = fc.record({ key: fc.integer({ min: 0, max: base.keys - 1 }), amount: fc.integer({ min: -3, max: 9 }) })
    const step: fc.Arbitrary<Step> = fc.oneof(
      { weight: 5, arbitrary: fc.record({ _tag: fc.constant("produce" as const), readings: fc.array(reading, { minLength: 1, maxLength: 5 }) }) },
      { weight: 2, arbitrary: fc.record({ _tag: fc.constant("crashBroker" as const), broker: fc.integer({ min: 0, max: 1 }), downMs: fc.integer({ min: 0, max: 15 }) }) },
      { weight: 1, arbitrary: fc.record({ _tag: fc.constant("crashProcessor" as const), downMs: fc.integer({ min: 0, max: 15 }) }) },
      { weight: 1, arbitrary: fc.record({ _tag: fc.constant("crashCoordinator" as const), downMs: fc.integer({ min: 0, max: 15 }) }) },
      { weight: 4, arbitrary: fc.record({ _tag: fc.constant("tick" as const), ms: fc.integer({ min: 1, max: 12 }) }) }
    )
    return fc.record({ steps: fc.array(step, { minLength: 4, maxLength: 25 }) }).map((s) => ({ ...base, ...s }))
  })

const TOPICS = ["readings", "clean", "totals"] as const

interface RunResult {
  readonly problems: ReadonlyArray<string>
  readonly readings: number
  readonly crashes: number
  readonly reruns: number
}

const readAll = (b: BrokerCluster, topic: string) =>
  Effect.gen(function* () {
    const out: Array<Delivered> = []
    for (let p = 0; p < b.topics.get(topic)!.partitions; p++) out.push(...(yield* b.run(readCommitted(b.broker, topic, p), 5, 400)))
    return out
  })

const runSchedule = (schedule: Schedule): Effect.Effect<RunResult, unknown> =>
  Effect.gen(function* () {
    const topics = TOPICS.map((name) => ({ name, partitions: schedule.partitions }))
    const hostedBy = (broker: number) => (topic: string) => schedule.placement[TOPICS.indexOf(topic as (typeof TOPICS)[number])] === broker
    const b = yield* setup({
      topics,
      brokers: [
        { name: "broker-0", hosts: hostedBy(0) },
        { name: "broker-1", hosts: hostedBy(1) }
      ],
      cluster: {
        persistDelay: `${schedule.persistDelayMs} millis`,
        sealPeriod: `${schedule.sealPeriodMs} millis`
      },
      broker: { retention: { interval: "40 millis" } }
    })
    // The outside sink's group holds retention on the output topic.
    for (let p = 0; p < schedule.partitions; p++) {
      yield* b.run(b.broker.commitOffset({ topic: "totals", partition: p, group: "sink", offset: 0 }))
    }
    // Faults from now on (set-up calls are not retried).
    b.cluster.network.faults = { delayMs: [0, schedule.maxDelayMs], requestLoss: schedule.loss, replyLoss: schedule.loss }
    let reruns = 0
    const s = Sensor.stages({ threshold: 1_000_000, maxBatch: schedule.maxBatch, onHandle: () => reruns++ })
    const proc = yield* b.spawnPipeline("processors", Pipeline.make([s.clean, s.totals]))
    const producer = b.broker.producer("source")
    const readings: Array<Sensor.Reading> = []
    const producing: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
    const restarts: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
    let last: Fiber.RuntimeFiber<unknown, unknown> | undefined
    let crashes = 0
    for (const step of schedule.steps) {
      switch (step._tag) {
        case "produce": {
          const batch = step.readings.map((r) => ({ key: `k${r.key}`, amount: r.amount }))
          readings.push(...batch)
          // One producer, readings in order (each its own batch).
          const previous = last
          const send = Effect.forEach(batch, (r) => producer.send("readings", { key: r.key, value: r }), { discard: true })
          last = yield* b.fork(previous ? Effect.zipRight(Fiber.join(previous), send) : send)
          producing.push(last)
          break
        }
        case "crashBroker": {
          const p = b.procs[step.broker]!
          if (!p.alive()) break
          crashes++
          yield* p.crash
          restarts.push(yield* Effect.fork(Effect.zipRight(Effect.sleep(Duration.millis(step.downMs)), p.restart)))
          break
        }
        case "crashProcessor": {
          if (!proc.handle.alive()) break
          crashes++
          yield* proc.handle.crash
          restarts.push(yield* Effect.fork(Effect.zipRight(Effect.sleep(Duration.millis(step.downMs)), proc.handle.restart)))
          break
        }
        case "crashCoordinator": {
          if (!b.cluster.coordinatorUp) break
          crashes++
          yield* b.cluster.crashCoordinator
          restarts.push(yield* Effect.fork(Effect.zipRight(Effect.sleep(Duration.millis(step.downMs)), b.cluster.restartCoordinator)))
          break
        }
        case "tick":
          yield* TestClock.adjust(Duration.millis(step.ms))
          break
      }
    }
    // Heal: no more message loss, every process back up, then run to quiescence.
    b.cluster.network.faults = { delayMs: [0, schedule.maxDelayMs] }
    for (let i = 0; i < 200 && restarts.some((f) => f.unsafePoll() === null); i++) yield* TestClock.adjust("2 millis")
    yield* b.cluster.restartCoordinator
    for (const p of [...b.procs, proc.handle]) if (!p.alive()) yield* Effect.fork(p.restart)
    for (let i = 0; i < 600 && producing.some((f) => f.unsafePoll() === null); i++) yield* TestClock.adjust("5 millis")
    const problems: Array<string> = []
    const stuck = producing.filter((f) => f.unsafePoll() === null).length
    if (stuck > 0 && process.env.DSE_PROPERTY_DEBUG) {
      console.log("alive", b.procs.map((p) => p.alive()), proc.handle.alive(), "coordinator", b.cluster.coordinatorUp)
      console.log(JSON.stringify(yield* Effect.either(b.cluster.coordinator.client.status)))
      for (const [name, node] of b.live) for (const p of node.partitions) console.log(name, JSON.stringify(p.stateObject.stats()))
    }
    if (stuck > 0) problems.push(`${stuck} produce fibers still running after healing`)
    const want = Sensor.expected(readings, 1_000_000)
    let diff: Array<string> = ["not checked"]
    for (let round = 0; round < 40 && diff.length > 0; round++) {
      yield* TestClock.adjust("25 millis")
      yield* TestClock.adjust("25 millis")
      diff = Sensor.check({ ...want, alerts: new Map(), alertCount: 0 }, yield* readAll(b, "totals"), [])
    }
    problems.push(...diff, ...proc.failures.map((f) => `processor failed: ${f}`))
    return { problems, readings: readings.length, crashes, reruns }
  }).pipe(Effect.scoped, Effect.withRandom(Random.make(schedule.seed)), Effect.provide(TestContext.TestContext))

const runs = Number(process.env.DSE_PROPERTY_RUNS ?? 5)
const seed = process.env.DSE_PROPERTY_SEED !== undefined ? Number(process.env.DSE_PROPERTY_SEED) : undefined
const path = process.env.DSE_PROPERTY_PATH

describe("a 2-stage pipeline under random crashes (property)", () => {
  it(`${runs} random schedules: the committed sink sees each expected output exactly once`, async () => {
    let totalReadings = 0
    let totalCrashes = 0
    await fc.assert(
      fc.asyncProperty(scheduleArb, async (schedule) => {
        const result = await Effect.runPromise(runSchedule(schedule))
        totalReadings += result.readings
        totalCrashes += result.crashes
        if (result.problems.length > 0) throw new Error(`problems:\n  ${result.problems.slice(0, 10).join("\n  ")}`)
      }),
      { numRuns: runs, ...(seed !== undefined ? { seed } : {}), ...(path !== undefined ? { path } : {}), endOnFailure: true }
    )
    console.log(`pipeline property: ${runs} schedules, ${totalReadings} readings, ${totalCrashes} crashes`)
    expect(totalReadings).toBeGreaterThan(0)
    expect(totalCrashes).toBeGreaterThan(0)
  }, 900_000)
})
