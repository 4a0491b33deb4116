/**
 * Options shared by the verbs.
 */
import { Options } from "@effect/cli"

/** `--data DIR`: the cluster's data directory. */
export const data = Options.text("data").pipe(
  Options.withAlias("d"),
  Options.withDefault("./.dse"),
  Options.withDescription("the cluster's data directory")
)

export const json = Options.boolean("json").pipe(Options.withDescription("print one JSON document instead of text"))

export const committed = Options.boolean("committed").pipe(
  Options.withDescription(
    "also wait for a committed read (the CLI is outside the DSE domain: its replies are commit-gated anyway)"
  )
)

export const mode = Options.choice("mode", ["speculative", "durable", "ephemeral"]).pipe(
  Options.withDefault("speculative" as const),
  Options.withDescription("execution mode of every process")
)
