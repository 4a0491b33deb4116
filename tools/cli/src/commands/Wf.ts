/**
 * `dse wf start|status|signal|list|workflows|interrupt|resume`: drives workflows on the workflow
 * host. The work is done by services/workflow's `WorkflowCli` (it finds the host through the
 * coordinator of `--data`, as a worker of kind "workflow"); this module maps the verbs and flags
 * onto it. WorkflowCli is loaded when a `wf` verb runs, so the other verbs do not depend on the
 * workflow service; without it, every `wf` verb fails with "workflow host not available" (exit 1).
 */
import { Args, Command, Options } from "@effect/cli"
import { Effect, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import * as CliError from "../CliError"
import { Paths } from "@dse/launcher"
import * as Shared from "./Shared"

/** What the CLI needs of services/workflow/src/WorkflowCli.ts. */
interface WorkflowCliModule {
  readonly main: (args: ReadonlyArray<string>) => Effect.Effect<number>
}

export const WORKFLOW_CLI = "services/workflow/src/WorkflowCli.ts"

/** Loads WorkflowCli, or fails with "workflow host not available". */
export const load: Effect.Effect<WorkflowCliModule, CliError.CliError> = Effect.gen(function* () {
  const file = path.join(Paths.repoRoot, WORKFLOW_CLI)
  if (!fs.existsSync(file)) {
    return yield* CliError.fail(`workflow host not available: ${WORKFLOW_CLI} does not exist in this checkout`)
  }
  const module = (yield* Effect.tryPromise({
    try: () => import(pathToFileURL(file).href) as Promise<Partial<WorkflowCliModule>>,
    catch: (e) => CliError.fail(`workflow host not available: cannot load ${WORKFLOW_CLI}: ${CliError.describe(e)}`)
  })) as Partial<WorkflowCliModule>
  if (typeof module.main !== "function") {
    return yield* CliError.fail(`workflow host not available: ${WORKFLOW_CLI} exports no main(args)`)
  }
  return module as WorkflowCliModule
})

/** Runs `dse wf <args>` through WorkflowCli (it prints its JSON result or its error). */
export const runWf = (args: ReadonlyArray<string>): Effect.Effect<void, CliError.CliError> =>
  Effect.gen(function* () {
    const cli = yield* load
    const code = yield* cli.main(args)
    // WorkflowCli has printed the error itself.
    if (code !== 0) return yield* new CliError.CliError({ message: "", code })
  })

const host = Options.text("host").pipe(Options.withDescription("the workflow host's HOST:PORT (default: found through the coordinator)"), Options.optional)
const name = Options.text("name").pipe(Options.withDescription("the workflow host's worker name, when several run"), Options.optional)
const common = { data: Shared.data, host, name }

const commonArgs = (o: { readonly data: string; readonly host: Option.Option<string>; readonly name: Option.Option<string> }) => [
  "--data",
  o.data,
  ...(Option.isSome(o.host) ? ["--host", o.host.value] : []),
  ...(Option.isSome(o.name) ? ["--name", o.name.value] : [])
]

const opt = (flag: string, value: Option.Option<string | number>) => (Option.isSome(value) ? [flag, String(value.value)] : [])

const start = Command.make(
  "start",
  {
    ...common,
    workflow: Args.text({ name: "WORKFLOW" }),
    payload: Args.text({ name: "PAYLOAD_JSON" }),
    wait: Options.boolean("wait").pipe(Options.withDescription("wait for the result (printed once committed)"))
  },
  (o) => runWf([...commonArgs(o), "start", o.workflow, o.payload, ...(o.wait ? ["--wait"] : [])])
).pipe(Command.withDescription("start a workflow execution (its id is printed)"))

const status = Command.make("status", { ...common, id: Args.text({ name: "EXECUTION_ID" }) }, (o) =>
  runWf([...commonArgs(o), "status", o.id])
).pipe(Command.withDescription("the status of an execution"))

const signal = Command.make(
  "signal",
  {
    ...common,
    target: Args.text({ name: "TOKEN_OR_EXECUTION_ID" }),
    deferred: Options.text("deferred").pipe(Options.withDescription("the DurableDeferred's name (TARGET is then an execution id)"), Options.optional),
    value: Options.text("value").pipe(Options.withDescription("complete it with this JSON value"), Options.optional),
    error: Options.text("error").pipe(Options.withDescription("fail it with this JSON error"), Options.optional)
  },
  (o) => runWf([...commonArgs(o), "signal", o.target, ...opt("--deferred", o.deferred), ...opt("--value", o.value), ...opt("--error", o.error)])
).pipe(Command.withDescription("complete a DurableDeferred (by token, or by execution id and --deferred NAME)"))

const list = Command.make(
  "list",
  {
    ...common,
    workflow: Options.text("workflow").pipe(Options.optional),
    status: Options.choice("status", ["running", "suspended", "complete"]).pipe(Options.optional),
    limit: Options.integer("limit").pipe(Options.optional),
    after: Options.text("after").pipe(Options.optional)
  },
  (o) =>
    runWf([
      ...commonArgs(o),
      "list",
      ...opt("--workflow", o.workflow),
      ...opt("--status", o.status),
      ...opt("--limit", o.limit),
      ...opt("--after", o.after)
    ])
).pipe(Command.withDescription("list executions"))

const workflows = Command.make("workflows", common, (o) => runWf([...commonArgs(o), "workflows"])).pipe(
  Command.withDescription("the workflows the host has registered, and its counters")
)
const interrupt = Command.make("interrupt", { ...common, id: Args.text({ name: "EXECUTION_ID" }) }, (o) =>
  runWf([...commonArgs(o), "interrupt", o.id])
).pipe(Command.withDescription("interrupt an execution (its compensations run)"))
const resume = Command.make("resume", { ...common, id: Args.text({ name: "EXECUTION_ID" }) }, (o) =>
  runWf([...commonArgs(o), "resume", o.id])
).pipe(Command.withDescription("resume a suspended execution"))

export const command = Command.make("wf").pipe(
  Command.withDescription("drive workflows on the workflow host (start, status, signal, list, ...)"),
  Command.withSubcommands([start, status, signal, list, workflows, interrupt, resume])
)
