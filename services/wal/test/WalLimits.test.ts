/**
 * Limits and bad input: each gets a typed error over the wire, before any Action, and changes
 * nothing (SPEC 8).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { setupWal } from "./support/cluster"

const limits = { maxEntryBytes: 16, maxBatchEntries: 3, maxBatchBytes: 30, maxJsonDepth: 4, maxProducerIdBytes: 8 }

describe("limits", () => {
  it.scoped("an entry above maxEntryBytes fails with EntryTooLarge (bytes and JSON)", () =>
    Effect.gen(function* () {
      const { wal, run } = yield* setupWal({ log: { limits } })
      const bytes = yield* run(Effect.flip(wal.append(new Uint8Array(17))))
      expect(bytes).toMatchObject({ _tag: "EntryTooLarge", index: 0, size: 17, limit: 16 })
      const json = yield* run(Effect.flip(wal.appendBatch(["ok", "x".repeat(20)])))
      expect(json).toMatchObject({ _tag: "EntryTooLarge", index: 1, size: 22, limit: 16 })
      // At the limit is fine.
      expect((yield* run(wal.append(new Uint8Array(16)))).lsn).toBe(0)
    })
  )

  it.scoped("a batch above maxBatchEntries or maxBatchBytes fails with BatchTooLarge", () =>
    Effect.gen(function* () {
      const { wal, run } = yield* setupWal({ log: { limits } })
      const many = yield* run(Effect.flip(wal.appendBatch([1, 2, 3, 4])))
      expect(many).toMatchObject({ _tag: "BatchTooLarge", entries: 4, maxEntries: 3 })
      const big = yield* run(Effect.flip(wal.appendBatch([new Uint8Array(16), new Uint8Array(16)])))
      expect(big).toMatchObject({ _tag: "BatchTooLarge", entries: 2, bytes: 32, maxBytes: 30 })
      expect((yield* run(wal.info)).end).toBe(0)
    })
  )

  it.scoped("a JSON entry that is not JSON fails with NotJson, naming where", () =>
    Effect.gen(function* () {
      const { wal, run } = yield* setupWal({ log: { limits: { maxJsonDepth: 4 } } })
      // Straight to the raw call: a client-side value that is not JSON still reaches the log.
      const raw = (value: unknown) => wal.api.WalAppend({ entries: [{ _tag: "Json", value }] })
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [Number.NaN, "$"],
        [{ a: [1, Number.POSITIVE_INFINITY] }, "$.a[1]"],
        [{ deep: { deeper: { deepest: { too: {} } } } }, "$.deep.deeper.deepest.too"]
      ]
      for (const [value, path] of cases) {
        const e = yield* run(Effect.flip(raw(value)))
        expect(e).toMatchObject({ _tag: "NotJson", index: 0, path })
      }
      expect((yield* run(wal.info)).end).toBe(0)
    })
  )

  it.scoped("an in-process caller's non-JSON values fail with NotJson too (Date, Map, undefined, cycles)", () =>
    Effect.gen(function* () {
      const { runInLog, log } = yield* setupWal()
      const cyclic: Record<string, unknown> = {}
      cyclic.self = cyclic
      for (const value of [new Date(0), new Map(), undefined, cyclic, () => 1]) {
        const e = yield* runInLog(Effect.flip(log().append({ entries: [{ _tag: "Json", value }] })))
        expect(e._tag).toBe("NotJson")
      }
      const bad = yield* runInLog(Effect.flip(log().append({ entries: [{ _tag: "Nope" } as never] })))
      expect(bad._tag).toBe("InvalidRequest")
    })
  )

  it.scoped("an empty batch, a bad producer id or sequence number fail with InvalidRequest", () =>
    Effect.gen(function* () {
      const { wal, run } = yield* setupWal({ log: { limits } })
      const cases: ReadonlyArray<Effect.Effect<unknown, { readonly _tag: string }>> = [
        wal.appendBatch([]),
        wal.append("a", { producer: { id: "", seq: 0 } }),
        wal.append("a", { producer: { id: "way-too-long-id", seq: 0 } }),
        wal.append("a", { producer: { id: "p", seq: -1 } }),
        wal.append("a", { producer: { id: "p", seq: 1.5 } })
      ]
      for (const call of cases) {
        const r = yield* run(Effect.either(call))
        expect(Either.isLeft(r) && r.left._tag).toBe("InvalidRequest")
      }
      expect((yield* run(wal.info)).end).toBe(0)
    })
  )

  it.scoped("a scan page stays within maxScanBytes and maxScanEntries", () =>
    Effect.gen(function* () {
      // Each entry counts 4 bytes + 96 of metadata: 220 bytes hold two.
      const { wal, run } = yield* setupWal({ log: { limits: { maxScanEntries: 5, maxScanBytes: 220 } } })
      yield* run(wal.appendBatch(Array.from({ length: 8 }, () => new Uint8Array(4))))
      const page = yield* run(wal.scan(0, { limit: 5 }))
      expect(page.entries.length).toBe(2)
      const err = yield* run(Effect.flip(wal.scan(0, { limit: 6 })))
      expect(err._tag).toBe("InvalidRequest")
    })
  )
})
