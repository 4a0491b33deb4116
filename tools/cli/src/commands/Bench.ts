/**
 * `dse bench [suite...] [--quick] [--json] [--out DIR] [--storage-latency MS] [--keep]`: the
 * benchmark report of @dse/bench (tools/bench), the same engine as `pnpm bench`. Prints the tables
 * (or with --json one JSON document) on stdout, progress on stderr, and writes results.json,
 * report.md and the SVG charts to --out (default bench-results/<date-time>).
 */
import { Args, Command, Options } from "@effect/cli"
import { Effect, Option } from "effect"
import * as CliError from "../CliError"

export const command = Command.make(
  "bench",
  {
    suites: Args.text({ name: "SUITE" }).pipe(Args.repeated),
    quick: Options.boolean("quick").pipe(Options.withDescription("few samples and small N: checks every suite produces numbers (CI)")),
    json: Options.boolean("json").pipe(Options.withDescription("print one JSON document instead of the tables")),
    out: Options.text("out").pipe(Options.withDescription("where results.json, report.md and the charts go"), Options.optional),
    storageLatency: Options.float("storage-latency").pipe(
      Options.withDescription("emulate replicated storage: every durable write waits MS more"),
      Options.optional
    ),
    keep: Options.boolean("keep").pipe(Options.withDescription("keep the run's temporary directory (logs, sqlite files)"))
  },
  (o) =>
    Effect.gen(function* () {
      const bench = yield* Effect.tryPromise({
        try: () => import("@dse/bench"),
        catch: (e) => CliError.fail(`cannot load @dse/bench: ${CliError.describe(e)}`)
      })
      const argv = [
        ...o.suites,
        ...(o.quick ? ["--quick"] : []),
        ...(o.json ? ["--json"] : []),
        ...(o.keep ? ["--keep"] : []),
        ...Option.match(o.out, { onNone: () => [], onSome: (dir) => ["--out", dir] }),
        ...Option.match(o.storageLatency, { onNone: () => [], onSome: (ms) => ["--storage-latency", String(ms)] })
      ]
      // The engine prints the report itself; its exit code says whether every suite produced results.
      const code = yield* bench.main(argv, `dse bench ${argv.join(" ")}`.trim())
      if (code === 2) return yield* CliError.usage("bad arguments (see above)")
      if (code !== 0) return yield* CliError.fail("some suites produced no results (see the report)")
    })
).pipe(Command.withDescription("benchmarks: dse against durable mode, Effect's engine and the peers, with a report and charts"))
