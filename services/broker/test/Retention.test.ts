/**
 * Retention: a partition truncates the prefix of its log that every consumer group has consumed,
 * with that consumption committed, and whose events have committed — and nothing else — so that
 * storage does not grow without bound.
 */
import { describe, expect, it } from "@effect/vitest"
import { Dse } from "@dse/core"
import { Effect } from "effect"
import * as Topics from "../src/Topics"
import { driveUntil, settle, setup } from "./support"

const topics = [{ name: "t", partitions: 1 }]
/** Retention passes only when the test asks (`truncate`). */
const manual = { retention: { interval: "1 hours" } } as const

describe("retention", () => {
  it.scoped("the prefix every group consumed (committed) is truncated; reading it is OffsetOutOfRange", () =>
    Effect.gen(function* () {
      const b = yield* setup({ topics, broker: manual })
      yield* b.run(b.broker.produce("t", Array.from({ length: 10 }, (_, i) => ({ value: i }))))
      yield* b.run(b.broker.commitOffset({ topic: "t", partition: 0, group: "g1", offset: 6 }))
      yield* b.run(b.broker.commitOffset({ topic: "t", partition: 0, group: "g2", offset: 8 }))
      const removed = yield* b.run(b.partition("t", 0).truncate)
      expect(removed).toBe(6)
      const info = yield* b.run(b.broker.info("t", 0))
      expect(info).toMatchObject({ start: 6, end: 10 })
      const gone = yield* b.run(Effect.flip(b.broker.fetch({ topic: "t", partition: 0, from: 2, mode: "committed" })))
      expect(gone).toMatchObject({ _tag: "OffsetOutOfRange", start: 6 })
      const rest = yield* b.run(b.broker.fetch({ topic: "t", partition: 0, from: 6, mode: "committed" }))
      expect(rest.events.map((e) => e.value)).toEqual([6, 7, 8, 9])
      // The slowest group holds the rest.
      expect(yield* b.run(b.partition("t", 0).truncate)).toBe(0)
      yield* b.run(b.broker.commitOffset({ topic: "t", partition: 0, group: "g1", offset: 10 }))
      expect(yield* b.run(b.partition("t", 0).truncate)).toBe(2)
    })
  )

  it.scoped("nothing is truncated while no group has consumed anything", () =>
    Effect.gen(function* () {
      const b = yield* setup({ topics, broker: manual })
      yield* b.run(b.broker.produce("t", [{ value: 1 }, { value: 2 }]))
      expect(yield* b.run(b.partition("t", 0).truncate)).toBe(0)
      yield* b.run(b.broker.register({ topic: "t", partition: 0, processor: "p" }))
      expect(yield* b.run(b.partition("t", 0).truncate)).toBe(0)
    })
  )

  it.scoped("a consumption that has not committed yet holds retention back until it commits", () =>
    Effect.gen(function* () {
      const b = yield* setup({ topics, broker: manual, cluster: { sealPeriod: "1 hours" } })
      yield* b.run(b.broker.produce("t", Array.from({ length: 5 }, (_, i) => ({ value: i }))))
      // Speculative (inside an sthread): the new offset is not committed yet.
      yield* b.run(Dse.sthread(b.broker.commitOffset({ topic: "t", partition: 0, group: "g", offset: 4 })))
      const so = b.partition("t", 0).stateObject
      expect(so.state.groups.get("g")?.offset).toBe(4)
      expect(so.stats().committed).toBeLessThan(so.stats().version)
      expect(yield* b.run(b.partition("t", 0).truncate)).toBe(0)
      // Once the offset's version commits, its prefix goes.
      yield* b.run(Effect.zipRight(so.seal, Effect.void))
      yield* driveUntil(() => so.stats().committed >= so.stats().version - 1, 1, 50)
      expect(yield* b.run(b.partition("t", 0).truncate)).toBe(4)
    })
  )

  it.scoped("processors drive retention too: a consumed pipeline topic does not grow", () =>
    Effect.gen(function* () {
      const b = yield* setup({ topics: [{ name: "in", partitions: 1 }, { name: "out", partitions: 1 }], broker: { retention: { interval: "50 millis" } } })
      yield* b.spawnProcessor("proc", { name: "p", input: "in", output: "out", handler: (e) => Effect.succeed({ value: e.value }) })
      for (let i = 0; i < 30; i++) yield* b.run(b.broker.produce("in", { value: i }))
      yield* driveUntil(() => b.partition("in", 0).stateObject.state.meta.get().start === 30, 10, 100)
      expect(b.partition("in", 0).stateObject.state.meta.get()).toEqual({ start: 30, end: 30 })
      expect(b.partition("in", 0).events()).toEqual([])
    })
  )

  it.scoped("storage stays bounded over many produce/consume rounds (checkpoints fold truncated events away)", () =>
    Effect.gen(function* () {
      const b = yield* setup({ topics, broker: { retention: { interval: "20 millis" } } })
      const payload = "x".repeat(1000)
      const worker = Topics.workerName("t", 0)
      const sizes: Array<number> = []
      let offset = 0
      const rounds = 24
      for (let round = 0; round < rounds; round++) {
        yield* b.run(b.broker.produce("t", Array.from({ length: 40 }, () => ({ value: payload }))))
        offset += 40
        yield* b.run(b.broker.commitOffset({ topic: "t", partition: 0, group: "g", offset }))
        yield* settle(60)
        sizes.push((yield* b.run(b.store(worker)!.stats)).bytes)
      }
      // ~1 MB of events went through; the store holds at most the events between two prunes
      // (core prunes every 32 committed versions), and drops back after each prune.
      const written = rounds * 40 * payload.length
      expect(Math.max(...sizes)).toBeLessThan(written / 2)
      expect(Math.min(...sizes.slice(rounds / 2))).toBeLessThan(100_000)
      expect(b.partition("t", 0).stateObject.state.log.size).toBeLessThan(80)
    })
  )
})
