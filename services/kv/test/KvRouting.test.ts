/**
 * Routing: a stable function of the key and the shard count, that spreads keys evenly and honours
 * hash tags.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { hash32, jumpHash, routingKey, shardOf } from "../src/KvRouting"
import { setupKv } from "./support"

describe("routing", () => {
  it("is FNV-1a 32 over UTF-8 bytes (reference vectors)", () => {
    expect(hash32("")).toBe(0x811c9dc5)
    expect(hash32("a")).toBe(0xe40c292c)
    expect(hash32("foobar")).toBe(0xbf9cf968)
    // "é" is the bytes c3 a9, hashed as bytes, not as one UTF-16 unit.
    let h = 0x811c9dc5
    for (const b of [0xc3, 0xa9]) h = Math.imul(h ^ b, 0x01000193) >>> 0
    expect(hash32("é")).toBe(h)
  })

  it("is stable: the same key always goes to the same shard (pinned values, in every process)", () => {
    const pinned: Array<[string, number, number]> = [
      ["user/1", 2, 3],
      ["user/2", 2, 5],
      ["order:{42}", 2, 6],
      ["stock:{hotel-7}", 2, 4],
      ["résumé", 1, 1],
      ["a", 1, 1],
      ["z/9", 0, 0],
      ["k0", 0, 0],
      ["k1", 0, 0],
      ["k2", 0, 6]
    ]
    for (const [key, of3, of10] of pinned) {
      expect([key, shardOf(key, 3), shardOf(key, 10)]).toEqual([key, of3, of10])
    }
  })

  it("spreads keys evenly over the shards", () => {
    for (const n of [2, 3, 4, 10]) {
      const counts = new Array<number>(n).fill(0)
      const total = 40_000
      for (let i = 0; i < total; i++) counts[shardOf(`user/${i}`, n)]!++
      const mean = total / n
      for (const c of counts) expect(Math.abs(c - mean) / mean).toBeLessThan(0.05)
    }
  })

  it("growing from n to n+1 shards moves about 1/(n+1) of the keys, all to the new shard", () => {
    const total = 20_000
    for (const n of [1, 3, 9]) {
      let moved = 0
      for (let i = 0; i < total; i++) {
        const before = shardOf(`key-${i}`, n)
        const after = shardOf(`key-${i}`, n + 1)
        if (before !== after) {
          moved++
          expect(after).toBe(n)
        }
      }
      expect(Math.abs(moved / total - 1 / (n + 1))).toBeLessThan(0.02)
    }
  })

  it("a {hash tag} routes by the tag only; an empty tag is ignored", () => {
    expect(routingKey("stock:{hotel-7}")).toBe("hotel-7")
    expect(routingKey("resv:{hotel-7}:r42")).toBe("hotel-7")
    expect(routingKey("{a}{b}")).toBe("a")
    expect(routingKey("x{}y")).toBe("x{}y")
    expect(routingKey("x{y")).toBe("x{y")
    for (const n of [2, 5, 16]) {
      expect(shardOf("stock:{hotel-7}", n)).toBe(shardOf("hotel-7", n))
      expect(shardOf("resv:{hotel-7}:r42", n)).toBe(shardOf("hotel-7", n))
    }
  })

  it("one shard takes every key; a shard count below 1 is refused", () => {
    expect(shardOf("anything", 1)).toBe(0)
    expect(jumpHash(123n, 1)).toBe(0)
    expect(() => shardOf("k", 0)).toThrow(RangeError)
    expect(() => shardOf("k", 1.5)).toThrow(RangeError)
  })

  it.scoped("the client sends each key to its shard", () =>
    Effect.gen(function* () {
      const { kv, run, live } = yield* setupKv({ shards: 3 })
      const keys = Array.from({ length: 30 }, (_, i) => `key-${i}`)
      for (const key of keys) yield* run(kv.put(key, key))
      for (const [index, shard] of live.entries()) {
        const held = shard.dump().map((e) => e.key)
        expect(held.length).toBeGreaterThan(0)
        for (const key of held) expect(shardOf(key, 3)).toBe(index)
      }
      expect(live.reduce((n, s) => n + s.dump().length, 0)).toBe(30)
      expect(Option.isSome(yield* run(kv.get("key-7")))).toBe(true)
    })
  )
})
