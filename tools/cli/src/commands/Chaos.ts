/**
 * `dse chaos [--duration S] [--seed N] [--kills K] [--json] [--keep]`: a crash campaign (@dse/chaos).
 *
 * Brings up a local cluster on a temporary data directory, runs outside clients that record every
 * operation, SIGKILLs processes on a seeded schedule (the coordinator too, two at once, one during
 * recovery), then checks the history against the final committed state. Prints a summary, or with
 * `--json` one document `{ "seed", "kills", "operations", "violations" }`. Exit code 1 on a
 * violation (the seed replays the campaign). See docs/guarantees.md.
 */
import { run } from "@dse/chaos"
import { Command, Options } from "@effect/cli"
import { Effect, Option } from "effect"
import * as CliError from "../CliError"

export const command = Command.make(
  "chaos",
  {
    duration: Options.integer("duration").pipe(Options.withDefault(60), Options.withDescription("seconds of workload")),
    seed: Options.integer("seed").pipe(Options.withDescription("random seed (to replay a campaign; default: a random one, printed)"), Options.optional),
    kills: Options.integer("kills").pipe(Options.withDefault(5), Options.withDescription("SIGKILLs during the campaign")),
    json: Options.boolean("json").pipe(Options.withDescription("print one JSON document")),
    keep: Options.boolean("keep").pipe(Options.withDescription("keep the temporary data directory (logs, checkpoint files)"))
  },
  (o) =>
    Effect.gen(function* () {
      if (o.duration < 1) return yield* CliError.usage("--duration must be >= 1")
      if (o.kills < 0) return yield* CliError.usage("--kills must be >= 0")
      const report = yield* run({ duration: o.duration, seed: Option.getOrUndefined(o.seed), kills: o.kills, json: o.json, keep: o.keep }).pipe(
        Effect.mapError((e) => CliError.fail(e.message))
      )
      // The summary (or the JSON) is printed already: exit 1 without another message.
      if (!report.passed) return yield* new CliError.CliError({ message: "", code: 1 })
    })
).pipe(Command.withDescription("a crash campaign: random SIGKILLs under a recorded workload, and a checker"))
