/**
 * The `dse` command tree (@effect/cli) and how its outcome becomes an exit code.
 *
 * Exit codes: 0 success; 1 the command failed (no cluster running, a process did not start, a
 * check of the demo failed, a key not found...); 2 bad usage (unknown verb, bad flag or argument).
 */
import { Command, ValidationError } from "@effect/cli"
import type { NodeContext } from "@effect/platform-node"
import { Effect } from "effect"
import { CliError } from "./CliError"
import * as Bench from "./commands/Bench"
import * as Chaos from "./commands/Chaos"
import * as Demo from "./commands/Demo"
import * as Down from "./commands/Down"
import * as Kill from "./commands/Kill"
import * as Kv from "./commands/Kv"
import * as Restart from "./commands/Restart"
import * as Status from "./commands/Status"
import * as Up from "./commands/Up"
import * as Wal from "./commands/Wal"
import * as Wf from "./commands/Wf"

export const dse = Command.make("dse").pipe(
  Command.withDescription("distributed speculative execution: run and inspect a local dse cluster"),
  Command.withSubcommands([
    Up.command,
    Status.command,
    Kill.command,
    Restart.command,
    Down.command,
    Kv.command,
    Wal.command,
    Wf.command,
    Demo.command,
    Bench.command,
    Chaos.command
  ])
)

const cli = Command.run(dse, { name: "dse", version: "0.1.0" })

/** Runs `dse` with `argv` (process.argv form: node, script, args...); the exit code. */
export const run = (argv: ReadonlyArray<string>): Effect.Effect<number, never, NodeContext.NodeContext> =>
  cli(argv).pipe(
    Effect.as(0),
    Effect.catchAll((error) => {
      // @effect/cli has printed the usage error with the help already.
      if (ValidationError.isValidationError(error)) return Effect.succeed(2)
      if (error instanceof CliError) {
        const words = argv.slice(2).filter((a) => !a.startsWith("-"))
        const verb = ["kv", "wal", "wf"].includes(words[0] ?? "") ? words.slice(0, 2).join(" ") : (words[0] ?? "")
        return Effect.sync(() => {
          if (error.message !== "") process.stderr.write(`dse${verb ? ` ${verb}` : ""}: ${error.message}\n`)
          return error.code
        })
      }
      return Effect.sync(() => {
        process.stderr.write(`dse: ${String(error)}\n`)
        return 1
      })
    })
  )

