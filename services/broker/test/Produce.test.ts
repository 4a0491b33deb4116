/**
 * Produce: batches, ordering per partition, key routing, producer id + sequence dedup (also
 * across a broker crash), and the typed refusals of bad input.
 */
import { describe, expect, it } from "@effect/vitest"
import { Dse } from "@dse/core"
import { Effect, Either } from "effect"
import * as Topics from "../src/Topics"
import { readCommitted, restart, settle, setup } from "./support"

const topics = [{ name: "orders", partitions: 3 }]

describe("produce", () => {
  it.scoped("a batch is appended atomically and in order; offsets are consecutive", () =>
    Effect.gen(function* () {
      const b = yield* setup({ topics })
      const first = yield* b.run(b.broker.produce("orders", [{ value: 1 }, { value: 2 }, { value: 3 }], { partition: 1 }))
      const second = yield* b.run(b.broker.produce("orders", { value: 4 }, { partition: 1 }))
      expect(first.offsets).toEqual([0, 1, 2])
      expect(second.offsets).toEqual([3])
      expect(first.duplicate).toBe(false)
      const events = yield* b.run(readCommitted(b.broker, "orders", 1))
      expect(events.map((e) => e.value)).toEqual([1, 2, 3, 4])
      expect(events.map((e) => e.offset)).toEqual([0, 1, 2, 3])
    })
  )

  it.scoped("events with the same key go to the same partition, in the order produced", () =>
    Effect.gen(function* () {
      const b = yield* setup({ topics })
      const keys = ["a", "b", "c", "d", "e"]
      for (let i = 0; i < 20; i++) {
        const key = keys[i % keys.length]!
        yield* b.run(b.broker.produce("orders", { key, value: i }))
      }
      for (const key of keys) {
        const p = Topics.partitionOf(key, 3)
        const events = (yield* b.run(readCommitted(b.broker, "orders", p))).filter((e) => e.key === key)
        const values = events.map((e) => e.value as number)
        expect(values.length).toBe(4)
        expect(values).toEqual([...values].sort((x, y) => x - y))
      }
    })
  )

  it.scoped("producer dedup: a repeated sequence number appends nothing and returns the first offsets", () =>
    Effect.gen(function* () {
      const b = yield* setup({ topics })
      const send = (seq: number, value: number) =>
        b.run(b.broker.produce("orders", { value }, { partition: 0, producerId: "p1", seq }))
      const r1 = yield* send(1, 10)
      const r2 = yield* send(2, 20)
      const again2 = yield* send(2, 20)
      const again1 = yield* send(1, 10)
      expect(r1).toMatchObject({ offsets: [0], duplicate: false })
      expect(r2).toMatchObject({ offsets: [1], duplicate: false })
      expect(again2).toMatchObject({ offsets: [1], duplicate: true })
      expect(again1).toMatchObject({ offsets: [], duplicate: true })
      const gap = yield* b.run(Effect.either(send(5, 50)))
      expect(Either.isLeft(gap) && gap.left._tag).toBe("SequenceGap")
      if (Either.isLeft(gap) && gap.left._tag === "SequenceGap") expect(gap.left.expected).toBe(3)
      // Another producer has its own numbering.
      const other = yield* b.run(b.broker.produce("orders", { value: 99 }, { partition: 0, producerId: "p2", seq: 1 }))
      expect(other.duplicate).toBe(false)
      const values = (yield* b.run(readCommitted(b.broker, "orders", 0))).map((e) => e.value)
      expect(values).toEqual([10, 20, 99])
    })
  )

  it.scoped("producer dedup survives a broker crash: a retry after restart is recognized", () =>
    Effect.gen(function* () {
      const b = yield* setup({ topics, cluster: { persistDelay: "1 millis" } })
      // Outside the domain: the reply is released only after commit.
      yield* b.run(b.broker.produce("orders", { value: "x" }, { partition: 2, producerId: "p", seq: 1 }))
      yield* b.procs[0]!.crash
      yield* restart(b.procs[0]!)
      const again = yield* b.run(b.broker.produce("orders", { value: "x" }, { partition: 2, producerId: "p", seq: 1 }))
      expect(again).toMatchObject({ offsets: [0], duplicate: true })
      const values = (yield* b.run(readCommitted(b.broker, "orders", 2))).map((e) => e.value)
      expect(values).toEqual(["x"])
    })
  )

  it.scoped("the idempotent producer helper retries through a crash and lands every batch once", () =>
    Effect.gen(function* () {
      const b = yield* setup({ topics: [{ name: "t", partitions: 1 }], cluster: { persistDelay: "2 millis" } })
      const producer = b.broker.producer("prod-1")
      const fiber = yield* b.fork(Effect.forEach(Array.from({ length: 30 }, (_, i) => i), (i) => producer.send("t", { value: i }), { discard: true }))
      yield* settle(7)
      yield* b.procs[0]!.crash
      yield* settle(5)
      yield* restart(b.procs[0]!)
      const { drive } = yield* Effect.promise(() => import("./support"))
      yield* drive(fiber)
      const values = (yield* b.run(readCommitted(b.broker, "t", 0))).map((e) => e.value)
      expect(values).toEqual(Array.from({ length: 30 }, (_, i) => i))
    })
  )

  it.scoped("bad input gets a typed error and changes nothing", () =>
    Effect.gen(function* () {
      const b = yield* setup({ topics, broker: { limits: { maxEventBytes: 100 } } })
      const tagOf = <A, E extends { _tag: string }>(effect: Effect.Effect<A, E, Dse.Dse>) =>
        b.run(Effect.map(Effect.flip(effect), (e) => e._tag))
      expect(yield* tagOf(b.broker.produce("nope", { value: 1 }))).toBe("UnknownTopic")
      expect(yield* tagOf(b.broker.produce("orders", { value: 1 }, { partition: 7 }))).toBe("UnknownPartition")
      expect(yield* tagOf(b.broker.produce("orders", { value: "x".repeat(200) }, { partition: 0 }))).toBe("EventTooLarge")
      expect(yield* tagOf(b.broker.produce("orders", [], { partition: 0 }))).toBe("InvalidRequest")
      expect(yield* tagOf(b.broker.produce("orders", { value: Number.NaN }, { partition: 0 }))).toBe("InvalidRequest")
      expect(yield* tagOf(b.broker.produce("orders", { value: 1 }, { partition: 0, producerId: "p" }))).toBe("InvalidRequest")
      expect(yield* tagOf(b.broker.produce("orders", { value: 1 }, { partition: 0, producerId: "@evil", seq: 1 }))).toBe("InvalidRequest")
      const info = yield* b.run(b.broker.info("orders", 0))
      expect(info.end).toBe(0)
    })
  )

  it.scoped("inside an sthread, a produce is speculative: visible at once, committed later", () =>
    Effect.gen(function* () {
      const b = yield* setup({ topics: [{ name: "t", partitions: 1 }], cluster: { sealPeriod: "500 millis" } })
      const [result, thread] = yield* b.run(Dse.sthread(b.broker.produce("t", { value: "spec" })))
      expect(result.offsets).toEqual([0])
      // The producer's sthread depends on the partition's version.
      expect(thread.deps.size).toBe(1)
      const spec = yield* b.run(b.broker.fetch({ topic: "t", partition: 0, from: 0, mode: "speculative", worldLine: 1 }))
      expect(spec.events.map((e) => e.value)).toEqual(["spec"])
      expect(spec.events[0]!.version).toBeGreaterThan(spec.committed)
      // A committed read (outside the domain) waits for the commit, then sees it.
      const committed = yield* b.run(b.broker.fetch({ topic: "t", partition: 0, from: 0, mode: "committed", waitMs: 2000 }))
      expect(committed.events.map((e) => e.value)).toEqual(["spec"])
    })
  )
})
