/**
 * Speculative and committed reads. Inside the DSE domain a read is speculative by default: it sees
 * uncommitted writes and the reader depends on them. A committed read (and every read from outside
 * the domain) returns only committed data: it never shows a value that a failure later takes back.
 */
import { describe, expect, it } from "@effect/vitest"
import { Dse, Sthread } from "@dse/core"
import { Effect, Either, Exit, Fiber, Option } from "effect"
import { isRunning, keyOn, restart, settle, setupKv } from "./support"

const valueOf = (entry: Option.Option<{ readonly value: unknown }>) => Option.map(entry, (e) => e.value)

describe("committed reads", () => {
  it.scoped("a committed read waits until what it saw has committed", () =>
    Effect.gen(function* () {
      const { kv, run, fork } = yield* setupKv({ cluster: { persistDelay: "100 millis" } })
      yield* run(Dse.sthread(kv.put("a", "v1")))
      const committed = yield* fork(Dse.sthread(kv.get("a", { committed: true })))
      yield* settle(20)
      expect(isRunning(committed)).toBe(true)
      yield* settle(200)
      const [result] = yield* Fiber.join(committed)
      expect(valueOf(result)).toEqual(Option.some("v1"))
    })
  )

  it.scoped("a committed read never shows a write that is rolled back; a speculative read may have", () =>
    Effect.gen(function* () {
      const { kv, run, fork, procs, live } = yield* setupKv({ shards: 2, cluster: { persistDelay: "100 millis" } })
      const a = keyOn(0, 2)
      const b = keyOn(1, 2)
      yield* run(kv.put(a, "committed"))
      // One sthread writes shard 1 then shard 0: shard 0's new value depends on shard 1's write.
      yield* run(Dse.sthread(Effect.zipRight(kv.put(b, "lost"), kv.put(a, "lost"))))
      // A speculative reader sees the uncommitted value.
      const [speculative] = yield* run(Dse.sthread(kv.get(a)))
      expect(valueOf(speculative)).toEqual(Option.some("lost"))
      // A committed reader in the domain, and an outside reader, wait.
      const committed = yield* fork(Dse.sthread(kv.get(a, { committed: true })))
      const outside = yield* fork(kv.get(a))
      yield* settle(20)
      expect(isRunning(committed)).toBe(true)
      expect(isRunning(outside)).toBe(true)
      // Shard 1 dies before its write is durable: shard 0 must roll its dependent write back.
      yield* procs[1]!.crash
      yield* restart(procs[1]!)
      yield* settle(200)
      expect(live[0]!.stats().worker.restores).toBe(1)
      // The committed read retried on the rolled-back state: only committed data.
      const [result] = yield* Fiber.join(committed)
      expect(valueOf(result)).toEqual(Option.some("committed"))
      // The outside reader got committed data or a RolledBack to retry, never "lost".
      const outsideExit = yield* Fiber.await(outside)
      if (Exit.isSuccess(outsideExit)) expect(valueOf(outsideExit.value)).toEqual(Option.some("committed"))
      else expect(Exit.isFailure(outsideExit) && outsideExit.cause.toString()).toContain("RolledBack")
      expect(valueOf(yield* run(kv.get(a)))).toEqual(Option.some("committed"))
    })
  )

  it.scoped("a committed read of a crashed shard's unpersisted write fails or shows committed data, never the write", () =>
    Effect.gen(function* () {
      const { kv, run, fork, procs } = yield* setupKv({ cluster: { persistDelay: "100 millis" } })
      yield* run(Dse.sthread(kv.put("a", "lost")))
      const committed = yield* fork(Dse.sthread(kv.get("a", { committed: true })))
      yield* settle(20)
      yield* procs[0]!.crash
      // The connection broke: the reader gets ShardUnavailable and retries.
      const exit = yield* Fiber.await(committed)
      expect(Exit.isFailure(exit) && exit.cause.toString()).toContain("ShardUnavailable")
      yield* restart(procs[0]!)
      const [again] = yield* run(Dse.sthread(kv.get("a", { committed: true })))
      expect(again).toEqual(Option.none())
    })
  )

  it.scoped("a speculative reader depends on what it read: its own commit fails if that is lost", () =>
    Effect.gen(function* () {
      const { kv, run, fork, procs } = yield* setupKv({ cluster: { persistDelay: "100 millis" } })
      yield* run(Dse.sthread(kv.put("a", "lost")))
      // Another sthread reads it speculatively and then waits to commit its output.
      const reader = yield* fork(
        Dse.sthread(Effect.flatMap(kv.get("a"), (seen) => Effect.as(Dse.awaitCommit, valueOf(seen))))
      )
      yield* settle(20)
      expect(isRunning(reader)).toBe(true)
      yield* procs[0]!.crash
      yield* restart(procs[0]!)
      yield* settle(50)
      const exit = yield* Fiber.await(reader)
      expect(Exit.isFailure(exit) && exit.cause.toString()).toContain("RolledBack")
    })
  )

  it.scoped("a committed read does not wait for the caller's own speculation", () =>
    Effect.gen(function* () {
      const { kv, run, fork } = yield* setupKv({ shards: 2, cluster: { persistDelay: "100 millis" } })
      const a = keyOn(0, 2)
      const b = keyOn(1, 2)
      yield* run(kv.put(a, "committed"))
      // The caller's sthread carries an uncommitted write of shard 1; its committed read of shard 0
      // depends only on shard 0's committed state, so it returns before shard 1 persists.
      const fiber = yield* fork(
        Dse.sthread(
          Effect.gen(function* () {
            yield* kv.put(b, "speculative")
            return yield* kv.get(a, { committed: true })
          })
        )
      )
      yield* settle(20)
      expect(isRunning(fiber)).toBe(false)
      const [result, thread] = yield* Fiber.join(fiber)
      expect(valueOf(result)).toEqual(Option.some("committed"))
      // The sthread still depends on its own write, and not on anything the committed read added.
      expect(thread.deps.size).toBe(1)
    })
  )

  it.scoped("a speculative read joins the reader's sthread; a read from outside carries nothing back", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv({ cluster: { persistDelay: "100 millis" } })
      yield* run(Dse.sthread(kv.put("a", 1)))
      const [, thread] = yield* run(Dse.sthread(kv.get("a")))
      expect(thread.deps.size).toBe(1)
      const [outside] = yield* run(Sthread.root(Effect.either(kv.get("a"))))
      expect(Either.isRight(outside) && valueOf(outside.right)).toEqual(Option.some(1))
    })
  )
})
