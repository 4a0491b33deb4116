/**
 * The same KV code in the three execution modes.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { restart, setupKv } from "./support"

describe.each(["durable", "ephemeral"] as const)("%s mode", (mode) => {
  it.scoped("every operation works, including reads and writes that change nothing", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv({ cluster: { mode } })
      yield* run(kv.put("a", 1, { idempotencyKey: "p" }))
      expect(yield* run(kv.put("a", 1, { idempotencyKey: "p" }))).toEqual({ revision: 1, created: true })
      expect(yield* run(kv.get("a"))).toEqual(Option.some({ value: 1, revision: 1 }))
      expect(yield* run(kv.get("a", { committed: true }))).toEqual(Option.some({ value: 1, revision: 1 }))
      expect((yield* run(kv.compareAndSet("a", { _tag: "Absent" }, 2)))._tag).toBe("Mismatch")
      expect(yield* run(kv.delete("missing"))).toMatchObject({ existed: false })
      expect((yield* run(Effect.flip(kv.increment("a", undefined, -5, { min: 0 }))))._tag).toBe("OutOfRange")
      expect((yield* run(kv.scan(""))).entries).toHaveLength(1)
    })
  )

  it.scoped(mode === "durable" ? "a crash keeps every acknowledged write" : "a crash loses everything", () =>
    Effect.gen(function* () {
      const { kv, run, procs, live } = yield* setupKv({ cluster: { mode, persistDelay: "1 millis" } })
      for (let i = 0; i < 5; i++) yield* run(kv.put(`k${i}`, i))
      yield* procs[0]!.crash
      yield* restart(procs[0]!)
      expect(live[0]!.dump()).toHaveLength(mode === "durable" ? 5 : 0)
    })
  )
})
