/**
 * Consumers: speculative subscriptions (events at once, tagged with their dependency; a rollback
 * ends them), committed subscriptions (only committed events, in order, resuming across broker
 * restarts without gaps or repeats), consumer-group offsets, and the durable mode.
 */
import { describe, expect, it } from "@effect/vitest"
import { Dse } from "@dse/core"
import { Effect, Either, Fiber, Stream } from "effect"
import type { Delivered } from "../src/BrokerClient"
import type { EventBatch } from "../src/BrokerModel"
import { drive, driveUntil, restart, settle, setup } from "./support"

const topics = [{ name: "t", partitions: 1 }]

describe("subscriptions", () => {
  it.scoped("speculative events flow at once, tagged; committed ones only once their version commits", () =>
    Effect.gen(function* () {
      const b = yield* setup({ topics, cluster: { sealPeriod: "300 millis", persistDelay: "1 millis" } })
      const spec: Array<EventBatch> = []
      const committed: Array<{ readonly event: Delivered; readonly committedVersion: number }> = []
      const so = () => b.partition("t", 0).stateObject
      yield* b.fork(Stream.runForEach(b.broker.subscribe({ topic: "t", partition: 0, from: 0, mode: "speculative", worldLine: 1 }), (x) => Effect.sync(() => spec.push(x))))
      // Produced speculatively: nobody waits for its commit.
      yield* b.run(Dse.sthread(b.broker.produce("t", [{ value: "a" }, { value: "b" }])))
      yield* settle(5)
      expect(spec.flatMap((batch) => batch.events.map((e) => e.value))).toEqual(["a", "b"])
      const tagged = spec[0]!
      expect(tagged.events[0]!.version).toBeGreaterThan(tagged.committed)
      expect(tagged.worker).toBe(so().id)
      expect(so().stats().committed).toBeLessThan(tagged.events[0]!.version)
      // A committed consumer gets them only once their version committed (its wait asks for the seal).
      yield* b.fork(
        Stream.runForEach(b.broker.consume("t", 0, { from: 0 }), (event) =>
          Effect.sync(() => committed.push({ event, committedVersion: so().stats().committed }))
        )
      )
      yield* driveUntil(() => committed.length === 2, 1, 100)
      expect(committed.map((c) => c.event.value)).toEqual(["a", "b"])
      expect(committed.map((c) => c.event.offset)).toEqual([0, 1])
      for (const c of committed) expect(c.committedVersion).toBeGreaterThanOrEqual(c.event.version)
    })
  )

  it.scoped("a speculative subscription ends with RolledBack when its partition rolls back; committed readers never see lost events", () =>
    Effect.gen(function* () {
      const b = yield* setup({ topics, cluster: { sealPeriod: "300 millis", persistDelay: "1 millis" } })
      yield* b.run(b.broker.produce("t", { value: "kept" }))
      const spec: Array<unknown> = []
      const fiber = yield* b.fork(
        // Resubscribes when the broker goes away, and ends when what it read speculatively is lost.
        Stream.runForEach(b.broker.consume("t", 0, { from: 0, mode: "speculative", worldLine: 1 }), (event) =>
          Effect.sync(() => spec.push(event.value))
        )
      )
      yield* b.run(Dse.sthread(b.broker.produce("t", { value: "lost" })))
      yield* settle(5)
      expect(spec).toEqual(["kept", "lost"])
      yield* b.procs[0]!.crash
      yield* restart(b.procs[0]!)
      const ended = yield* drive(yield* Effect.fork(Effect.either(Fiber.join(fiber))))
      expect(Either.isLeft(ended) && ended.left._tag).toBe("RolledBack")
      yield* b.run(b.broker.produce("t", { value: "after" }))
      const committed: Array<Delivered> = []
      yield* b.fork(Stream.runForEach(b.broker.consume("t", 0, { from: 0 }), (x) => Effect.sync(() => committed.push(x))))
      yield* driveUntil(() => committed.length >= 2, 10, 100)
      expect(committed.map((e) => e.value)).toEqual(["kept", "after"])
    })
  )

  it.scoped("a committed consumer resumes after a broker crash with no gap and no repeat", () =>
    Effect.gen(function* () {
      const b = yield* setup({ topics, cluster: { persistDelay: "1 millis" } })
      const seen: Array<Delivered> = []
      yield* b.fork(Stream.runForEach(b.broker.consume("t", 0, { from: 0, maxEvents: 3 }), (x) => Effect.sync(() => seen.push(x))))
      const producer = b.broker.producer("p")
      const produced = yield* b.fork(Effect.forEach(Array.from({ length: 40 }, (_, i) => i), (i) => producer.send("t", { value: i }), { discard: true }))
      yield* settle(15)
      yield* b.procs[0]!.crash
      yield* settle(10)
      yield* restart(b.procs[0]!)
      yield* drive(produced)
      yield* driveUntil(() => seen.length >= 40, 10, 200)
      yield* settle(50)
      expect(seen.map((e) => e.value)).toEqual(Array.from({ length: 40 }, (_, i) => i))
      expect(seen.map((e) => e.offset)).toEqual(Array.from({ length: 40 }, (_, i) => i))
    })
  )

  it.scoped("a consumer group's offset is kept by the broker: consumption resumes from it", () =>
    Effect.gen(function* () {
      const b = yield* setup({ topics })
      yield* b.run(b.broker.produce("t", [1, 2, 3, 4, 5].map((value) => ({ value }))))
      yield* b.run(b.broker.commitOffset({ topic: "t", partition: 0, group: "g", offset: 3 }))
      const seen: Array<Delivered> = []
      yield* b.fork(Stream.runForEach(b.broker.consume("t", 0, { group: "g" }), (x) => Effect.sync(() => seen.push(x))))
      yield* driveUntil(() => seen.length >= 2, 5, 100)
      expect(seen.map((e) => e.value)).toEqual([4, 5])
    })
  )

  it.scoped("reading outside the partition's range is a typed error", () =>
    Effect.gen(function* () {
      const b = yield* setup({ topics })
      yield* b.run(b.broker.produce("t", { value: 1 }))
      const e = yield* b.run(Effect.flip(b.broker.fetch({ topic: "t", partition: 0, from: 5, mode: "committed" })))
      expect(e).toMatchObject({ _tag: "OffsetOutOfRange", offset: 5, start: 0, end: 1 })
      const bad = yield* b.run(Effect.flip(b.broker.fetch({ topic: "t", partition: 3, from: 0, mode: "committed" })))
      expect(bad._tag).toBe("UnknownPartition")
    })
  )

  it.scoped("a speculative fetch from outside the domain is answered only once its events committed", () =>
    Effect.gen(function* () {
      const b = yield* setup({ topics, cluster: { sealPeriod: "300 millis" } })
      yield* b.run(Dse.sthread(b.broker.produce("t", { value: "s" })))
      // No sthread, no world-line: the caller is outside; Dse.serve holds the reply until commit.
      const fiber = yield* b.fork(b.broker.fetch({ topic: "t", partition: 0, from: 0, mode: "speculative" }))
      const batch = yield* drive(fiber, 1)
      expect(batch.events.map((e) => e.value)).toEqual(["s"])
      expect(b.partition("t", 0).stateObject.stats().committed).toBeGreaterThanOrEqual(batch.events[0]!.version)
    })
  )

  it.scoped("durable mode: every produce is persisted before it is answered, and readers see only persisted events", () =>
    Effect.gen(function* () {
      const b = yield* setup({ topics, cluster: { mode: "durable", persistDelay: "3 millis" } })
      const spec: Array<unknown> = []
      yield* b.fork(
        Stream.runForEach(b.broker.subscribe({ topic: "t", partition: 0, from: 0, mode: "speculative", worldLine: 1 }), (batch) =>
          Effect.sync(() => spec.push(...batch.events.map((e) => e.value)))
        )
      )
      const fiber = yield* b.fork(b.broker.produce("t", { value: "d" }))
      yield* settle(1)
      expect(spec).toEqual([])
      const result = yield* drive(fiber, 1)
      expect(result.offsets).toEqual([0])
      yield* settle(5)
      expect(spec).toEqual(["d"])
      // It survives a crash at once (it was persisted before the reply).
      yield* b.procs[0]!.crash
      yield* restart(b.procs[0]!)
      expect(b.partition("t", 0).events().map((e) => e.value)).toEqual(["d"])
    })
  )
})
