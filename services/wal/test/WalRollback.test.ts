/**
 * Rollbacks: a speculative suffix that is rolled back disappears, its LSNs are reused after the
 * world-line change, and a reader of a rolled-back entry loses its sthread.
 */
import { describe, expect, it } from "@effect/vitest"
import { Dse, Sthread } from "@dse/core"
import { Effect, Either } from "effect"
import { callX, settle, setupWal, xProgram } from "./support/cluster"

const slow = { cluster: { sealPeriod: "1 hour" } } as const

const json = (e: { readonly data: { readonly _tag: string } }) => (e.data as { value?: unknown }).value

describe("rollback", () => {
  it.scoped("rolled-back suffix disappears and its LSNs are reused after the world-line change (the log crashed)", () =>
    Effect.gen(function* () {
      const { wal, run, proc, log } = yield* setupWal(slow)
      yield* run(wal.appendBatch(["c0", "c1"]))
      const [lost] = yield* run(Dse.sthread(wal.appendBatch(["s2", "s3"])))
      expect(lost.first).toBe(2)
      const before = log().dump()
      expect(before.map(json)).toEqual(["c0", "c1", "s2", "s3"])
      yield* proc.crash
      yield* proc.restart
      yield* settle()
      expect(log().dump().map(json)).toEqual(["c0", "c1"])
      const info = yield* log().info
      expect(info.end).toBe(2)
      const again = yield* run(wal.appendBatch(["n2", "n3", "n4"]))
      expect(again.first).toBe(2)
      const after = log().dump()
      expect(after.map(json)).toEqual(["c0", "c1", "n2", "n3", "n4"])
      // The reused LSNs carry the new world-line: (lsn, worldLine) tells the two histories apart.
      expect(after[2]!.worldLine).toBeGreaterThan(before[2]!.worldLine)
      expect(after[0]!.worldLine).toBe(before[0]!.worldLine)
    })
  )

  it.scoped("rolled-back suffix disappears and its LSNs are reused after the world-line change (a surviving log restores)", () =>
    Effect.gen(function* () {
      const { cluster, wal, run, log } = yield* setupWal(slow)
      const x = yield* cluster.spawn("x", xProgram(cluster.network))
      yield* run(wal.append("c0"))
      yield* run(Dse.sthread(Effect.zipRight(callX(cluster.network), wal.appendBatch(["s1", "s2"]))))
      expect(log().dump().map(json)).toEqual(["c0", "s1", "s2"])
      const restores = log().stateObject.stats().restores
      yield* x.crash
      yield* x.restart
      yield* settle()
      // The log did not crash: it restored its committed checkpoint because its version depended on lost work.
      expect(log().stateObject.stats().restores).toBe(restores + 1)
      expect(log().dump().map(json)).toEqual(["c0"])
      expect((yield* run(wal.append("n1"))).lsn).toBe(1)
    })
  )

  it.scoped("a survivor keeps its speculative suffix when it depends on nothing that was lost", () =>
    Effect.gen(function* () {
      const { cluster, wal, run, log } = yield* setupWal(slow)
      const x = yield* cluster.spawn("x", xProgram(cluster.network))
      yield* run(wal.append("c0"))
      yield* run(Dse.sthread(wal.append("independent")))
      yield* x.crash
      yield* x.restart
      yield* settle()
      expect(log().dump().map(json)).toEqual(["c0", "independent"])
    })
  )

  it.scoped("a reader of a rolled-back entry loses its sthread: its commit wait and its next call fail with RolledBack", () =>
    Effect.gen(function* () {
      const { wal, run, proc } = yield* setupWal(slow)
      yield* run(wal.append("c0"))
      yield* run(Dse.sthread(wal.append("s1")))
      // A reader in its own sthread sees the speculative entry.
      const [page, reader] = yield* run(Dse.sthread(wal.scan(0, { mode: "speculative" })))
      expect(page.entries.map(json)).toEqual(["c0", "s1"])
      yield* proc.crash
      yield* proc.restart
      yield* settle()
      // Nothing that reader did can leave the domain or commit...
      const wait = yield* run(Effect.either(Dse.awaitCommitOf(reader)))
      expect(Either.isLeft(wait) && wait.left._tag).toBe("RolledBack")
      // ...and its next call is refused: it must start over in a new sthread.
      yield* run(wal.append("n1"))
      const next = yield* run(Effect.either(Sthread.within(wal.scan(0, { mode: "speculative" }), reader)))
      expect(Either.isLeft(next) && next.left._tag).toBe("RolledBack")
      // A new reader sees the new entry at the reused LSN.
      const [fresh] = yield* run(Dse.sthread(wal.scan(0, { mode: "speculative" })))
      expect(fresh.entries.map(json)).toEqual(["c0", "n1"])
    })
  )

  it.scoped("a reader that saw only committed entries keeps its sthread across the rollback", () =>
    Effect.gen(function* () {
      const { cluster, wal, run } = yield* setupWal(slow)
      const x = yield* cluster.spawn("x", xProgram(cluster.network))
      yield* run(wal.append("c0"))
      const [page, reader] = yield* run(Dse.sthread(wal.scan(0, { mode: "speculative" })))
      expect(page.entries.map(json)).toEqual(["c0"])
      yield* run(Dse.sthread(Effect.zipRight(callX(cluster.network), wal.append("lost"))))
      yield* x.crash
      yield* x.restart
      yield* settle()
      const wait = yield* run(Effect.either(Dse.awaitCommitOf(reader)))
      expect(Either.isRight(wait)).toBe(true)
    })
  )
})
