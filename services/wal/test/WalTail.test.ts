/**
 * tail: a stream of new entries, speculative (as appended) or committed (as they commit), and what
 * a rollback does to a speculative follower.
 */
import { describe, expect, it } from "@effect/vitest"
import { Dse } from "@dse/core"
import type { RolledBack } from "@dse/core"
import { Cause, Effect, Exit, Fiber, Option, Stream } from "effect"
import type { WalEntry } from "../src/WalModel"
import { callX, isRunning, settle, setupWal, xProgram } from "./support/cluster"

const slow = { cluster: { sealPeriod: "1 hour" } } as const

const json = (e: WalEntry) => (e.data._tag === "Json" ? e.data.value : "bytes")

const failureOf = <A, E>(exit: Exit.Exit<A, E> | null): unknown =>
  exit && Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined

/** Collects a stream's entries into `seen` as they arrive. */
const follow = <E, R>(stream: Stream.Stream<WalEntry, E, R>, seen: Array<WalEntry>) =>
  Stream.runForEach(stream, (e) => Effect.sync(() => seen.push(e)))

/**
 * A speculative follower of the log, and one entry appended in an sthread that depends on x (so
 * that x's crash loses it): the start of every "x's restart takes the entry back" case.
 */
const followerOfEntryOnX = Effect.gen(function* () {
  const setup = yield* setupWal(slow)
  const x = yield* setup.cluster.spawn("x", xProgram(setup.cluster.network))
  const seen: Array<WalEntry> = []
  const tail = yield* setup.fork(Dse.sthread(follow(setup.wal.tail(0, { mode: "speculative" }), seen)))
  yield* setup.run(Dse.sthread(Effect.zipRight(callX(setup.cluster.network), setup.wal.append("depends-on-x"))))
  yield* settle(5)
  expect(seen.map(json)).toEqual(["depends-on-x"])
  return { ...setup, x, tail }
})

describe("tail", () => {
  it.scoped("a speculative tail emits entries as they are appended, before they commit", () =>
    Effect.gen(function* () {
      const { wal, run, fork, log } = yield* setupWal(slow)
      const seen: Array<WalEntry> = []
      const tail = yield* fork(Dse.sthread(follow(wal.tail(0, { mode: "speculative" }), seen)))
      yield* settle(5)
      yield* run(Dse.sthread(wal.appendBatch(["a", "b"])))
      yield* settle(5)
      yield* run(Dse.sthread(wal.append("c")))
      yield* settle(5)
      expect(seen.map(json)).toEqual(["a", "b", "c"])
      expect((yield* log().info).committedEnd).toBe(0)
      yield* Fiber.interrupt(tail)
    })
  )

  it.scoped("a committed tail emits entries only once they commit, in LSN order", () =>
    Effect.gen(function* () {
      const { wal, run, fork, log } = yield* setupWal(slow)
      yield* run(Dse.sthread(wal.appendBatch(["a", "b"])))
      const seen: Array<WalEntry> = []
      // The follower asks for the seal of what it waits for (as every commit wait does).
      const tail = yield* fork(follow(wal.tail(0, { mode: "committed" }), seen))
      yield* settle(20)
      expect(seen.map(json)).toEqual(["a", "b"])
      expect((yield* log().info).committedEnd).toBe(2)
      yield* run(wal.append("c"))
      yield* settle(20)
      expect(seen.map((e) => e.lsn)).toEqual([0, 1, 2])
      yield* Fiber.interrupt(tail)
    })
  )

  it.scoped("a committed tail never emits an entry that is later rolled back", () =>
    Effect.gen(function* () {
      // Persists take 20 ms: x's checkpoint is still in flight when x crashes.
      const { cluster, wal, run, fork } = yield* setupWal({ cluster: { sealPeriod: "1 hour", persistDelay: "20 millis" } })
      const x = yield* cluster.spawn("x", xProgram(cluster.network))
      yield* run(wal.append("c0"))
      const seen: Array<WalEntry> = []
      const tail = yield* fork(follow(wal.tail(0, { mode: "committed" }), seen))
      yield* settle(1)
      // The follower's commit wait asks for the seal of the log's version, and of x's version it
      // depends on; neither persist lands before x crashes, so the entry cannot commit.
      yield* run(Dse.sthread(Effect.zipRight(callX(cluster.network), wal.append("lost"))))
      expect(seen.map(json)).toEqual(["c0"])
      yield* x.crash
      yield* x.restart
      yield* settle(50)
      expect(seen.map(json)).toEqual(["c0"])
      yield* run(wal.append("n1"))
      yield* settle(50)
      expect(seen.map(json)).toEqual(["c0", "n1"])
      expect(isRunning(tail)).toBe(true)
      yield* Fiber.interrupt(tail)
    })
  )

  it.scoped("a speculative tail that saw a rolled-back entry fails with RolledBack (in the log's process)", () =>
    Effect.gen(function* () {
      const { cluster, wal, run, forkInLog, log } = yield* setupWal(slow)
      const x = yield* cluster.spawn("x", xProgram(cluster.network))
      yield* run(wal.append("c0"))
      const seen: Array<WalEntry> = []
      const tail = yield* forkInLog(Dse.sthread(follow(log().tail({ from: 0, mode: "speculative" }), seen)))
      yield* run(Dse.sthread(Effect.zipRight(callX(cluster.network), wal.append("depends-on-x"))))
      yield* settle(5)
      expect(seen.map(json)).toEqual(["c0", "depends-on-x"])
      yield* x.crash
      yield* x.restart
      yield* settle(5)
      expect(isRunning(tail)).toBe(false)
      expect(failureOf(tail.unsafePoll())).toMatchObject({ _tag: "RolledBack" } satisfies Partial<RolledBack>)
    })
  )

  it.scoped("a speculative tail that saw a rolled-back entry fails with RolledBack (a remote follower, the log crashed)", () =>
    Effect.gen(function* () {
      const { wal, run, fork, proc } = yield* setupWal(slow)
      yield* run(wal.append("c0"))
      const seen: Array<WalEntry> = []
      const tail = yield* fork(Dse.sthread(follow(wal.tail(0, { mode: "speculative" }), seen)))
      yield* run(Dse.sthread(wal.append("s1")))
      yield* settle(5)
      expect(seen.map(json)).toEqual(["c0", "s1"])
      yield* proc.crash
      yield* settle(5)
      // The follower retries while the log is down, and keeps its position.
      expect(isRunning(tail)).toBe(true)
      yield* proc.restart
      yield* settle(50)
      expect(failureOf(tail.unsafePoll())).toMatchObject({ _tag: "RolledBack" })
    })
  )

  it.scoped("a speculative tail that saw a rolled-back entry fails with RolledBack (a remote follower, while the log is down)", () =>
    Effect.gen(function* () {
      const { proc, x, tail } = yield* followerOfEntryOnX
      yield* proc.crash
      yield* settle(5)
      expect(isRunning(tail)).toBe(true)
      // x's restart moves the cluster to a world-line that loses the entry; the log stays down, so
      // only the follower's own process can tell it, and does at once (not at its next try).
      yield* x.crash
      yield* x.restart
      yield* settle(1)
      expect(failureOf(tail.unsafePoll())).toMatchObject({ _tag: "RolledBack" })
    })
  )

  it.scoped("a speculative tail that saw a rolled-back entry fails with RolledBack (a remote follower, a survivor log)", () =>
    Effect.gen(function* () {
      const { x, tail } = yield* followerOfEntryOnX
      // The follower is parked in a long-poll on the log when the rollback comes.
      expect(isRunning(tail)).toBe(true)
      yield* x.crash
      yield* x.restart
      yield* settle(5)
      expect(failureOf(tail.unsafePoll())).toMatchObject({ _tag: "RolledBack" })
    })
  )

  it.scoped("a speculative tail that saw only surviving entries continues across a rollback, with the reused LSNs", () =>
    Effect.gen(function* () {
      const { cluster, wal, run, fork } = yield* setupWal(slow)
      const x = yield* cluster.spawn("x", xProgram(cluster.network))
      yield* run(wal.append("c0"))
      const seen: Array<WalEntry> = []
      // The follower stops reading after c0 (take 1), then follows again from 1 in the same sthread.
      const tail = yield* fork(
        Dse.sthread(
          Effect.gen(function* () {
            yield* follow(Stream.take(wal.tail(0, { mode: "speculative" }), 1), seen)
            yield* Effect.sleep("50 millis")
            yield* follow(wal.tail(1, { mode: "speculative" }), seen)
          })
        )
      )
      yield* settle(5)
      yield* run(Dse.sthread(Effect.zipRight(callX(cluster.network), wal.append("lost"))))
      yield* x.crash
      yield* x.restart
      yield* settle(60)
      yield* run(wal.append("n1"))
      yield* settle(10)
      expect(seen.map((e) => [e.lsn, json(e)])).toEqual([[0, "c0"], [1, "n1"]])
      expect(isRunning(tail)).toBe(true)
      yield* Fiber.interrupt(tail)
    })
  )

  it.scoped("a committed tail survives a crash of the log and resumes where it was", () =>
    Effect.gen(function* () {
      const { wal, run, fork, proc } = yield* setupWal()
      const seen: Array<WalEntry> = []
      const tail = yield* fork(follow(wal.tail(0, { mode: "committed" }), seen))
      yield* run(wal.appendBatch(["a", "b"]))
      yield* settle(20)
      yield* proc.crash
      yield* settle(20)
      yield* proc.restart
      yield* run(wal.append("c"))
      yield* settle(50)
      expect(seen.map(json)).toEqual(["a", "b", "c"])
      expect(isRunning(tail)).toBe(true)
      yield* Fiber.interrupt(tail)
    })
  )

  it.scoped("a tail from below the truncation point fails with LsnTruncated", () =>
    Effect.gen(function* () {
      const { wal, run, fork } = yield* setupWal()
      yield* run(wal.appendBatch(["a", "b", "c"]))
      yield* run(wal.truncate(2))
      const tail = yield* fork(Stream.runDrain(wal.tail(0)))
      yield* settle(20)
      expect(failureOf(tail.unsafePoll())).toMatchObject({ _tag: "LsnTruncated", lsn: 0, start: 2 })
    })
  )

  it.scoped("a tail in the log's process: Stream of entries in order, batch by batch", () =>
    Effect.gen(function* () {
      const { run, runInLog, log, wal } = yield* setupWal()
      yield* run(wal.appendBatch(Array.from({ length: 25 }, (_, i) => i)))
      const got = yield* runInLog(
        Stream.runCollect(Stream.take(log().tail({ from: 3, mode: "committed", batchSize: 7 }), 22))
      )
      expect(Array.from(got).map((e) => e.lsn)).toEqual(Array.from({ length: 22 }, (_, i) => i + 3))
    })
  )
})
