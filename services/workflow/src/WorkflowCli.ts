/**
 * `dse wf`: the workflow commands of the CLI, as a function of the arguments after `wf` (tools/cli
 * mounts it; `tsx src/cli.ts` runs it alone).
 *
 *   dse wf [--data DIR | --host HOST:PORT] [--name WORKER] <command>
 *     workflows                                   the registered workflows and the host's counters
 *     start <workflow> <payload-json> [--wait]     start; with --wait, print the committed result
 *     status <execution-id>
 *     signal <token> (--value JSON | --error JSON)
 *     signal <execution-id> --deferred NAME (--value JSON | --error JSON)
 *     interrupt <execution-id>
 *     resume <execution-id>
 *     list [--workflow W] [--status running|suspended|complete] [--limit N] [--after ID]
 *
 * The host is found through the coordinator of the data directory (default ./.dse): its worker of
 * kind "workflow" (`--name` picks one when several run), unless `--host` names it. The CLI is
 * outside the DSE domain: every answer it prints has committed. Payloads and values are JSON, in the
 * encoded form of the workflow's schemas. Output is JSON on stdout; errors go to stderr.
 */
import { Endpoint } from "@dse/transport"
import { Data, Duration, Effect, Either, Option } from "effect"
import * as path from "node:path"
import { parseArgs } from "node:util"
import { CoordinatorFile, RemoteCoordinatorClient } from "@dse/coordinator-service"
import * as WorkflowClient from "./WorkflowClient"
import type { DeferredAddress, ListRequest } from "./WorkflowModel"

export const USAGE = `usage: dse wf [--data DIR | --host HOST:PORT] [--name WORKER] <command>
  workflows                                    the registered workflows and the host's counters
  start <workflow> <payload-json> [--wait]      start; with --wait, print the committed result
  status <execution-id>
  signal <token> (--value JSON | --error JSON)
  signal <execution-id> --deferred NAME (--value JSON | --error JSON)
  interrupt <execution-id>
  resume <execution-id>
  list [--workflow W] [--status running|suspended|complete] [--limit N] [--after ID]`

/** A usage error (exit code 2) or a failed command (exit code 1). */
export class CliError extends Data.TaggedError("CliError")<{ readonly message: string; readonly code: 1 | 2 }> {}

const usage = (message: string) => new CliError({ message: `${message}\n${USAGE}`, code: 2 })

const json = (name: string, text: string | undefined): Effect.Effect<unknown, CliError> =>
  text === undefined
    ? Effect.fail(usage(`${name} is required`))
    : Effect.try({ try: () => JSON.parse(text) as unknown, catch: () => usage(`${name} is not JSON: ${text}`) })

/** Where the workflow host listens: `--host`, or the coordinator's worker of kind "workflow". */
const locate = (options: { readonly data: string; readonly host?: string | undefined; readonly name?: string | undefined }) =>
  Effect.gen(function* () {
    if (options.host !== undefined) {
      const parsed = Endpoint.parse(options.host)
      if (Either.isLeft(parsed)) return yield* usage(`--host: ${parsed.left}`)
      return parsed.right
    }
    const dataDir = path.resolve(options.data)
    const info = yield* CoordinatorFile.read(dataDir).pipe(
      Effect.mapError((e) => new CliError({ message: e.message, code: 1 })),
      Effect.flatMap(
        Option.match({
          onNone: () => Effect.fail(new CliError({ message: `no coordinator running for ${dataDir} (start the cluster with dse up, or pass --host)`, code: 1 })),
          onSome: Effect.succeed
        })
      )
    )
    const coordinator = yield* RemoteCoordinatorClient.make({ host: info.host, port: info.port })
    const status = yield* coordinator.status.pipe(Effect.mapError((e) => new CliError({ message: e.message, code: 1 })))
    const hosts = status.workers.filter(
      (w) => w.kind === "workflow" && w.address !== undefined && (options.name === undefined || w.name === options.name)
    )
    if (hosts.length === 0) {
      return yield* new CliError({ message: `the coordinator knows no workflow host${options.name ? ` named ${options.name}` : ""}`, code: 1 })
    }
    if (hosts.length > 1 && options.name === undefined) {
      return yield* usage(`several workflow hosts run (${hosts.map((h) => h.name).join(", ")}): pick one with --name`)
    }
    const parsed = Endpoint.parse(hosts[0]!.address!)
    if (Either.isLeft(parsed)) return yield* new CliError({ message: parsed.left, code: 1 })
    return parsed.right
  })

/** Runs `dse wf <args>`; returns what to print. */
export const run = (args: ReadonlyArray<string>): Effect.Effect<unknown, CliError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const { positionals, values } = yield* Effect.try({
        try: () =>
          parseArgs({
            args: [...args],
            options: {
              data: { type: "string", default: "./.dse" },
              host: { type: "string" },
              name: { type: "string" },
              wait: { type: "boolean", default: false },
              deferred: { type: "string" },
              value: { type: "string" },
              error: { type: "string" },
              workflow: { type: "string" },
              status: { type: "string" },
              limit: { type: "string" },
              after: { type: "string" },
              timeout: { type: "string", default: "300000" }
            },
            strict: true,
            allowPositionals: true
          }),
        catch: (e) => usage(e instanceof Error ? e.message : String(e))
      })
      const [command, ...rest] = positionals
      if (command === undefined) return yield* usage("a command is required")
      const known = ["workflows", "start", "status", "signal", "interrupt", "resume", "list"]
      if (!known.includes(command)) return yield* usage(`unknown command ${command}`)
      const endpoint = yield* locate(values)
      const timeout = Number(values.timeout)
      if (!Number.isInteger(timeout) || timeout <= 0) return yield* usage(`--timeout must be milliseconds, got ${values.timeout}`)
      const client = yield* WorkflowClient.connect({ endpoint, timeout: Duration.millis(timeout), retryFor: Duration.seconds(30) })
      const failed = (e: { readonly message: string }) => new CliError({ message: e.message, code: 1 })
      const call = <A, E extends { readonly message: string }>(effect: Effect.Effect<A, E>) => Effect.mapError(effect, failed)
      const id = (what: string) => (rest[0] === undefined ? Effect.fail(usage(`${what} is required`)) : Effect.succeed(rest[0]))
      switch (command) {
        case "workflows":
          return yield* call(client.describe)
        case "start": {
          const workflow = rest[0]
          if (workflow === undefined) return yield* usage("the workflow's name is required")
          const payload = yield* json("the payload", rest[1])
          return yield* call(client.api.WorkflowExecute({ workflow, payload, discard: !values.wait }))
        }
        case "status":
          return yield* call(client.status(yield* id("the execution id")))
        case "interrupt":
          return yield* call(client.interrupt(yield* id("the execution id")))
        case "resume":
          return yield* call(client.resume(yield* id("the execution id")))
        case "signal": {
          const target = yield* id("a token or an execution id")
          if ((values.value === undefined) === (values.error === undefined)) return yield* usage("exactly one of --value and --error is required")
          const exit =
            values.value !== undefined
              ? { _tag: "Success", value: yield* json("--value", values.value) }
              : { _tag: "Failure", cause: { _tag: "Fail", error: yield* json("--error", values.error) } }
          let deferred: DeferredAddress
          if (values.deferred === undefined) {
            deferred = { _tag: "Token", token: target }
          } else {
            const status = yield* call(client.status(target))
            deferred = { _tag: "Named", workflow: status.workflow, executionId: target, deferred: values.deferred }
          }
          return yield* call(client.api.WorkflowSignal({ deferred, exit }))
        }
        case "list": {
          const request: { -readonly [K in keyof ListRequest]: ListRequest[K] } = {}
          if (values.workflow !== undefined) request.workflow = values.workflow
          if (values.status !== undefined) {
            if (!["running", "suspended", "complete"].includes(values.status)) return yield* usage(`--status must be running, suspended or complete`)
            request.status = values.status as ListRequest["status"] & string
          }
          if (values.limit !== undefined) {
            const limit = Number(values.limit)
            if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return yield* usage(`--limit must be 1..1000`)
            request.limit = limit
          }
          if (values.after !== undefined) request.after = values.after
          return yield* call(client.list(request))
        }
      }
      return yield* usage(`unknown command ${command}`)
    })
  )

/** Runs the command and prints its result (JSON) or its error; returns the exit code. */
export const main = (args: ReadonlyArray<string>): Effect.Effect<number> =>
  run(args).pipe(
    Effect.map((result) => {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
      return 0
    }),
    Effect.catchAll((e) =>
      Effect.sync(() => {
        process.stderr.write(`dse wf: ${e.message}\n`)
        return e.code
      })
    )
  )
