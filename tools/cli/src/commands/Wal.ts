/**
 * `dse wal append JSON | append --bytes HEX` and `dse wal scan FROM [TO] [--limit N] [--committed]
 * [--follow]` (with `--json`): talks to the write-ahead log (found through the coordinator).
 *
 * The CLI is outside the DSE domain: an append is acknowledged once it has committed, and a scan
 * reads the committed prefix. `--committed` on an append additionally reads the entry back from the
 * committed prefix; `--follow` keeps printing entries as they commit (Ctrl-C to stop).
 */
import { Args, Command, Options } from "@effect/cli"
import type { WalModel } from "@dse/wal"
import { Console, Effect, Option, Stream } from "effect"
import * as CliError from "../CliError"
import * as Services from "../Services"
import * as Shared from "./Shared"

const name = Options.text("name").pipe(Options.withDescription("the log's worker name (default: the cluster's WAL)"), Options.optional)

const nameOf = (o: Option.Option<string>) => Option.getOrUndefined(o)

const entryJson = (e: WalModel.WalEntry) => ({
  lsn: e.lsn,
  worldLine: e.worldLine,
  appendedAt: new Date(e.appendedAt).toISOString(),
  ...(e.data._tag === "Json" ? { value: e.data.value } : { bytes: Buffer.from(e.data.bytes).toString("hex") }),
  ...(e.producer ? { producer: e.producer } : {})
})

const entryText = (e: WalModel.WalEntry) =>
  `${e.lsn}\t${e.data._tag === "Json" ? JSON.stringify(e.data.value) : `0x${Buffer.from(e.data.bytes).toString("hex")}`}\t(world-line ${e.worldLine}, ${new Date(e.appendedAt).toISOString()})`

const parseHex = (text: string): Effect.Effect<Uint8Array, CliError.CliError> => {
  const hex = text.replace(/^0x/i, "")
  return /^([0-9a-f]{2})*$/i.test(hex)
    ? Effect.succeed(Uint8Array.from(Buffer.from(hex, "hex")))
    : Effect.fail(CliError.usage(`--bytes must be hexadecimal (an even number of 0-9a-f), got ${text}`))
}

const append = Command.make(
  "append",
  {
    value: Args.text({ name: "JSON" }).pipe(Args.optional),
    bytes: Options.text("bytes").pipe(Options.withDescription("append raw bytes given in hex instead of JSON"), Options.optional),
    name,
    data: Shared.data,
    json: Shared.json,
    committed: Shared.committed
  },
  (o) =>
    Effect.scoped(
      Effect.gen(function* () {
        if (Option.isSome(o.value) === Option.isSome(o.bytes)) return yield* CliError.usage("give exactly one of JSON and --bytes HEX")
        const entry = Option.isSome(o.bytes)
          ? yield* parseHex(o.bytes.value)
          : yield* Effect.try({
              try: () => JSON.parse(Option.getOrThrow(o.value)) as WalModel.JsonValue,
              catch: () => CliError.usage(`not JSON: ${Option.getOrThrow(o.value)} (quote strings: '"text"')`)
            })
        const wal = yield* Services.wal(yield* Services.clusterStatus(o.data), nameOf(o.name))
        const result = yield* Services.call("append", wal.append(entry))
        let readBack: WalModel.WalEntry | undefined
        if (o.committed) {
          const page = yield* Services.call("committed read", wal.scan(result.lsn, { to: result.lsn + 1, mode: "committed", wait: "10 seconds" }))
          readBack = page.entries[0]
          if (readBack === undefined) return yield* CliError.fail(`the entry at LSN ${result.lsn} is not in the committed prefix`)
        }
        yield* Console.log(
          o.json
            ? JSON.stringify({ wal: wal.name, lsn: result.lsn, duplicate: result.duplicate, ...(readBack ? { committed: entryJson(readBack) } : {}) })
            : `ok: ${wal.name} LSN ${result.lsn}${readBack ? ` (committed read: ${entryText(readBack)})` : ""}`
        )
      })
    )
).pipe(Command.withDescription("append one entry (JSON, or --bytes HEX); prints its LSN once committed"))

const scan = Command.make(
  "scan",
  {
    from: Args.integer({ name: "FROM" }).pipe(Args.withDefault(0)),
    to: Args.integer({ name: "TO" }).pipe(Args.optional),
    limit: Options.integer("limit").pipe(Options.withDefault(100), Options.withDescription("at most N entries (1..10000)")),
    follow: Options.boolean("follow").pipe(Options.withAlias("f"), Options.withDescription("keep printing entries as they commit")),
    name,
    data: Shared.data,
    json: Shared.json,
    committed: Shared.committed
  },
  (o) =>
    Effect.scoped(
      Effect.gen(function* () {
        if (o.from < 0) return yield* CliError.usage("FROM must be >= 0")
        if (o.limit < 1 || o.limit > 10_000) return yield* CliError.usage("--limit must be 1..10000")
        const wal = yield* Services.wal(yield* Services.clusterStatus(o.data), nameOf(o.name))
        const print = (e: WalModel.WalEntry) => Console.log(o.json ? JSON.stringify(entryJson(e)) : entryText(e))
        if (o.follow) {
          // Until Ctrl-C (or TO).
          const to = Option.getOrUndefined(o.to)
          const stream = wal.tail(o.from, { mode: "committed" })
          return yield* (to !== undefined ? Stream.takeWhile(stream, (e) => e.lsn < to) : stream).pipe(
            Stream.runForEach(print),
            Effect.mapError((e) => CliError.fail(`follow: ${CliError.describe(e)}`))
          )
        }
        const page = yield* Services.call(
          "scan",
          wal.scan(o.from, { limit: o.limit, mode: "committed", ...(Option.isSome(o.to) ? { to: o.to.value } : {}) })
        )
        if (o.json) {
          return yield* Console.log(
            JSON.stringify({ wal: wal.name, entries: page.entries.map(entryJson), next: page.next, start: page.start, end: page.end })
          )
        }
        for (const e of page.entries) yield* print(e)
        yield* Console.log(`(${page.entries.length} entries; committed log [${page.start}, ${page.end}), next ${page.next})`)
      })
    )
).pipe(Command.withDescription("print entries from LSN FROM (to TO) of the committed log"))

export const command = Command.make("wal").pipe(
  Command.withDescription("talk to the write-ahead log (append, scan)"),
  Command.withSubcommands([append, scan])
)
