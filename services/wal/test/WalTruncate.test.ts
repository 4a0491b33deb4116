/**
 * truncate: only within the committed prefix; truncated entries are reclaimed once the truncation
 * commits; a committed reader still finds what an uncommitted truncation hides.
 */
import { describe, expect, it } from "@effect/vitest"
import { Dse } from "@dse/core"
import { Effect, Either } from "effect"
import { settle, setupWal } from "./support/cluster"

const slow = { cluster: { sealPeriod: "1 hour" } } as const

describe("truncate", () => {
  it.scoped("truncate only in the committed prefix: a committed prefix truncates, scans below it fail", () =>
    Effect.gen(function* () {
      const { wal, run } = yield* setupWal()
      yield* run(wal.appendBatch(["a", "b", "c", "d"]))
      const r = yield* run(wal.truncate(3))
      expect(r).toEqual({ start: 3, changed: true })
      const page = yield* run(wal.scan(3))
      expect(page.entries.map((e) => e.lsn)).toEqual([3])
      expect(page.start).toBe(3)
      const err = yield* run(Effect.flip(wal.scan(0)))
      expect(err._tag).toBe("LsnTruncated")
    })
  )

  it.scoped("truncate only in the committed prefix: beyond it fails with TruncateBeyondCommitted and changes nothing", () =>
    Effect.gen(function* () {
      const { wal, run, log } = yield* setupWal(slow)
      yield* run(wal.appendBatch(["c0", "c1"]))
      yield* run(Dse.sthread(wal.appendBatch(["s2", "s3"])))
      const [err] = yield* run(Dse.sthread(Effect.flip(wal.truncate(3))))
      expect(err).toMatchObject({ _tag: "TruncateBeyondCommitted", upTo: 3, committedEnd: 2 })
      expect((yield* log().info).start).toBe(0)
      // Up to the committed end is fine.
      const [ok] = yield* run(Dse.sthread(wal.truncate(2)))
      expect(ok).toEqual({ start: 2, changed: true })
    })
  )

  it.scoped("truncate is idempotent: truncating at or below the start changes nothing", () =>
    Effect.gen(function* () {
      const { wal, run } = yield* setupWal()
      yield* run(wal.appendBatch(["a", "b", "c"]))
      yield* run(wal.truncate(2))
      expect(yield* run(wal.truncate(2))).toEqual({ start: 2, changed: false })
      expect(yield* run(wal.truncate(1))).toEqual({ start: 2, changed: false })
      expect(yield* run(wal.truncate(0))).toEqual({ start: 2, changed: false })
    })
  )

  it.scoped("truncated entries are deleted once the truncation commits, and the truncation survives a restart", () =>
    Effect.gen(function* () {
      const { wal, run, proc, log } = yield* setupWal({ log: { reclaimBatch: 3, reclaimInterval: "50 millis" } })
      yield* run(wal.appendBatch(Array.from({ length: 10 }, (_, i) => i)))
      yield* run(wal.truncate(8))
      // Reclaimed a batch at a time, in the background.
      yield* settle(500)
      const info = yield* log().info
      expect(info).toMatchObject({ start: 8, end: 10, committedStart: 8, held: 2 })
      // After a restart (restored from the store): the deleted entries are gone from the checkpoints too.
      yield* proc.crash
      yield* proc.restart
      yield* settle()
      expect(yield* log().info).toMatchObject({ start: 8, end: 10, held: 2 })
      expect((yield* run(wal.append("x"))).lsn).toBe(10)
    })
  )

  it.scoped("a committed reader still finds the entries an uncommitted truncation hides", () =>
    Effect.gen(function* () {
      const { wal, run, log } = yield* setupWal(slow)
      yield* run(wal.appendBatch(["a", "b", "c"]))
      yield* run(Dse.sthread(wal.truncate(2)))
      expect(yield* log().info).toMatchObject({ start: 2, committedStart: 0, held: 3 })
      const [committed] = yield* run(Dse.sthread(wal.scan(0, { mode: "committed" })))
      expect(committed.entries.map((e) => e.lsn)).toEqual([0, 1, 2])
      const [spec] = yield* run(Dse.sthread(Effect.either(wal.scan(0, { mode: "speculative" }))))
      expect(Either.isLeft(spec) && spec.left._tag).toBe("LsnTruncated")
    })
  )

  it.scoped("a rolled-back truncation brings the entries back", () =>
    Effect.gen(function* () {
      const { wal, run, proc, log } = yield* setupWal(slow)
      yield* run(wal.appendBatch(["a", "b", "c"]))
      yield* run(Dse.sthread(wal.truncate(2)))
      yield* proc.crash
      yield* proc.restart
      yield* settle()
      expect(yield* log().info).toMatchObject({ start: 0, end: 3 })
      expect(log().dump().map((e) => e.lsn)).toEqual([0, 1, 2])
    })
  )

  it.scoped("a bad truncation point fails with InvalidRequest", () =>
    Effect.gen(function* () {
      const { wal, run } = yield* setupWal()
      for (const upTo of [-1, 0.5, Number.NaN]) {
        const r = yield* run(Effect.either(wal.truncate(upTo)))
        expect(Either.isLeft(r) && r.left._tag).toBe("InvalidRequest")
      }
    })
  )
})
