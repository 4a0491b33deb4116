/**
 * `dse wf` on its own: `tsx src/cli.ts <command> ...` (see WorkflowCli for the commands).
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import * as WorkflowCli from "./WorkflowCli"

NodeRuntime.runMain(Effect.flatMap(WorkflowCli.main(process.argv.slice(2)), (code) => Effect.sync(() => process.exit(code))))
