/**
 * scan: speculative and committed views, paging, long-polls, and what a committed reader can
 * never see.
 */
import { describe, expect, it } from "@effect/vitest"
import { Dse } from "@dse/core"
import { Effect, Either, Fiber } from "effect"
import type { WalEntry } from "../src/WalModel"
import { callX, drive, isRunning, settle, setupWal, xProgram } from "./support/cluster"

const slow = { cluster: { sealPeriod: "1 hour" } } as const

const values = (page: { readonly entries: ReadonlyArray<WalEntry> }) =>
  page.entries.map((e) => (e.data._tag === "Json" ? e.data.value : "bytes"))

describe("scan", () => {
  it.scoped("a speculative scan in an sthread sees uncommitted entries and makes the sthread depend on them", () =>
    Effect.gen(function* () {
      const { wal, run, log } = yield* setupWal(slow)
      yield* run(Dse.sthread(wal.appendBatch(["a", "b"])))
      const [page, thread] = yield* run(Dse.sthread(wal.scan(0, { mode: "speculative" })))
      expect(values(page)).toEqual(["a", "b"])
      expect(thread.deps.get(log().stateObject.id)).toBeGreaterThan(0)
    })
  )

  it.scoped("a committed scan returns only the committed prefix, without waiting", () =>
    Effect.gen(function* () {
      const { wal, run } = yield* setupWal(slow)
      yield* run(wal.appendBatch(["c0", "c1"]))
      yield* run(Dse.sthread(wal.appendBatch(["s0"])))
      const [page] = yield* run(Dse.sthread(wal.scan(0, { mode: "committed" })))
      expect(values(page)).toEqual(["c0", "c1"])
      expect(page.end).toBe(2)
      const [spec] = yield* run(Dse.sthread(wal.scan(0, { mode: "speculative" })))
      expect(spec.end).toBe(3)
    })
  )

  it.scoped("a scan from outside any sthread is a committed scan", () =>
    Effect.gen(function* () {
      const { wal, run } = yield* setupWal(slow)
      yield* run(wal.append("c0"))
      yield* run(Dse.sthread(wal.append("s0")))
      expect(values(yield* run(wal.scan(0)))).toEqual(["c0"])
      // Even when it asks for the speculative view, an outside caller gets nothing uncommitted.
      const page = yield* run(wal.scan(0, { mode: "speculative" }))
      expect(page.entries.every((e) => e.lsn < 2)).toBe(true)
    })
  )

  it.scoped("committed scan never returns an entry that is later rolled back (crash before commit)", () =>
    Effect.gen(function* () {
      const { wal, run, proc } = yield* setupWal(slow)
      yield* run(wal.append("c0"))
      const [spec] = yield* run(Dse.sthread(wal.append("s1")))
      expect(spec.lsn).toBe(1)
      const [before] = yield* run(Dse.sthread(wal.scan(0, { mode: "committed" })))
      expect(values(before)).toEqual(["c0"])
      yield* proc.crash
      yield* proc.restart
      yield* settle()
      const after = yield* run(wal.scan(0))
      expect(values(after)).toEqual(["c0"])
      // The LSN of the lost entry is reused; a committed reader only ever sees the new one.
      yield* run(wal.append("n1"))
      expect(values(yield* run(wal.scan(0)))).toEqual(["c0", "n1"])
    })
  )

  it.scoped("committed scan never returns an entry that is later rolled back (a dependency of the log is lost)", () =>
    Effect.gen(function* () {
      const { cluster, wal, run, log } = yield* setupWal(slow)
      const x = yield* cluster.spawn("x", xProgram(cluster.network))
      yield* run(wal.append("c0"))
      // An sthread that changed x appends: the log's version depends on x's uncommitted version.
      yield* run(Dse.sthread(Effect.zipRight(callX(cluster.network), wal.append("depends-on-x"))))
      const [committed] = yield* run(Dse.sthread(wal.scan(0, { mode: "committed" })))
      expect(values(committed)).toEqual(["c0"])
      yield* x.crash
      yield* x.restart
      yield* settle()
      expect(log().dump().map((e) => e.lsn)).toEqual([0])
      expect(values(yield* run(wal.scan(0)))).toEqual(["c0"])
    })
  )

  it.scoped("paging: limit, to and maxBytes bound a page, and next resumes exactly after it", () =>
    Effect.gen(function* () {
      const { wal, run } = yield* setupWal()
      yield* run(wal.appendBatch(Array.from({ length: 10 }, (_, i) => `entry-${i}`)))
      const p1 = yield* run(wal.scan(0, { limit: 4 }))
      expect(p1.entries.map((e) => e.lsn)).toEqual([0, 1, 2, 3])
      expect(p1.next).toBe(4)
      const p2 = yield* run(wal.scan(p1.next, { to: 6 }))
      expect(p2.entries.map((e) => e.lsn)).toEqual([4, 5])
      // Each entry is 9 bytes of JSON ("entry-N" with quotes) plus 96 of metadata: 220 bytes hold two.
      const p3 = yield* run(wal.scan(6, { maxBytes: 220 }))
      expect(p3.entries.map((e) => e.lsn)).toEqual([6, 7])
      // At least one entry, whatever maxBytes says.
      const p4 = yield* run(wal.scan(8, { maxBytes: 1 }))
      expect(p4.entries.map((e) => e.lsn)).toEqual([8])
      const end = yield* run(wal.scan(10))
      expect(end).toEqual({ entries: [], next: 10, start: 0, end: 10 })
      const beyond = yield* run(wal.scan(50))
      expect(beyond.entries).toEqual([])
    })
  )

  it.scoped("entries come back as they went in: bytes as Uint8Array, JSON values, producer and world-line", () =>
    Effect.gen(function* () {
      const { wal, run } = yield* setupWal()
      const bytes = new Uint8Array([0, 255, 7])
      yield* run(wal.appendBatch([bytes, { nested: [1, "two", null, true] }], { producer: { id: "p", seq: 3 } }))
      bytes[0] = 99 // the log copied it
      const page = yield* run(wal.scan(0))
      expect(page.entries[0]!.data).toEqual({ _tag: "Bytes", bytes: new Uint8Array([0, 255, 7]) })
      expect(page.entries[1]!.data).toEqual({ _tag: "Json", value: { nested: [1, "two", null, true] } })
      expect(page.entries.map((e) => e.producer)).toEqual([{ id: "p", seq: 3 }, { id: "p", seq: 3 }])
      expect(page.entries.map((e) => e.worldLine)).toEqual([1, 1])
    })
  )

  it.scoped("long-poll (speculative): a scan with wait returns as soon as an entry is appended", () =>
    Effect.gen(function* () {
      const { wal, run, fork } = yield* setupWal(slow)
      const poll = yield* fork(Dse.sthread(wal.scan(0, { mode: "speculative", wait: "10 seconds" })))
      yield* settle(50)
      expect(isRunning(poll)).toBe(true)
      yield* run(Dse.sthread(wal.append("a")))
      yield* settle(1)
      expect(isRunning(poll)).toBe(false)
      const [page] = yield* Fiber.join(poll)
      expect(values(page)).toEqual(["a"])
    })
  )

  it.scoped("long-poll (committed): a scan with wait returns when the entry commits, and asks for the seal", () =>
    Effect.gen(function* () {
      const { wal, run, fork } = yield* setupWal(slow)
      yield* run(Dse.sthread(wal.append("a")))
      // The seal period is an hour: only the reader's commit wait gets the entry sealed and committed.
      const poll = yield* fork(wal.scan(0, { mode: "committed", wait: "10 seconds" }))
      const page = yield* drive(poll, 1, 100)
      expect(values(page)).toEqual(["a"])
    })
  )

  it.scoped("long-poll: the wait ends with an empty page when nothing arrives", () =>
    Effect.gen(function* () {
      const { wal, fork } = yield* setupWal()
      const poll = yield* fork(wal.scan(0, { wait: "100 millis" }))
      yield* settle(50)
      expect(isRunning(poll)).toBe(true)
      const page = yield* drive(poll)
      expect(page.entries).toEqual([])
    })
  )

  it.scoped("scan below the truncation point fails with LsnTruncated", () =>
    Effect.gen(function* () {
      const { wal, run } = yield* setupWal()
      yield* run(wal.appendBatch(["a", "b", "c"]))
      yield* run(wal.truncate(2))
      const err = yield* run(Effect.flip(wal.scan(1)))
      expect(err).toMatchObject({ _tag: "LsnTruncated", lsn: 1, start: 2 })
      const ok = yield* run(wal.scan(2))
      expect(values(ok)).toEqual(["c"])
    })
  )

  it.scoped("bad scan arguments fail with InvalidRequest", () =>
    Effect.gen(function* () {
      const { wal, run } = yield* setupWal()
      const bad = [
        wal.scan(-1),
        wal.scan(1.5),
        wal.scan(5, { to: 4 }),
        wal.scan(0, { limit: 0 }),
        wal.scan(0, { limit: 1_000_000 }),
        wal.scan(0, { maxBytes: 0 }),
        wal.scan(0, { wait: "2 hours" })
      ]
      for (const call of bad) {
        const r = yield* run(Effect.either(call))
        expect(Either.isLeft(r) && r.left._tag).toBe("InvalidRequest")
      }
    })
  )
})
