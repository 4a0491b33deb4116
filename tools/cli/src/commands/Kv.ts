/**
 * `dse kv get KEY | put KEY JSON | del KEY | scan PREFIX [--limit N]` with `--committed` and
 * `--json`: talks to the KV shards (found through the coordinator).
 *
 * The CLI is a client from outside the DSE domain: its calls carry no DSE header, so every reply
 * (a read, or a write's acknowledgement) is released only once what it depends on has committed.
 * `--committed` additionally reads committed data explicitly: `get`/`scan` ask the shard for a
 * committed read, and `put`/`del` follow the write with a committed read of the key.
 */
import { Args, Command, Options } from "@effect/cli"
import type { KvClient, KvModel } from "@dse/kv"
import { Console, Effect, Option } from "effect"
import * as CliError from "../CliError"
import * as Services from "../Services"
import * as Shared from "./Shared"

const key = Args.text({ name: "KEY" })
const idempotencyKey = Options.text("idempotency-key").pipe(
  Options.withDescription("make the write idempotent: a repeat with this key changes nothing"),
  Options.optional
)

const parseJson = (text: string): Effect.Effect<KvModel.JsonValue, CliError.CliError> =>
  Effect.try({
    try: () => JSON.parse(text) as KvModel.JsonValue,
    catch: () => CliError.usage(`not JSON: ${text} (quote strings: '"text"')`)
  })

const print = (json: boolean, document: unknown, text: string) => Console.log(json ? JSON.stringify(document) : text)

const committedRead = (kv: KvClient.KvClientService, k: string) =>
  Services.call(`committed read of ${k}`, kv.get(k, { committed: true }))

const get = Command.make("get", { key, data: Shared.data, json: Shared.json, committed: Shared.committed }, (o) =>
  Effect.scoped(
    Effect.gen(function* () {
      const kv = yield* Services.kv(yield* Services.clusterStatus(o.data))
      const entry = yield* Services.call(`get ${o.key}`, kv.get(o.key, o.committed ? { committed: true } : {}))
      if (Option.isNone(entry)) {
        if (o.json) yield* Console.log(JSON.stringify({ key: o.key, found: false }))
        // Exit code 1, like grep: the JSON form has said it already.
        return yield* new CliError.CliError({ message: o.json ? "" : `no such key: ${o.key}`, code: 1 })
      }
      yield* print(
        o.json,
        { key: o.key, found: true, value: entry.value.value, revision: entry.value.revision },
        JSON.stringify(entry.value.value)
      )
    })
  )
).pipe(Command.withDescription("print the value of KEY (exit code 1 if there is none)"))

const put = Command.make(
  "put",
  { key, value: Args.text({ name: "JSON" }), data: Shared.data, json: Shared.json, committed: Shared.committed, idempotencyKey },
  (o) =>
    Effect.scoped(
      Effect.gen(function* () {
        const value = yield* parseJson(o.value)
        const kv = yield* Services.kv(yield* Services.clusterStatus(o.data))
        const result = yield* Services.call(
          `put ${o.key}`,
          kv.put(o.key, value, Option.isSome(o.idempotencyKey) ? { idempotencyKey: o.idempotencyKey.value } : {})
        )
        const read = o.committed ? Option.getOrUndefined(yield* committedRead(kv, o.key)) : undefined
        yield* print(
          o.json,
          { key: o.key, revision: result.revision, created: result.created, shard: kv.shardOf(o.key), ...(read ? { committedValue: read.value } : {}) },
          `ok: ${o.key} revision ${result.revision}${result.created ? " (created)" : ""} on shard kv-${kv.shardOf(o.key)}` +
            (read ? `; committed read: ${JSON.stringify(read.value)}` : "")
        )
      })
    )
).pipe(Command.withDescription("set KEY to a JSON value"))

const del = Command.make("del", { key, data: Shared.data, json: Shared.json, committed: Shared.committed, idempotencyKey }, (o) =>
  Effect.scoped(
    Effect.gen(function* () {
      const kv = yield* Services.kv(yield* Services.clusterStatus(o.data))
      const result = yield* Services.call(
        `del ${o.key}`,
        kv.delete(o.key, Option.isSome(o.idempotencyKey) ? { idempotencyKey: o.idempotencyKey.value } : {})
      )
      const read = o.committed ? yield* committedRead(kv, o.key) : undefined
      yield* print(
        o.json,
        { key: o.key, existed: result.existed, revision: result.revision, ...(read ? { committedAbsent: Option.isNone(read) } : {}) },
        `ok: ${o.key} ${result.existed ? "deleted" : "was not there"}` + (read ? `; committed read: ${Option.isNone(read) ? "absent" : "present"}` : "")
      )
    })
  )
).pipe(Command.withDescription("delete KEY"))

const limit = Options.integer("limit").pipe(Options.withDefault(100), Options.withDescription("at most N entries (1..1000)"))

const scan = Command.make(
  "scan",
  { prefix: Args.text({ name: "PREFIX" }).pipe(Args.withDefault("")), limit, data: Shared.data, json: Shared.json, committed: Shared.committed },
  (o) =>
    Effect.scoped(
      Effect.gen(function* () {
        if (o.limit < 1 || o.limit > 1000) return yield* CliError.usage("--limit must be 1..1000")
        const kv = yield* Services.kv(yield* Services.clusterStatus(o.data))
        const page = yield* Services.call(`scan ${o.prefix}`, kv.scan(o.prefix, { limit: o.limit, ...(o.committed ? { committed: true } : {}) }))
        if (o.json) return yield* Console.log(JSON.stringify(page))
        for (const e of page.entries) yield* Console.log(`${e.key}\t${JSON.stringify(e.value)}\t(revision ${e.revision})`)
        yield* Console.log(`(${page.entries.length} entries${page.more ? ", more: raise --limit" : ""})`)
      })
    )
).pipe(Command.withDescription("the keys starting with PREFIX, in key order"))

export const command = Command.make("kv").pipe(
  Command.withDescription("talk to the KV shards (get, put, del, scan)"),
  Command.withSubcommands([get, put, del, scan])
)
