/**
 * Every operation of the KV, through the client, the in-process network and a cluster of shard
 * processes (calls from outside the DSE domain: each reply is committed).
 */
import { describe, expect, it } from "@effect/vitest"
import { Dse } from "@dse/core"
import { Effect, Option } from "effect"
import { keyOn, setupKv } from "./support"

describe("get / put / delete", () => {
  it.scoped("get of a key never written is None", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv()
      expect(yield* run(kv.get("missing"))).toEqual(Option.none())
    })
  )

  it.scoped("put creates, then overwrites; each write takes the shard's next revision", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv()
      expect(yield* run(kv.put("a", { n: 1 }))).toEqual({ revision: 1, created: true })
      expect(yield* run(kv.put("b", [1, "two", null, true]))).toEqual({ revision: 2, created: true })
      expect(yield* run(kv.put("a", { n: 2 }))).toEqual({ revision: 3, created: false })
      expect(yield* run(kv.get("a"))).toEqual(Option.some({ value: { n: 2 }, revision: 3 }))
      expect(yield* run(kv.get("b"))).toEqual(Option.some({ value: [1, "two", null, true], revision: 2 }))
    })
  )

  it.scoped("null, strings, numbers and nested records are values", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv()
      const values = [null, "", "héllo ✓", 0, -1.5, 1e300, false, { a: { b: { c: [1, { d: null }] } } }]
      for (const [i, v] of values.entries()) yield* run(kv.put(`v${i}`, v))
      for (const [i, v] of values.entries()) expect(Option.map(yield* run(kv.get(`v${i}`)), (e) => e.value)).toEqual(Option.some(v))
    })
  )

  it.scoped("delete removes the key and says whether it existed", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv()
      yield* run(kv.put("a", 1))
      expect(yield* run(kv.delete("a"))).toEqual({ existed: true, revision: 2 })
      expect(yield* run(kv.get("a"))).toEqual(Option.none())
      // Deleting a missing key writes nothing: the revision stays.
      expect(yield* run(kv.delete("a"))).toEqual({ existed: false, revision: 2 })
    })
  )

  it.scoped("a speculative caller sees its own write at once, before anything commits", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv({ cluster: { persistDelay: "1 seconds" } })
      const [seen] = yield* run(Dse.sthread(Effect.zipRight(kv.put("a", "x"), kv.get("a"))))
      expect(seen).toEqual(Option.some({ value: "x", revision: 1 }))
    })
  )
})

describe("compare-and-set", () => {
  it.scoped("Absent: sets only when the key is absent", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv()
      expect(yield* run(kv.compareAndSet("a", { _tag: "Absent" }, 1))).toEqual({ _tag: "Swapped", revision: 1 })
      expect(yield* run(kv.compareAndSet("a", { _tag: "Absent" }, 2))).toEqual({
        _tag: "Mismatch",
        current: Option.some({ value: 1, revision: 1 })
      })
      expect(yield* run(kv.get("a"))).toEqual(Option.some({ value: 1, revision: 1 }))
    })
  )

  it.scoped("Value: compares as JSON, whatever the key order of records", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv()
      yield* run(kv.put("a", { x: 1, y: [1, 2] }))
      expect(yield* run(kv.compareAndSet("a", { _tag: "Value", value: { y: [1, 2], x: 1 } }, "new"))).toEqual({
        _tag: "Swapped",
        revision: 2
      })
      const miss = yield* run(kv.compareAndSet("a", { _tag: "Value", value: { x: 1, y: [1, 2] } }, "newer"))
      expect(miss._tag).toBe("Mismatch")
      expect(yield* run(kv.get("a"))).toEqual(Option.some({ value: "new", revision: 2 }))
    })
  )

  it.scoped("Revision: sets only at that revision; revision 0 means absent", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv()
      expect(yield* run(kv.compareAndSet("a", { _tag: "Revision", revision: 0 }, "first"))).toEqual({ _tag: "Swapped", revision: 1 })
      expect((yield* run(kv.compareAndSet("a", { _tag: "Revision", revision: 0 }, "again")))._tag).toBe("Mismatch")
      expect(yield* run(kv.compareAndSet("a", { _tag: "Revision", revision: 1 }, "second"))).toEqual({ _tag: "Swapped", revision: 2 })
      expect((yield* run(kv.compareAndSet("a", { _tag: "Revision", revision: 1 }, "stale")))._tag).toBe("Mismatch")
      expect(yield* run(kv.get("a"))).toEqual(Option.some({ value: "second", revision: 2 }))
    })
  )

  it.scoped("a mismatch is a result that carries the current entry and changes nothing", () =>
    Effect.gen(function* () {
      const { kv, run, live } = yield* setupKv()
      yield* run(kv.put("a", 7))
      const before = live[0]!.stats().revision
      const result = yield* run(kv.compareAndSet("a", { _tag: "Value", value: 8 }, 9))
      expect(result).toEqual({ _tag: "Mismatch", current: Option.some({ value: 7, revision: 1 }) })
      expect(live[0]!.stats().revision).toBe(before)
      expect(yield* run(kv.compareAndSet("missing", { _tag: "Value", value: 8 }, 9))).toEqual({
        _tag: "Mismatch",
        current: Option.none()
      })
    })
  )

  it.scoped("without a new value, a matching CAS deletes the key", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv()
      yield* run(kv.put("a", 7))
      expect(yield* run(kv.compareAndSet("a", { _tag: "Revision", revision: 1 }, undefined))).toEqual({ _tag: "Swapped", revision: 2 })
      expect(yield* run(kv.get("a"))).toEqual(Option.none())
    })
  )
})

describe("atomic update", () => {
  it.scoped("increment of a bare number: an absent key counts as 0", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv()
      expect(yield* run(kv.increment("n", undefined, 5))).toEqual({ value: 5, revision: 1 })
      expect(yield* run(kv.increment("n", undefined, -2))).toEqual({ value: 3, revision: 2 })
    })
  )

  it.scoped("increment of a record field keeps the other fields", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv()
      yield* run(kv.put("r", { name: "room", stock: 3 }))
      expect(yield* run(kv.increment("r", "stock", 2))).toEqual({ value: { name: "room", stock: 5 }, revision: 2 })
      expect(yield* run(kv.increment("r", "sold", 1))).toEqual({ value: { name: "room", stock: 5, sold: 1 }, revision: 3 })
    })
  )

  it.scoped("an increment that would cross min or max fails with OutOfRange and changes nothing", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv()
      yield* run(kv.put("r", { stock: 2 }))
      const low = yield* run(Effect.flip(kv.increment("r", "stock", -3, { min: 0 })))
      expect(low).toMatchObject({ _tag: "OutOfRange", key: "r", field: "stock", current: 2, delta: -3, min: 0 })
      const high = yield* run(Effect.flip(kv.increment("r", "stock", 10, { max: 10 })))
      expect(high._tag).toBe("OutOfRange")
      expect(yield* run(kv.get("r"))).toEqual(Option.some({ value: { stock: 2 }, revision: 1 }))
      expect(yield* run(kv.increment("r", "stock", -2, { min: 0 }))).toEqual({ value: { stock: 0 }, revision: 2 })
    })
  )

  it.scoped("increment of something that is not a number fails with WrongType", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv()
      yield* run(kv.put("s", "text"))
      yield* run(kv.put("r", { f: "text" }))
      expect(yield* run(Effect.flip(kv.increment("s", undefined, 1)))).toMatchObject({ _tag: "WrongType", expected: "a number", actual: "a string" })
      expect(yield* run(Effect.flip(kv.increment("s", "f", 1)))).toMatchObject({ _tag: "WrongType", expected: "a record" })
      expect(yield* run(Effect.flip(kv.increment("r", "f", 1)))).toMatchObject({ _tag: "WrongType", field: "f", actual: "a string" })
    })
  )

  it.scoped("SetFields sets and unsets fields of a record in one write", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv()
      yield* run(kv.put("u", { name: "ada", age: 36, tmp: true }))
      const result = yield* run(kv.update("u", { _tag: "SetFields", set: { age: 37, city: "London" }, unset: ["tmp"] }))
      expect(result).toEqual({ value: { name: "ada", age: 37, city: "London" }, revision: 2 })
      expect(yield* run(kv.update("new", { _tag: "SetFields", set: { a: 1 } }))).toEqual({ value: { a: 1 }, revision: 3 })
      yield* run(kv.put("n", 1))
      expect((yield* run(Effect.flip(kv.update("n", { _tag: "SetFields", set: { a: 1 } }))))._tag).toBe("WrongType")
    })
  )
})

describe("scan", () => {
  it.scoped("returns the keys with the prefix in key order, from every shard, paged by limit and after", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv({ shards: 3 })
      const keys = Array.from({ length: 25 }, (_, i) => `user/${String(i).padStart(2, "0")}`)
      for (const k of keys) yield* run(kv.put(k, k.length))
      yield* run(kv.put("other/1", 0))
      yield* run(kv.put("user", 0))
      // The keys really are spread over the shards.
      expect(new Set(keys.map(kv.shardOf)).size).toBe(3)
      const page1 = yield* run(kv.scan("user/", { limit: 10 }))
      expect(page1.entries.map((e) => e.key)).toEqual(keys.slice(0, 10))
      expect(page1.more).toBe(true)
      const page2 = yield* run(kv.scan("user/", { limit: 10, after: page1.entries[9]!.key }))
      expect(page2.entries.map((e) => e.key)).toEqual(keys.slice(10, 20))
      const page3 = yield* run(kv.scan("user/", { limit: 10, after: page2.entries[9]!.key }))
      expect(page3.entries.map((e) => e.key)).toEqual(keys.slice(20))
      expect(page3.more).toBe(false)
      expect(page1.entries[0]).toEqual({ key: "user/00", value: 7, revision: expect.any(Number) })
    })
  )

  it.scoped("a committed scan returns the same data once it has committed", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv({ shards: 2 })
      yield* run(kv.put("p/a", 1))
      yield* run(kv.put("p/b", 2))
      const page = yield* run(Dse.sthread(kv.scan("p/", { committed: true })))
      expect(page[0].entries.map((e) => [e.key, e.value])).toEqual([["p/a", 1], ["p/b", 2]])
    })
  )

  it.scoped("an empty prefix scans everything; a limit outside [1, max] is InvalidRequest", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv({ shards: 2 })
      yield* run(kv.put(keyOn(0, 2), 1))
      yield* run(kv.put(keyOn(1, 2), 2))
      expect((yield* run(kv.scan(""))).entries).toHaveLength(2)
      expect(yield* run(Effect.flip(kv.scan("", { limit: 0 })))).toMatchObject({ _tag: "InvalidRequest" })
      expect(yield* run(Effect.flip(kv.scan("", { limit: 5000 })))).toMatchObject({ _tag: "InvalidRequest" })
    })
  )
})
