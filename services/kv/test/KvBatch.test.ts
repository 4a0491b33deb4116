/**
 * Batches: several puts and deletes of one shard in one Action, all or nothing.
 */
import { describe, expect, it } from "@effect/vitest"
import { Dse } from "@dse/core"
import { Effect, Option } from "effect"
import type { BatchOp } from "../src/KvModel"
import { keyOn, restart, setupKv } from "./support"

const put = (key: string, value: unknown): BatchOp => ({ _tag: "Put", key, value })
const del = (key: string): BatchOp => ({ _tag: "Delete", key })

describe("batch", () => {
  it.scoped("applies every write in order under one revision", () =>
    Effect.gen(function* () {
      const { kv, run, live } = yield* setupKv()
      yield* run(kv.put("gone", 0))
      const result = yield* run(kv.batch([put("a", 1), put("b", 2), del("gone"), put("a", 3), del("never")]))
      expect(result).toEqual({ revision: 2, existed: [false, false, true, true, false] })
      expect(live[0]!.dump()).toEqual([
        { key: "a", value: 3, revision: 2 },
        { key: "b", value: 2, revision: 2 }
      ])
    })
  )

  it.scoped("one invalid write rejects the whole batch: nothing is applied", () =>
    Effect.gen(function* () {
      const { kv, run, live } = yield* setupKv({ shard: { limits: { maxValueBytes: 16 } } })
      yield* run(kv.put("a", "before"))
      const bad: ReadonlyArray<ReadonlyArray<BatchOp>> = [
        [put("a", "after"), put("b", "x".repeat(20))],
        [put("a", "after"), put("b", Number.NaN)],
        [put("a", "after"), del("")]
      ]
      for (const ops of bad) {
        const error = yield* run(Effect.flip(kv.batch(ops)))
        expect(["ValueTooLarge", "NotJsonValue", "InvalidKey"]).toContain(error._tag)
      }
      expect(live[0]!.dump()).toEqual([{ key: "a", value: "before", revision: 1 }])
    })
  )

  it.scoped("keys on different shards are refused with CrossShardOperation (atomic only per shard)", () =>
    Effect.gen(function* () {
      const { kv, run, live } = yield* setupKv({ shards: 3 })
      const a = keyOn(0, 3)
      const b = keyOn(2, 3)
      expect(yield* run(Effect.flip(kv.batch([put(a, 1), put(b, 1)])))).toMatchObject({ _tag: "CrossShardOperation", shards: [0, 2] })
      expect(live.flatMap((s) => s.dump())).toEqual([])
      // A hash tag co-locates keys: the batch then goes to one shard.
      yield* run(kv.batch([put("order:{42}", 1), put("order-lines:{42}", [1, 2])]))
      expect(kv.shardOf("order:{42}")).toBe(kv.shardOf("order-lines:{42}"))
    })
  )

  it.scoped("a batch is rolled back whole: after a crash before commit, none of its writes is visible", () =>
    Effect.gen(function* () {
      const { kv, run, procs, live } = yield* setupKv({ cluster: { persistDelay: "100 millis" } })
      yield* run(kv.put("a", 0))
      yield* run(Dse.sthread(kv.batch([put("a", 1), put("b", 1), put("c", 1)])))
      expect(live[0]!.dump().map((e) => e.value)).toEqual([1, 1, 1])
      yield* procs[0]!.crash
      yield* restart(procs[0]!)
      expect(live[0]!.dump()).toEqual([{ key: "a", value: 0, revision: 1 }])
      // Committed batches survive whole.
      yield* run(kv.batch([put("a", 2), put("b", 2)]))
      yield* procs[0]!.crash
      yield* restart(procs[0]!)
      expect(live[0]!.dump().map((e) => [e.key, e.value])).toEqual([["a", 2], ["b", 2]])
      expect(yield* run(kv.get("c"))).toEqual(Option.none())
    })
  )
})
