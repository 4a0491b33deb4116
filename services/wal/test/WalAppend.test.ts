/**
 * append: LSNs, batches, producer dedup, and the boundary (outside callers get committed LSNs).
 */
import { describe, expect, it } from "@effect/vitest"
import { Dse } from "@dse/core"
import { Effect, Either } from "effect"
import { lsnsOf } from "../src/WalModel"
import { settle, setupWal, text } from "./support/cluster"

const slow = { cluster: { sealPeriod: "1 hour" } } as const

describe("append", () => {
  it.scoped("LSNs are consecutive: single appends and batches take the next LSNs, starting at 0", () =>
    Effect.gen(function* () {
      const { wal, run } = yield* setupWal()
      const a = yield* run(wal.append("a"))
      const b = yield* run(wal.appendBatch(["b", "c", "d"]))
      const c = yield* run(wal.append(text("e")))
      expect(a.lsn).toBe(0)
      expect(lsnsOf(b)).toEqual([1, 2, 3])
      expect(c.lsn).toBe(4)
      const page = yield* run(wal.scan(0))
      expect(page.entries.map((e) => e.lsn)).toEqual([0, 1, 2, 3, 4])
      expect(page.entries.map((e) => (e.data._tag === "Json" ? e.data.value : "bytes"))).toEqual(["a", "b", "c", "d", "bytes"])
      expect(page.end).toBe(5)
    })
  )

  it.scoped("LSNs are consecutive under concurrent producers: every LSN is taken exactly once", () =>
    Effect.gen(function* () {
      const { wal, run } = yield* setupWal()
      const results = yield* run(
        Effect.forEach(
          Array.from({ length: 20 }, (_, i) => i),
          (i) => Dse.sthread(wal.appendBatch(Array.from({ length: (i % 3) + 1 }, (_, j) => ({ i, j })))),
          { concurrency: "unbounded" }
        )
      )
      const lsns = results.flatMap(([r]) => lsnsOf(r)).sort((x, y) => x - y)
      expect(lsns).toEqual(Array.from({ length: lsns.length }, (_, i) => i))
    })
  )

  it.scoped("a batch is atomic: its entries sit at consecutive LSNs, not interleaved with a concurrent append", () =>
    Effect.gen(function* () {
      const { wal, run } = yield* setupWal()
      yield* run(
        Effect.all(
          [
            Dse.sthread(wal.appendBatch(Array.from({ length: 50 }, (_, i) => ({ batch: "A", i })))),
            Dse.sthread(wal.appendBatch(Array.from({ length: 50 }, (_, i) => ({ batch: "B", i }))))
          ],
          { concurrency: "unbounded" }
        )
      )
      const [page] = yield* run(Dse.sthread(wal.scan(0, { limit: 1000 })))
      const batches = page.entries.map((e) => (e.data._tag === "Json" ? (e.data.value as { batch: string }).batch : "?"))
      expect(batches.join("")).toMatch(/^(A{50}B{50}|B{50}A{50})$/)
    })
  )

  it.scoped("a batch is atomic: one invalid entry rejects the whole batch and appends nothing", () =>
    Effect.gen(function* () {
      const { wal, run } = yield* setupWal({ log: { limits: { maxEntryBytes: 10 } } })
      const bad = yield* run(Effect.either(wal.appendBatch(["ok", "this one is far too long", "ok"])))
      expect(Either.isLeft(bad) && bad.left._tag).toBe("EntryTooLarge")
      const info = yield* run(wal.info)
      expect(info.end).toBe(0)
    })
  )

  it.scoped("a batch is atomic under a crash: after restart a batch is there entirely or not at all", () =>
    Effect.gen(function* () {
      const { wal, run, proc, log } = yield* setupWal({ ...slow, cluster: { ...slow.cluster, persistDelay: "1 millis" } })
      yield* run(wal.appendBatch(["c0", "c1"]))
      // Speculative (never sealed: the seal period is an hour): lost with the crash.
      yield* run(Dse.sthread(wal.appendBatch(["s0", "s1", "s2"])))
      yield* proc.crash
      yield* proc.restart
      yield* settle()
      expect(log().dump().map((e) => (e.data._tag === "Json" ? e.data.value : null))).toEqual(["c0", "c1"])
    })
  )

  it.scoped("an append from outside the domain is answered only once it has committed", () =>
    Effect.gen(function* () {
      const { wal, run, log } = yield* setupWal(slow)
      const r = yield* run(wal.appendBatch(["a", "b"]))
      const info = yield* log().info
      expect(info.committedEnd).toBeGreaterThanOrEqual(r.first + r.count)
    })
  )

  it.scoped("an append inside an sthread returns before commit, and the sthread depends on it", () =>
    Effect.gen(function* () {
      const { wal, run, log } = yield* setupWal(slow)
      const [r, thread] = yield* run(Dse.sthread(wal.append("a")))
      expect(r.lsn).toBe(0)
      const before = yield* log().info
      expect(before.committedEnd).toBe(0)
      expect(thread.deps.size).toBe(1)
      yield* run(Dse.awaitCommitOf(thread))
      const after = yield* log().info
      expect(after.committedEnd).toBe(1)
    })
  )
})

describe("producer dedup", () => {
  it.scoped("producer dedup returns the original LSNs: a retry with the same (producer, seq) appends nothing", () =>
    Effect.gen(function* () {
      const { wal, run } = yield* setupWal()
      const p = { id: "p1", seq: 0 }
      const first = yield* run(wal.appendBatch(["a", "b"], { producer: p }))
      yield* run(wal.append("other"))
      const retry = yield* run(wal.appendBatch(["a", "b"], { producer: p }))
      expect(first).toEqual({ first: 0, count: 2, duplicate: false })
      expect(retry).toEqual({ first: 0, count: 2, duplicate: true })
      const next = yield* run(wal.append("c", { producer: { id: "p1", seq: 1 } }))
      expect(next).toEqual({ lsn: 3, duplicate: false })
      const page = yield* run(wal.scan(0))
      expect(page.entries.map((e) => e.producer)).toEqual([{ id: "p1", seq: 0 }, { id: "p1", seq: 0 }, undefined, { id: "p1", seq: 1 }])
    })
  )

  it.scoped("producer dedup keeps producers apart: the same seq from two producers appends twice", () =>
    Effect.gen(function* () {
      const { wal, run } = yield* setupWal()
      const a = yield* run(wal.append("a", { producer: { id: "p1", seq: 7 } }))
      const b = yield* run(wal.append("b", { producer: { id: "p2", seq: 7 } }))
      expect([a.lsn, b.lsn]).toEqual([0, 1])
      expect([a.duplicate, b.duplicate]).toEqual([false, false])
    })
  )

  it.scoped("producer dedup holds across a crash and restart: the table is committed with the entries", () =>
    Effect.gen(function* () {
      const { wal, run, proc } = yield* setupWal()
      const first = yield* run(wal.append("a", { producer: { id: "p1", seq: 0 } }))
      yield* proc.crash
      yield* proc.restart
      yield* settle()
      const retry = yield* run(wal.append("a", { producer: { id: "p1", seq: 0 } }))
      expect(retry).toEqual({ lsn: first.lsn, duplicate: true })
      expect((yield* run(wal.info)).end).toBe(1)
    })
  )

  it.scoped("a rolled-back append is not remembered: its retry after the world-line change appends again", () =>
    Effect.gen(function* () {
      const { wal, run, proc } = yield* setupWal(slow)
      yield* run(Dse.sthread(wal.append("lost", { producer: { id: "p1", seq: 0 } })))
      yield* proc.crash
      yield* proc.restart
      yield* settle()
      const retry = yield* run(wal.append("lost", { producer: { id: "p1", seq: 0 } }))
      expect(retry).toEqual({ lsn: 0, duplicate: false })
    })
  )

  it.scoped("a sequence gap fails with SequenceGap and appends nothing", () =>
    Effect.gen(function* () {
      const { wal, run } = yield* setupWal()
      yield* run(wal.append("a", { producer: { id: "p1", seq: 0 } }))
      const gap = yield* run(Effect.flip(wal.append("c", { producer: { id: "p1", seq: 2 } })))
      expect(gap).toMatchObject({ _tag: "SequenceGap", producer: "p1", expected: 1, received: 2 })
      expect((yield* run(wal.info)).end).toBe(1)
    })
  )

  it.scoped("a retry older than the dedup window fails with SequenceTooOld", () =>
    Effect.gen(function* () {
      const { wal, run } = yield* setupWal({ log: { producers: { window: 2 } } })
      for (let seq = 0; seq < 4; seq++) yield* run(wal.append(seq, { producer: { id: "p1", seq } }))
      const kept = yield* run(wal.append(2, { producer: { id: "p1", seq: 2 } }))
      expect(kept).toEqual({ lsn: 2, duplicate: true })
      const old = yield* run(Effect.flip(wal.append(0, { producer: { id: "p1", seq: 0 } })))
      expect(old).toMatchObject({ _tag: "SequenceTooOld", received: 0, oldest: 2 })
    })
  )

  it.scoped("a retry with a different batch under the same seq fails with SequenceConflict", () =>
    Effect.gen(function* () {
      const { wal, run } = yield* setupWal()
      yield* run(wal.appendBatch(["a", "b"], { producer: { id: "p1", seq: 0 } }))
      const conflict = yield* run(Effect.flip(wal.appendBatch(["a"], { producer: { id: "p1", seq: 0 } })))
      expect(conflict._tag).toBe("SequenceConflict")
      const sized = yield* run(Effect.flip(wal.appendBatch(["a", "bigger"], { producer: { id: "p1", seq: 0 } })))
      expect(sized._tag).toBe("SequenceConflict")
    })
  )

  it.scoped("a full producer table rejects new producers with ProducerTableFull; expired producers are evicted", () =>
    Effect.gen(function* () {
      const { wal, run } = yield* setupWal({ log: { producers: { maxProducers: 2, retention: "100 millis" } } })
      yield* run(wal.append("a", { producer: { id: "p1", seq: 0 } }))
      yield* run(wal.append("b", { producer: { id: "p2", seq: 0 } }))
      const full = yield* run(Effect.flip(wal.append("c", { producer: { id: "p3", seq: 0 } })))
      expect(full).toMatchObject({ _tag: "ProducerTableFull", size: 2, limit: 2 })
      // A known producer still appends.
      yield* run(wal.append("b2", { producer: { id: "p2", seq: 1 } }))
      yield* settle(150)
      const later = yield* run(wal.append("c", { producer: { id: "p3", seq: 0 } }))
      expect(later.duplicate).toBe(false)
      expect((yield* run(wal.info)).producers).toBeLessThanOrEqual(2)
    })
  )

  it.scoped("an outcome error decided on speculative state is released only after that state commits", () =>
    Effect.gen(function* () {
      const { wal, run, log } = yield* setupWal(slow)
      // The producer's seq 0 is speculative (inside an sthread, not committed).
      yield* run(Dse.sthread(wal.append("a", { producer: { id: "p1", seq: 0 } })))
      expect((yield* log().info).committedEnd).toBe(0)
      const [gap] = yield* run(Dse.sthread(Effect.flip(wal.append("c", { producer: { id: "p1", seq: 5 } }))))
      expect(gap._tag).toBe("SequenceGap")
      // By the time the error arrived, what it was decided on had committed.
      expect((yield* log().info).committedEnd).toBe(1)
    })
  )
})
