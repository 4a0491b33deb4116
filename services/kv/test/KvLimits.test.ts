/**
 * Bad input gets a typed error, decided before any Action runs, and changes nothing.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { setupKv } from "./support"

const small = { limits: { maxKeyBytes: 16, maxValueBytes: 64, maxBatchOps: 3, maxBatchBytes: 100, maxDepth: 4, maxScanLimit: 10 } }

describe("limits and bad input", () => {
  it.scoped("a key longer than the limit (in UTF-8 bytes) fails with KeyTooLong", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv({ shard: small })
      yield* run(kv.put("x".repeat(16), 1))
      expect(yield* run(Effect.flip(kv.put("x".repeat(17), 1)))).toMatchObject({ _tag: "KeyTooLong", size: 17, limit: 16 })
      // Five 3-byte characters and a 2-byte one: 17 bytes in 6 characters.
      expect(yield* run(Effect.flip(kv.get("✓✓✓✓✓é")))).toMatchObject({ _tag: "KeyTooLong", size: 17 })
      expect(yield* run(Effect.flip(kv.scan("p".repeat(17))))).toMatchObject({ _tag: "KeyTooLong" })
    })
  )

  it.scoped("an empty key fails with InvalidKey", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv()
      expect(yield* run(Effect.flip(kv.put("", 1)))).toMatchObject({ _tag: "InvalidKey" })
      expect(yield* run(Effect.flip(kv.get("")))).toMatchObject({ _tag: "InvalidKey" })
    })
  )

  it.scoped("a value whose JSON is larger than the limit fails with ValueTooLarge and is not stored", () =>
    Effect.gen(function* () {
      const { kv, run, live } = yield* setupKv({ shard: small })
      // JSON text of "a…a" is the string plus its two quotes.
      yield* run(kv.put("ok", "a".repeat(62)))
      expect(yield* run(Effect.flip(kv.put("big", "a".repeat(63))))).toMatchObject({ _tag: "ValueTooLarge", key: "big", size: 65, limit: 64 })
      expect(yield* run(kv.get("big"))).toEqual(Option.none())
      expect(live[0]!.stats().revision).toBe(1)
    })
  )

  it.scoped("an update that would grow a record past the limit fails with ValueTooLarge and changes nothing", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv({ shard: small })
      yield* run(kv.put("r", { a: "x".repeat(40) }))
      const error = yield* run(Effect.flip(kv.update("r", { _tag: "SetFields", set: { b: "y".repeat(20) } })))
      expect(error).toMatchObject({ _tag: "ValueTooLarge", key: "r" })
      expect(yield* run(kv.get("r"))).toEqual(Option.some({ value: { a: "x".repeat(40) }, revision: 1 }))
    })
  )

  it.scoped("values that are not JSON fail with NotJsonValue, naming where", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv({ shard: small })
      const bad: Array<[unknown, string]> = [
        [Number.NaN, "$"],
        [{ a: Number.POSITIVE_INFINITY }, "$.a"],
        [{ a: [1, undefined] }, "$.a[1]"],
        [{ when: new Date(0) }, "$.when"],
        [new Map(), "$"],
        [{ a: { b: { c: { d: { e: 1 } } } } }, "$.a.b.c.d"],
        [BigInt(1), "$"]
      ]
      for (const [value, path] of bad) {
        const error = yield* run(Effect.flip(kv.put("k", value as never)))
        expect(error).toMatchObject({ _tag: "NotJsonValue", key: "k", path })
      }
      expect(yield* run(kv.get("k"))).toEqual(Option.none())
    })
  )

  it.scoped("bad numbers and idempotency keys fail with InvalidRequest", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv()
      expect(yield* run(Effect.flip(kv.increment("n", undefined, Number.NaN)))).toMatchObject({ _tag: "InvalidRequest" })
      expect(yield* run(Effect.flip(kv.put("k", 1, { idempotencyKey: "" })))).toMatchObject({ _tag: "InvalidRequest" })
      expect(yield* run(Effect.flip(kv.put("k", 1, { idempotencyKey: "i".repeat(257) })))).toMatchObject({ _tag: "InvalidRequest" })
      expect(
        yield* run(Effect.flip(kv.reserve({ key: "{h}s", field: "n", amount: 0, reservationKey: "{h}r" })))
      ).toMatchObject({ _tag: "InvalidRequest" })
      expect(yield* run(kv.get("k"))).toEqual(Option.none())
    })
  )

  it.scoped("a batch over the op or byte limit, or empty, fails with InvalidRequest and writes nothing", () =>
    Effect.gen(function* () {
      const { kv, run, live } = yield* setupKv({ shard: small })
      const put = (key: string, value: unknown) => ({ _tag: "Put" as const, key, value })
      expect(yield* run(Effect.flip(kv.batch([put("a", 1), put("b", 1), put("c", 1), put("d", 1)])))).toMatchObject({
        _tag: "InvalidRequest"
      })
      expect(yield* run(Effect.flip(kv.batch([put("a", "x".repeat(50)), put("b", "x".repeat(50))])))).toMatchObject({
        _tag: "InvalidRequest"
      })
      expect(yield* run(Effect.flip(kv.batch([])))).toMatchObject({ _tag: "InvalidRequest" })
      expect(live[0]!.dump()).toEqual([])
    })
  )
})
