/**
 * The processor library: stepping, state held by the broker, fencing of an older instance, retry
 * and re-delivery after a rollback, resubscription after a broker or processor crash, handler
 * failures, and pipelines — each output exactly once in the committed sink.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type { Delivered } from "../src/BrokerClient"
import * as Pipeline from "../src/Pipeline"
import * as Processor from "../src/Processor"
import * as Sensor from "./fixtures/sensorPipeline"
import type { BrokerCluster } from "./support"
import { drive, driveUntil, readCommitted, restart, settle, setup } from "./support"

const readAll = (b: BrokerCluster, topic: string) =>
  Effect.gen(function* () {
    const out: Array<Delivered> = []
    for (let p = 0; p < b.topics.get(topic)!.partitions; p++) out.push(...(yield* b.run(readCommitted(b.broker, topic, p))))
    return out
  })

/** Produces `readings` from outside the domain with an idempotent producer (in the client process). */
const produceReadings = (b: BrokerCluster, readings: ReadonlyArray<Sensor.Reading>, id = "source") => {
  const producer = b.broker.producer(id)
  return b.fork(
    Effect.forEach(readings, (r) => producer.send("readings", { key: r.key, value: { key: r.key, amount: r.amount } }), {
      discard: true
    })
  )
}

const readingsOf = (n: number, keys = 4): Array<Sensor.Reading> =>
  Array.from({ length: n }, (_, i) => ({ key: `k${i % keys}`, amount: ((i * 7) % 11) - 2 }))

/** An outside sink group at offset 0 on every partition of `topic`: retention keeps what it has not consumed. */
const holdRetention = (b: BrokerCluster, topic: string) =>
  Effect.forEach(
    Array.from({ length: b.topics.get(topic)!.partitions }, (_, p) => p),
    (p) => b.run(b.broker.commitOffset({ topic, partition: p, group: "sink", offset: 0 })),
    { discard: true }
  )

/** Waits until the committed sink holds what `expected` says (or the budget runs out), then checks. */
const settleAndCheck = (b: BrokerCluster, expected: Sensor.Expected, maxSteps = 300) =>
  Effect.gen(function* () {
    let problems: Array<string> = ["not checked"]
    for (let i = 0; i < maxSteps && problems.length > 0; i += 10) {
      yield* driveUntil(() => false, 10, 10)
      problems = Sensor.check(expected, yield* readAll(b, "totals"), yield* readAll(b, "alerts"))
    }
    return problems
  })

describe("processor library", () => {
  it.scoped("a stateless stage turns each input into its output once", () =>
    Effect.gen(function* () {
      const b = yield* setup({ topics: [{ name: "in", partitions: 2 }, { name: "out", partitions: 3 }] })
      yield* b.spawnProcessor("proc", {
        name: "double",
        input: "in",
        output: "out",
        handler: (event) => Effect.succeed({ key: event.key!, value: (event.value as number) * 2 })
      })
      for (let i = 0; i < 20; i++) yield* b.run(b.broker.produce("in", { key: `k${i}`, value: i }))
      yield* driveUntil(() => false, 10, 30)
      const values = (yield* readAll(b, "out")).map((e) => e.value as number).sort((x, y) => x - y)
      expect(values).toEqual(Array.from({ length: 20 }, (_, i) => i * 2))
    })
  )

  it.scoped("a stateful stage keeps its state in the broker: a processor crash and restart does not lose or double count", () =>
    Effect.gen(function* () {
      const b = yield* setup({
        topics: Sensor.topics(2),
        brokers: [{ name: "broker-0" }],
        cluster: { persistDelay: "1 millis", sealPeriod: "20 millis" }
      })
      yield* holdRetention(b, "totals")
      const readings = readingsOf(60)
      const { totals } = Sensor.stages({ threshold: 50, maxBatch: 4 })
      const clean = Sensor.stages({ threshold: 50, maxBatch: 4 }).clean
      yield* b.spawnProcessor("clean", clean.options)
      const proc = yield* b.spawnProcessor("totals", totals.options)
      const producing = yield* produceReadings(b, readings)
      yield* settle(20)
      yield* proc.handle.crash
      yield* settle(20)
      yield* restart(proc.handle)
      yield* drive(producing)
      const want = Sensor.expected(readings, 50)
      let problems: Array<string> = ["not checked"]
      for (let i = 0; i < 30 && problems.length > 0; i++) {
        yield* driveUntil(() => false, 10, 10)
        problems = Sensor.check({ ...want, alerts: new Map(), alertCount: 0 }, yield* readAll(b, "totals"), [])
      }
      expect(problems).toEqual([])
      expect(proc.failures).toEqual([])
    })
  )

  it.scoped("a newer instance fences the older one out: the old one stops with Fenced, the new one carries on", () =>
    Effect.gen(function* () {
      const b = yield* setup({ topics: [{ name: "in", partitions: 1 }, { name: "out", partitions: 1 }] })
      const handled: Array<string> = []
      const options = (who: string): Processor.ProcessorOptions<unknown, never, never> => ({
        name: "p",
        input: "in",
        output: "out",
        maxBatch: 1,
        handler: (event) =>
          Effect.sync(() => {
            handled.push(who)
            return { value: event.value }
          })
      })
      const first = yield* b.spawnProcessor("first", options("first"))
      for (let i = 0; i < 5; i++) yield* b.run(b.broker.produce("in", { value: i }))
      yield* driveUntil(() => handled.length >= 5, 5, 100)
      const second = yield* b.spawnProcessor("second", options("second"))
      yield* settle(50)
      for (let i = 5; i < 10; i++) yield* b.run(b.broker.produce("in", { value: i }))
      yield* driveUntil(() => false, 10, 30)
      expect(first.failures.join("\n")).toContain("Fenced")
      expect(second.failures).toEqual([])
      // The fenced instance may have run its handler on a few events, but none of its steps after the fence counted.
      expect(handled.filter((w) => w === "second").length).toBeGreaterThanOrEqual(5)
      const out = (yield* readAll(b, "out")).map((e) => e.value)
      expect(out).toEqual(Array.from({ length: 10 }, (_, i) => i))
    })
  )

  it.scoped("after a rollback, speculatively consumed events are delivered again and affect the output exactly once", () =>
    Effect.gen(function* () {
      const b = yield* setup({
        topics: [{ name: "in", partitions: 1 }, { name: "out", partitions: 1 }],
        brokers: [
          { name: "broker-in", hosts: (t) => t === "in" },
          { name: "broker-out", hosts: (t) => t === "out" }
        ],
        cluster: { persistDelay: "2 millis", sealPeriod: "300 millis" }
      })
      const handled: Array<number> = []
      const restarts: Array<string> = []
      yield* b.spawnProcessor("proc", {
        name: "p",
        input: "in",
        output: "out",
        maxBatch: 2,
        handler: (event) =>
          Effect.sync(() => {
            handled.push(event.value as number)
            return { value: event.value }
          }),
        onRestart: (_, reason) => restarts.push(reason)
      })
      // Committed inputs (from outside); their consumption is speculative (seal period 300 ms).
      yield* b.run(b.broker.produce("in", [1, 2, 3, 4, 5, 6].map((value) => ({ value }))))
      yield* driveUntil(() => handled.length >= 6, 1, 100)
      const before = handled.length
      yield* b.procs[0]!.crash
      yield* restart(b.procs[0]!)
      yield* driveUntil(() => false, 10, 60)
      // The handler saw events again: their consumption was lost in the rollback.
      expect(handled.length).toBeGreaterThan(before)
      expect(restarts.length).toBeGreaterThan(0)
      const out = (yield* readAll(b, "out")).map((e) => e.value)
      expect(out).toEqual([1, 2, 3, 4, 5, 6])
    })
  )

  it.scoped("a handler failure ends the processor with that failure", () =>
    Effect.gen(function* () {
      const b = yield* setup({ topics: [{ name: "in", partitions: 1 }] })
      const proc = yield* b.spawnProcessor("proc", {
        name: "p",
        input: "in",
        handler: (event) => (event.value === "poison" ? Effect.fail("bad event") : Effect.void)
      })
      yield* b.run(b.broker.produce("in", [{ value: "ok" }, { value: "poison" }]))
      yield* driveUntil(() => proc.failures.length > 0, 5, 100)
      expect(proc.failures.join("\n")).toContain("bad event")
      // The poison event was not consumed: a fixed processor starts from it.
      expect(yield* b.run(b.broker.getOffset({ topic: "in", partition: 0, group: "p" }))).toMatchObject({ offset: 0 })
    })
  )

  it.scoped("an output to an unknown topic ends the processor with a typed error", () =>
    Effect.gen(function* () {
      const b = yield* setup({ topics: [{ name: "in", partitions: 1 }] })
      const proc = yield* b.spawnProcessor("proc", {
        name: "p",
        input: "in",
        handler: () => Effect.succeed({ topic: "nowhere", value: 1 })
      })
      yield* b.run(b.broker.produce("in", { value: 1 }))
      yield* driveUntil(() => proc.failures.length > 0, 5, 100)
      expect(proc.failures.join("\n")).toContain("UnknownTopic")
    })
  )

  it("Pipeline.make checks its stages", () => {
    const s = Sensor.stages({ threshold: 10 })
    expect(() => Pipeline.make([s.clean, s.alerts])).toThrow(/writes clean but the next stage alerts reads totals/)
    expect(() => Pipeline.make([s.clean, s.clean])).toThrow(/two stages are named clean/)
    expect(() => Pipeline.make([])).toThrow()
    expect(Pipeline.make([s.clean, s.totals, s.alerts]).stages.length).toBe(3)
  })
})

describe("pipelines", () => {
  it.scoped("3 stages over 2 broker processes; a broker and the processors crash mid-stream; the sink sees each output once", () =>
    Effect.gen(function* () {
      const b = yield* setup({
        topics: Sensor.topics(2),
        brokers: [
          { name: "broker-a", hosts: (t) => t === "readings" || t === "totals" },
          { name: "broker-b", hosts: (t) => t === "clean" || t === "alerts" }
        ],
        cluster: { persistDelay: "1 millis", sealPeriod: "20 millis" }
      })
      yield* holdRetention(b, "totals")
      yield* holdRetention(b, "alerts")
      const threshold = 40
      const readings = readingsOf(120, 5)
      const proc = yield* b.spawnPipeline("pipeline", Sensor.pipeline({ threshold, maxBatch: 8 }))
      const producing = yield* produceReadings(b, readings)
      yield* settle(15)
      yield* b.procs[1]!.crash
      yield* settle(5)
      yield* restart(b.procs[1]!)
      yield* settle(10)
      yield* proc.handle.crash
      yield* settle(10)
      yield* restart(proc.handle)
      yield* b.procs[0]!.crash
      yield* settle(3)
      yield* restart(b.procs[0]!)
      yield* drive(producing)
      const problems = yield* settleAndCheck(b, Sensor.expected(readings, threshold))
      expect(problems).toEqual([])
      expect(proc.failures).toEqual([])
      expect(Sensor.expected(readings, threshold).alertCount).toBeGreaterThan(5)
    })
  , 120_000)

  it.scoped("the same pipeline code in durable mode: the same outputs, exactly once", () =>
    Effect.gen(function* () {
      const b = yield* setup({ topics: Sensor.topics(2), cluster: { mode: "durable", persistDelay: "1 millis" } })
      yield* holdRetention(b, "totals")
      yield* holdRetention(b, "alerts")
      const readings = readingsOf(40, 3)
      const proc = yield* b.spawnPipeline("pipeline", Sensor.pipeline({ threshold: 30 }))
      const producing = yield* produceReadings(b, readings)
      yield* settle(10)
      yield* b.procs[0]!.crash
      yield* restart(b.procs[0]!)
      yield* drive(producing)
      expect(yield* settleAndCheck(b, Sensor.expected(readings, 30))).toEqual([])
      expect(proc.failures).toEqual([])
    })
  , 120_000)
})
