/**
 * Durability: the committed prefix survives crashes and restarts of the log, of the coordinator,
 * and of everything at once; the execution modes.
 */
import { describe, expect, it } from "@effect/vitest"
import { Dse } from "@dse/core"
import { Effect, Fiber } from "effect"
import { drive, settle, setupWal } from "./support/cluster"

const json = (e: { readonly data: { readonly _tag: string } }) => (e.data as { value?: unknown }).value

describe("durability", () => {
  it.scoped("the committed prefix survives crash+restart of the log", () =>
    Effect.gen(function* () {
      const { wal, run, proc, log } = yield* setupWal({ cluster: { persistDelay: "1 millis" } })
      for (let i = 0; i < 5; i++) yield* run(wal.appendBatch([`a${i}`, `b${i}`]))
      const committed = log().dump()
      expect(committed.length).toBe(10)
      for (let round = 0; round < 3; round++) {
        yield* proc.crash
        yield* proc.restart
        yield* settle()
        expect(log().dump()).toEqual(committed)
      }
      expect((yield* run(wal.append("next"))).lsn).toBe(10)
    })
  )

  it.scoped("the committed prefix survives a crash in the middle of a checkpoint", () =>
    Effect.gen(function* () {
      const { wal, run, fork, proc, log } = yield* setupWal({ cluster: { persistDelay: "5 millis" } })
      yield* run(wal.appendBatch(["c0", "c1"]))
      const acked: Array<readonly [number, string]> = []
      const writer = yield* fork(
        Effect.forEach(Array.from({ length: 40 }, (_, i) => i), (i) =>
          Effect.tap(Effect.either(wal.append(`w${i}`)), (r) =>
            Effect.sync(() => r._tag === "Right" && acked.push([r.right.lsn, `w${i}`]))
          )
        )
      )
      yield* settle(40)
      yield* proc.crash
      const ackedBeforeCrash = acked.length
      yield* proc.restart
      yield* settle(20)
      yield* Fiber.interrupt(writer)
      expect(ackedBeforeCrash).toBeGreaterThan(0)
      const after = log().dump()
      // Every append acknowledged (after commit) is there, at its LSN.
      for (const [lsn, value] of acked.slice(0, ackedBeforeCrash)) expect(json(after[lsn]!)).toBe(value)
      expect(after.slice(0, 2).map(json)).toEqual(["c0", "c1"])
    })
  )

  it.scoped("the committed prefix survives a coordinator crash, and commits resume after its restart", () =>
    Effect.gen(function* () {
      const { wal, run, fork, cluster } = yield* setupWal()
      yield* run(wal.append("c0"))
      yield* cluster.crashCoordinator
      const pending = yield* fork(wal.append("c1"))
      yield* settle(50)
      expect(pending.unsafePoll()).toBeNull()
      yield* cluster.restartCoordinator
      expect((yield* drive(pending)).lsn).toBe(1)
      expect((yield* run(wal.scan(0))).entries.map(json)).toEqual(["c0", "c1"])
    })
  )

  it.scoped("everything crashes at once: exactly the committed prefix survives", () =>
    Effect.gen(function* () {
      const { wal, run, proc, client, cluster, log } = yield* setupWal({ cluster: { sealPeriod: "1 hour" } })
      yield* run(wal.appendBatch(["c0", "c1"]))
      yield* run(Dse.sthread(wal.append("speculative")))
      yield* proc.crash
      yield* client.crash
      yield* cluster.crashCoordinator
      yield* cluster.restartCoordinator
      yield* proc.restart
      yield* client.restart
      yield* settle()
      expect(log().dump().map(json)).toEqual(["c0", "c1"])
    })
  )
})

describe("modes", () => {
  it.scoped("durable mode: an append returns after its own fsync; reads see only persisted entries; restart keeps them", () =>
    Effect.gen(function* () {
      const { wal, run, proc, log } = yield* setupWal({ cluster: { mode: "durable", persistDelay: "1 millis" } })
      const [a] = yield* run(Dse.sthread(wal.appendBatch(["a", "b"])))
      expect(a.first).toBe(0)
      expect(yield* log().info).toMatchObject({ end: 2, committedEnd: 2 })
      const dup = yield* run(wal.appendBatch(["a", "b"], { producer: { id: "p", seq: 0 } }))
      const again = yield* run(wal.appendBatch(["a", "b"], { producer: { id: "p", seq: 0 } }))
      expect(again).toEqual({ ...dup, duplicate: true })
      const [page] = yield* run(Dse.sthread(wal.scan(0, { mode: "speculative" })))
      expect(page.entries.length).toBe(4)
      yield* run(wal.truncate(1))
      yield* proc.crash
      yield* proc.restart
      yield* settle()
      expect(yield* log().info).toMatchObject({ start: 1, end: 4 })
    })
  )

  it.scoped("ephemeral mode: everything is committed at once, and nothing survives a crash", () =>
    Effect.gen(function* () {
      const { wal, run, proc, log } = yield* setupWal({ cluster: { mode: "ephemeral" } })
      yield* run(Dse.sthread(wal.appendBatch(["a", "b"])))
      expect(yield* log().info).toMatchObject({ end: 2, committedEnd: 2 })
      expect((yield* run(wal.scan(0))).entries.length).toBe(2)
      yield* proc.crash
      yield* proc.restart
      yield* settle()
      expect(yield* log().info).toMatchObject({ end: 0 })
    })
  )
})
