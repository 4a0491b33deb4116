/**
 * `pnpm bench [suite...] [--quick] [--json] [--out DIR] [--storage-latency MS] [--keep]` (see Options.ts).
 * Ctrl-C stops the run: every process it started is killed and its temporary directory removed.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { main } from "./Cli"

NodeRuntime.runMain(
  Effect.flatMap(main(process.argv.slice(2)), (code) =>
    Effect.sync(() => {
      process.exitCode = code
    })
  )
)
