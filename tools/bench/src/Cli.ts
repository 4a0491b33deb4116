/**
 * `dse bench` / `pnpm bench` as a function of the command line: parses it, runs the engine, prints
 * the tables (or with --json one JSON document) on stdout. Exit code: 0 when every suite produced
 * results, 1 when one failed, 2 for bad arguments.
 */
import { Effect, Either } from "effect"
import { run } from "./Engine"
import { InvalidOptions, parseArgs, USAGE } from "./Options"
import { renderText, toJson } from "./Report"

export const main = (argv: ReadonlyArray<string>, command = `pnpm bench ${argv.join(" ")}`.trim()): Effect.Effect<number> =>
  Effect.gen(function* () {
    const parsed = parseArgs(argv)
    if (Either.isLeft(parsed)) {
      process.stderr.write(`bench: ${parsed.left.message}\n`)
      return 2
    }
    if (parsed.right.help) {
      process.stdout.write(`${USAGE}\n`)
      return 0
    }
    const report = yield* run({ ...parsed.right, command })
    if (parsed.right.json) process.stdout.write(`${JSON.stringify(toJson(report), null, 2)}\n`)
    else process.stdout.write(`${renderText(report)}\n`)
    return report.suites.some((s) => s.error !== undefined) ? 1 : 0
  }).pipe(
    Effect.catchAll((error) =>
      Effect.sync(() => {
        process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`)
        return error instanceof InvalidOptions ? 2 : 1
      })
    )
  )
