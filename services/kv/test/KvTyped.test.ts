/**
 * Values validated by a Schema the caller gives: encoded before they are written, decoded when
 * they are read; a mismatch is a typed SchemaMismatch.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Schema } from "effect"
import * as KvClient from "../src/KvClient"
import { setupKv } from "./support"

class User extends Schema.Class<User>("User")({
  name: Schema.NonEmptyString,
  born: Schema.Date,
  tags: Schema.Array(Schema.String)
}) {}

describe("typed access", () => {
  it.scoped("a value round-trips through its schema (a Date is stored as its JSON string)", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv()
      const users = KvClient.typed(kv, User)
      const ada = new User({ name: "Ada", born: new Date("1815-12-10T00:00:00.000Z"), tags: ["math"] })
      yield* run(users.put("user/ada", ada))
      expect(Option.map(yield* run(kv.get("user/ada")), (e) => e.value)).toEqual(
        Option.some({ name: "Ada", born: "1815-12-10T00:00:00.000Z", tags: ["math"] })
      )
      const read = yield* run(users.get("user/ada"))
      expect(Option.map(read, (e) => e.value)).toEqual(Option.some(ada))
      const page = yield* run(users.scan("user/"))
      expect(page.entries.map((e) => e.value.name)).toEqual(["Ada"])
    })
  )

  it.scoped("a stored value that does not match fails with SchemaMismatch on read", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv()
      yield* run(kv.put("user/bad", { name: "", born: "not a date", tags: [] }))
      const error = yield* run(Effect.flip(KvClient.typed(kv, User).get("user/bad")))
      expect(error).toMatchObject({ _tag: "SchemaMismatch", key: "user/bad", direction: "decode" })
    })
  )

  it.scoped("a value that the schema refuses is not written (SchemaMismatch on encode)", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv()
      const users = KvClient.typed(kv, User)
      const error = yield* run(Effect.flip(users.put("user/x", { name: "", born: new Date(0), tags: [] } as unknown as User)))
      expect(error).toMatchObject({ _tag: "SchemaMismatch", direction: "encode" })
      expect(yield* run(kv.get("user/x"))).toEqual(Option.none())
    })
  )

  it.scoped("typed compare-and-set works against revisions", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv()
      const counters = KvClient.typed(kv, Schema.Struct({ n: Schema.Int }))
      expect(yield* run(counters.compareAndSet("c", 0, { n: 1 }))).toEqual({ _tag: "Swapped", revision: 1 })
      expect((yield* run(counters.compareAndSet("c", 0, { n: 2 })))._tag).toBe("Mismatch")
    })
  )
})
