/**
 * Idempotent writes: a repeated idempotency key returns the first result and changes nothing; the
 * dedup table lives in the shard's versioned state, so it survives a restart with the data and
 * rolls back with it; its growth is bounded by a retention window and a maximum size.
 */
import { describe, expect, it } from "@effect/vitest"
import { Dse } from "@dse/core"
import { Effect, Option } from "effect"
import { keyOn, restart, settle, setupKv } from "./support"

describe("idempotency keys", () => {
  it.scoped("a repeated key returns the first result and changes nothing", () =>
    Effect.gen(function* () {
      const { kv, run, live } = yield* setupKv()
      const first = yield* run(kv.increment("n", undefined, 5, { idempotencyKey: "req-1" }))
      expect(first).toEqual({ value: 5, revision: 1 })
      const before = live[0]!.stats()
      const again = yield* run(kv.increment("n", undefined, 5, { idempotencyKey: "req-1" }))
      expect(again).toEqual(first)
      const after = live[0]!.stats()
      expect(after.revision).toBe(before.revision)
      expect(after.dedupEntries).toBe(before.dedupEntries)
      expect(yield* run(kv.get("n"))).toEqual(Option.some({ value: 5, revision: 1 }))
    })
  )

  it.scoped("every kind of write is deduplicated: put, delete, cas, update, batch, reserve, cancel", () =>
    Effect.gen(function* () {
      const { kv, run, live } = yield* setupKv()
      const twice = <A, E>(effect: Effect.Effect<A, E>) =>
        Effect.gen(function* () {
          const a = yield* run(effect)
          const revision = live[0]!.stats().revision
          const b = yield* run(effect)
          expect(b).toEqual(a)
          expect(live[0]!.stats().revision).toBe(revision)
          return a
        })
      yield* twice(kv.put("a", 1, { idempotencyKey: "p" }))
      yield* twice(kv.put("stock:{h}", { rooms: 5 }, { idempotencyKey: "s" }))
      yield* twice(kv.compareAndSet("a", { _tag: "Value", value: 1 }, 2, { idempotencyKey: "c" }))
      yield* twice(kv.update("a", { _tag: "Increment", delta: 1 }, { idempotencyKey: "u" }))
      yield* twice(kv.batch([{ _tag: "Put", key: "b", value: 1 }, { _tag: "Delete", key: "a" }], { idempotencyKey: "b" }))
      yield* twice(kv.delete("b", { idempotencyKey: "d" }))
      yield* twice(kv.reserve({ key: "stock:{h}", field: "rooms", amount: 2, reservationKey: "resv:{h}:1", idempotencyKey: "r" }))
      yield* twice(kv.cancelReservation("resv:{h}:1", { idempotencyKey: "x" }))
      expect(live[0]!.dump().map((e) => [e.key, e.value])).toEqual([
        ["resv:{h}:1", { $kind: "reservation", status: "cancelled", key: "stock:{h}", field: "rooms", amount: 2, record: null }],
        ["stock:{h}", { rooms: 5 }]
      ])
    })
  )

  it.scoped("a repeated key returns the first failure too, even after the state changed", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv()
      yield* run(kv.put("stock:{h}", { rooms: 1 }))
      const reserve = kv.reserve({ key: "stock:{h}", field: "rooms", amount: 2, reservationKey: "resv:{h}:1", idempotencyKey: "r1" })
      const first = yield* run(Effect.flip(reserve))
      expect(first).toMatchObject({ _tag: "InsufficientInventory", available: 1, requested: 2 })
      yield* run(kv.increment("stock:{h}", "rooms", 10))
      const again = yield* run(Effect.flip(reserve))
      expect(again).toEqual(first)
      expect(yield* run(kv.get("resv:{h}:1"))).toEqual(Option.none())
    })
  )

  it.scoped("a key reused for a different request fails with IdempotencyKeyConflict and changes nothing", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv()
      yield* run(kv.put("a", 1, { idempotencyKey: "k" }))
      expect(yield* run(Effect.flip(kv.put("a", 2, { idempotencyKey: "k" })))).toMatchObject({ _tag: "IdempotencyKeyConflict" })
      expect(yield* run(Effect.flip(kv.delete("a", { idempotencyKey: "k" })))).toMatchObject({
        _tag: "IdempotencyKeyConflict",
        reason: "it was used for a put"
      })
      // Key order of records does not make a request different.
      yield* run(kv.put("r", { x: 1, y: 2 }, { idempotencyKey: "o" }))
      expect(yield* run(kv.put("r", { y: 2, x: 1 }, { idempotencyKey: "o" }))).toEqual({ revision: 2, created: true })
      expect(yield* run(kv.get("a"))).toEqual(Option.some({ value: 1, revision: 1 }))
    })
  )

  it.scoped("the dedup table survives a crash and restart of the shard together with the data", () =>
    Effect.gen(function* () {
      const { kv, run, procs, live } = yield* setupKv()
      // From outside the domain: the reply is committed.
      yield* run(kv.increment("n", undefined, 1, { idempotencyKey: "once" }))
      yield* procs[0]!.crash
      yield* restart(procs[0]!)
      // A new incarnation, in the next world-line, restored from its checkpoint.
      expect(live[0]!.stats().worker.worldLine).toBe(2)
      expect(live[0]!.stats().dedupEntries).toBe(1)
      expect(yield* run(kv.increment("n", undefined, 1, { idempotencyKey: "once" }))).toEqual({ value: 1, revision: 1 })
      expect(yield* run(kv.get("n"))).toEqual(Option.some({ value: 1, revision: 1 }))
    })
  )

  it.scoped("an uncommitted write and its key roll back together: the retry applies it exactly once", () =>
    Effect.gen(function* () {
      const { kv, run, procs, live } = yield* setupKv({ cluster: { persistDelay: "100 millis" } })
      // In the domain: the reply comes at once, before anything is durable.
      yield* run(Dse.sthread(kv.increment("n", undefined, 1, { idempotencyKey: "once" })))
      expect(live[0]!.stats().dedupEntries).toBe(1)
      yield* procs[0]!.crash
      yield* restart(procs[0]!)
      // Both the value and the record of its key are gone.
      expect(live[0]!.dump()).toEqual([])
      expect(live[0]!.stats().dedupEntries).toBe(0)
      // The client drives the lost work again with the same key: applied once.
      yield* run(Dse.sthread(Effect.zipRight(kv.increment("n", undefined, 1, { idempotencyKey: "once" }), Dse.awaitCommit)))
      expect(yield* run(kv.increment("n", undefined, 1, { idempotencyKey: "once" }))).toEqual({ value: 1, revision: 1 })
      expect(yield* run(kv.get("n"))).toEqual(Option.some({ value: 1, revision: 1 }))
    })
  )

  it.scoped("a survivor that depended on a crashed shard rolls back its write and its key together", () =>
    Effect.gen(function* () {
      const { kv, run, procs, live } = yield* setupKv({ shards: 2, cluster: { persistDelay: "100 millis" } })
      const a = keyOn(0, 2)
      const b = keyOn(1, 2)
      // One sthread writes to shard 1, then to shard 0: shard 0's version depends on shard 1's.
      yield* run(
        Dse.sthread(
          Effect.zipRight(
            kv.increment(b, undefined, 1, { idempotencyKey: "tx-b" }),
            kv.increment(a, undefined, 1, { idempotencyKey: "tx-a" })
          )
        )
      )
      expect(live[0]!.stats().dedupEntries).toBe(1)
      yield* procs[1]!.crash
      yield* restart(procs[1]!)
      yield* settle()
      // Shard 0 never crashed, but it restored its committed state: both its write and the key.
      expect(live[0]!.stats().worker.restores).toBe(1)
      expect(live[0]!.dump()).toEqual([])
      expect(live[0]!.stats().dedupEntries).toBe(0)
      yield* run(
        Dse.sthread(
          Effect.all([
            kv.increment(b, undefined, 1, { idempotencyKey: "tx-b" }),
            kv.increment(a, undefined, 1, { idempotencyKey: "tx-a" }),
            Dse.awaitCommit
          ])
        )
      )
      expect(Option.map(yield* run(kv.get(a)), (e) => e.value)).toEqual(Option.some(1))
      expect(Option.map(yield* run(kv.get(b)), (e) => e.value)).toEqual(Option.some(1))
    })
  )
})

describe("dedup retention", () => {
  it.scoped("a key is kept for the retention window, then evicted by later writes (and usable again)", () =>
    Effect.gen(function* () {
      const { kv, run, live } = yield* setupKv({ shard: { dedup: { retention: "1 seconds" } } })
      yield* run(kv.increment("n", undefined, 1, { idempotencyKey: "k1" }))
      yield* settle(500)
      // Inside the window: deduplicated.
      expect(yield* run(kv.increment("n", undefined, 1, { idempotencyKey: "k1" }))).toEqual({ value: 1, revision: 1 })
      yield* run(kv.put("other", 1))
      expect(live[0]!.stats().dedupEntries).toBe(1)
      yield* settle(600)
      // Past the window: the next write evicts it.
      yield* run(kv.put("other", 2))
      expect(live[0]!.stats().dedupEntries).toBe(0)
      expect(yield* run(kv.increment("n", undefined, 1, { idempotencyKey: "k1" }))).toEqual({ value: 2, revision: 4 })
    })
  )

  it.scoped("eviction is bounded per write and oldest-first", () =>
    Effect.gen(function* () {
      const { kv, run, live } = yield* setupKv({ shard: { dedup: { retention: "1 seconds" } } })
      for (let i = 0; i < 20; i++) yield* run(kv.put(`k${i}`, i, { idempotencyKey: `i${i}` }))
      yield* settle(1100)
      yield* run(kv.put("x", 0))
      expect(live[0]!.stats().dedupEntries).toBe(12)
      yield* run(kv.put("x", 1))
      expect(live[0]!.stats().dedupEntries).toBe(4)
      // The oldest went first: the newest keys still deduplicate.
      expect(yield* run(kv.put("k19", 19, { idempotencyKey: "i19" }))).toEqual({ revision: 20, created: true })
    })
  )

  it.scoped("a full table refuses new idempotent writes with DedupTableFull rather than forget a live key", () =>
    Effect.gen(function* () {
      const { kv, run, live } = yield* setupKv({ shard: { dedup: { retention: "1 seconds", maxEntries: 2 } } })
      yield* run(kv.put("a", 1, { idempotencyKey: "1" }))
      yield* run(kv.put("b", 1, { idempotencyKey: "2" }))
      expect(yield* run(Effect.flip(kv.put("c", 1, { idempotencyKey: "3" })))).toMatchObject({ _tag: "DedupTableFull", size: 2, limit: 2 })
      expect(yield* run(kv.get("c"))).toEqual(Option.none())
      // Repeats of live keys and writes without a key still work.
      expect(yield* run(kv.put("a", 1, { idempotencyKey: "1" }))).toEqual({ revision: 1, created: true })
      yield* run(kv.put("d", 1))
      yield* settle(1100)
      expect(yield* run(kv.put("c", 1, { idempotencyKey: "3" }))).toEqual({ revision: 4, created: true })
      expect(live[0]!.stats().dedupEntries).toBe(1)
    })
  )

  it.scoped("the retention order survives a restart (a store does not keep insertion order)", () =>
    Effect.gen(function* () {
      const { kv, run, live, procs } = yield* setupKv({ shard: { dedup: { retention: "1 seconds" } } })
      // Keys whose sorted order is the reverse of their age.
      yield* run(kv.put("a", 1, { idempotencyKey: "z-old" }))
      yield* settle(600)
      yield* run(kv.put("a", 2, { idempotencyKey: "a-new" }))
      yield* procs[0]!.crash
      yield* restart(procs[0]!)
      yield* settle(500)
      yield* run(kv.put("b", 1))
      // Only the old one expired.
      expect(live[0]!.stats().dedupEntries).toBe(1)
      expect(yield* run(kv.put("a", 2, { idempotencyKey: "a-new" }))).toEqual({ revision: 2, created: false })
    })
  )
})
