/**
 * The `dse` command: `pnpm dse <verb>` from the repository's root (`tsx tools/cli/src/main.ts`).
 * See Cli.ts for the verbs and README.md for their flags and exit codes.
 */
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Effect, Exit } from "effect"
import { run } from "./Cli"

NodeRuntime.runMain(Effect.provide(run(process.argv), NodeContext.layer), {
  teardown: (exit, onExit) => {
    if (Exit.isSuccess(exit)) {
      // Exit now: a lingering socket of a client must not keep a finished command alive.
      process.exit(exit.value as number)
    }
    onExit(Cause.isInterruptedOnly(exit.cause) ? 0 : 1)
  }
})
