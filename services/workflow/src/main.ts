/**
 * A workflow host as a process, with the example workflows registered:
 *
 *   tsx src/main.ts [--data DIR] [--port P] [--host H] [--coordinator HOST:PORT]
 *                   [--kv HOST:PORT,...] [--mode speculative|durable|ephemeral] [--seal-period MS]
 *                   [--name WORKER]
 *
 * Worker `wf-host` (or `--name`), its checkpoints in `DIR/wf-host.db` (default DIR ./.dse). The
 * coordinator is read from `DIR/coordinator.json` unless `--coordinator` names it; the KV shards
 * are discovered from the coordinator (its workers of kind "kv") unless `--kv` lists them in shard
 * order. Registers OrderWorkflow always, and TravelSaga and ConfirmOrder when KV shards are known
 * (ConfirmOrder's emails go to `DIR/outbox.jsonl`). Listens on `--host` (default 127.0.0.1) and
 * `--port` (default 0: a free port) and prints one line `dse-workflow ready host:port`.
 *
 * SIGTERM or SIGINT stops it cleanly (exit code 0): runs in flight are suspended without running
 * compensations and resume at the next start. A busy port, an unusable data directory or an
 * unreachable coordinator is reported on stderr (exit code 1); bad flags exit with code 2. If the
 * host's StateObject fails (a checkpoint cannot be written), the process exits with code 1 so that
 * its supervisor restarts it.
 */
import { ExecutionMode } from "@dse/core"
import { Endpoint } from "@dse/transport"
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Either, Layer, Schema } from "effect"
import * as path from "node:path"
import { parseArgs } from "node:util"
import { ConfirmOrderLayer, outboxMailer } from "./examples/ExternalEffect"
import { OrderWorkflowLayer } from "./examples/OrderWorkflow"
import { TravelSagaLayer } from "./examples/TravelSaga"
import * as WorkflowProcess from "./WorkflowProcess"

const USAGE =
  "usage: dse-workflow [--data DIR] [--port P] [--host H] [--coordinator HOST:PORT] [--kv HOST:PORT,...] " +
  "[--mode speculative|durable|ephemeral] [--seal-period MS] [--name WORKER]"

const fail = (message: string, code: number): never => {
  process.stderr.write(`dse-workflow: ${message}\n`)
  process.exit(code)
}

const integer = (name: string, text: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined => {
  if (text === undefined) return undefined
  const n = Number(text)
  if (!Number.isInteger(n) || n < min || n > max) return fail(`--${name} must be an integer in [${min}, ${max}], got ${text}\n${USAGE}`, 2)
  return n
}

const flags = ((): WorkflowProcess.WorkflowProcessOptions => {
  try {
    const { values } = parseArgs({
      options: {
        data: { type: "string", default: "./.dse" },
        port: { type: "string", default: "0" },
        host: { type: "string", default: "127.0.0.1" },
        coordinator: { type: "string" },
        kv: { type: "string" },
        mode: { type: "string", default: "speculative" },
        "seal-period": { type: "string" },
        name: { type: "string" },
        help: { type: "boolean", default: false }
      },
      strict: true,
      allowPositionals: false
    })
    if (values.help) {
      process.stdout.write(`${USAGE}\n`)
      process.exit(0)
    }
    const mode = Schema.decodeUnknownEither(ExecutionMode)(values.mode)
    if (Either.isLeft(mode)) return fail(`--mode must be speculative, durable or ephemeral, got ${values.mode}\n${USAGE}`, 2)
    let coordinator: { host: string; port: number } | undefined
    if (values.coordinator !== undefined) {
      const parsed = Endpoint.parse(values.coordinator)
      if (Either.isLeft(parsed) || parsed.right._tag !== "Tcp") return fail(`--coordinator must be host:port, got ${values.coordinator}\n${USAGE}`, 2)
      coordinator = { host: parsed.right.host, port: parsed.right.port }
    }
    let kv: Array<Endpoint.Endpoint> | undefined
    if (values.kv !== undefined) {
      kv = values.kv.split(",").map((text) => {
        const parsed = Endpoint.parse(text)
        return Either.isLeft(parsed) ? fail(`--kv: ${parsed.left}\n${USAGE}`, 2) : parsed.right
      })
    }
    if (values.name !== undefined && !/^[A-Za-z0-9._:-]{1,128}$/.test(values.name)) return fail(`--name ${values.name} is not a worker name\n${USAGE}`, 2)
    const sealPeriod = integer("seal-period", values["seal-period"], 1)
    return {
      dataDir: path.resolve(values.data),
      host: values.host,
      port: integer("port", values.port, 0, 65535)!,
      mode: mode.right,
      ...(coordinator !== undefined ? { coordinator } : {}),
      ...(kv !== undefined ? { kv } : {}),
      ...(sealPeriod !== undefined ? { sealPeriod: `${sealPeriod} millis` } : {}),
      ...(values.name !== undefined ? { name: values.name } : {})
    }
  } catch (error) {
    return fail(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`, 2)
  }
})()

/** The example workflows: the KV ones only when KV shards are known. */
const examples = ({ dataDir, kvShards }: WorkflowProcess.ProcessEnvironment) =>
  kvShards > 0
    ? Layer.mergeAll(OrderWorkflowLayer, TravelSagaLayer, ConfirmOrderLayer.pipe(Layer.provide(outboxMailer(path.join(dataDir, "outbox.jsonl")))))
    : OrderWorkflowLayer

const program = Effect.gen(function* () {
  const running = yield* WorkflowProcess.start(flags, examples)
  yield* Effect.logInfo(
    `workflow host ${running.engine.host} on ${flags.dataDir} (${flags.mode ?? "speculative"}): ` +
      `workflows ${running.engine.workflows().join(", ")}; ${running.kvShards.length} KV shards` +
      (running.kvShards.length > 0 ? ` (${running.kvShards.map(Endpoint.format).join(", ")})` : "")
  )
  yield* Effect.addFinalizer(() => Effect.logInfo("stopped"))
  process.stdout.write(`dse-workflow ready ${running.endpoint.host}:${running.endpoint.port}\n`)
  const failure = yield* running.engine.failed
  return fail(failure.message, 1)
}).pipe(
  Effect.catchTags({
    NoCoordinator: (e) => Effect.sync(() => fail(e.message, 1)),
    ListenError: (e) => Effect.sync(() => fail(e.message, 1)),
    CorruptCheckpoint: (e) => Effect.sync(() => fail(`${e.path} is unusable (${e.reason}): is --data the data directory of a dse cluster?`, 1)),
    CheckpointStoreError: (e) => Effect.sync(() => fail(e.message, 1)),
    CoordinatorUnavailable: (e) => Effect.sync(() => fail(e.message, 1)),
    FutureWorldLine: (e) => Effect.sync(() => fail(e.message, 1))
  }),
  Effect.scoped
)

NodeRuntime.runMain(program)
