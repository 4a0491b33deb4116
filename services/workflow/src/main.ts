/**
 * A workflow host as a process, with the example workflows registered:
 *
 *   tsx src/main.ts [--data DIR] [--port P] [--host H] [--coordinator HOST:PORT]
 *                   [--kv HOST:PORT,... | --kv-shards N] [--mode speculative|durable|ephemeral]
 *                   [--seal-period MS] [--write-latency MS] [--name WORKER]
 *
 * Worker `wf-host` (or `--name`), its checkpoints in `DIR/wf-host.db` (default DIR ./.dse). The
 * coordinator is read from `DIR/coordinator.json` unless `--coordinator` names it; the KV shards
 * are discovered from the coordinator (its workers of kind "kv") unless `--kv` lists them in shard
 * order; `--kv-shards N` makes discovery wait for all N (what `dse up` passes: a host that restarts
 * while shards restart must not start with a partial list, which would route keys to wrong shards). Registers OrderWorkflow always, and TravelSaga and ConfirmOrder when KV shards are known
 * (ConfirmOrder's emails go to `DIR/outbox.jsonl`). Listens on `--host` (default 127.0.0.1) and
 * `--port` (default 0: a free port) and prints one line `dse-workflow ready host:port`.
 *
 * SIGTERM or SIGINT stops it cleanly (exit code 0): runs in flight are suspended without running
 * compensations and resume at the next start. A busy port, an unusable data directory or an
 * unreachable coordinator is reported on stderr (exit code 1); bad flags exit with code 2. If the
 * host's StateObject fails (a checkpoint cannot be written), the process exits with code 1 so that
 * its supervisor restarts it.
 */
import { ServiceMain } from "@dse/coordinator-service"
import { Endpoint } from "@dse/transport"
import { Effect, Either, Layer } from "effect"
import * as path from "node:path"
import { ConfirmOrderLayer, outboxMailer } from "./examples/ExternalEffect"
import { OrderWorkflowLayer } from "./examples/OrderWorkflow"
import { TravelSagaLayer } from "./examples/TravelSaga"
import * as WorkflowProcess from "./WorkflowProcess"

const main = ServiceMain.make(
  "dse-workflow",
  "usage: dse-workflow [--data DIR] [--port P] [--host H] [--coordinator HOST:PORT] [--kv HOST:PORT,...] " +
    "[--kv-shards N] [--mode speculative|durable|ephemeral] [--seal-period MS] [--write-latency MS] [--name WORKER]"
)

const flags = ((): WorkflowProcess.WorkflowProcessOptions & ServiceMain.WorkerFlags => {
  const parsed = main.parse({ kv: { type: "string" }, "kv-shards": { type: "string" }, name: { type: "string" } })
  const kvShards = parsed.integer("kv-shards", 1, 100_000)
  const kvText = parsed.string("kv")
  const kv = kvText?.split(",").map((text) => {
    const endpoint = Endpoint.parse(text)
    return Either.isLeft(endpoint) ? main.fail(`--kv: ${endpoint.left}`, 2) : endpoint.right
  })
  const name = parsed.string("name")
  if (name !== undefined && !/^[A-Za-z0-9._:-]{1,128}$/.test(name)) return main.fail(`--name ${name} is not a worker name`, 2)
  return {
    ...parsed.worker(),
    ...(kv !== undefined ? { kv } : {}),
    ...(kvShards !== undefined ? { kvShards } : {}),
    ...(name !== undefined ? { name } : {})
  }
})()

/** The example workflows: the KV ones only when KV shards are known. */
const examples = ({ dataDir, kvShards }: WorkflowProcess.ProcessEnvironment) =>
  kvShards > 0
    ? Layer.mergeAll(OrderWorkflowLayer, TravelSagaLayer, ConfirmOrderLayer.pipe(Layer.provide(outboxMailer(path.join(dataDir, "outbox.jsonl")))))
    : OrderWorkflowLayer

main.run(
  Effect.gen(function* () {
    const running = yield* WorkflowProcess.start(flags, examples)
    yield* Effect.logInfo(
      `workflow host ${running.engine.host} on ${flags.dataDir} (${flags.mode}): ` +
        `workflows ${running.engine.workflows().join(", ")}; ${running.kvShards.length} KV shards` +
        (running.kvShards.length > 0 ? ` (${running.kvShards.map(Endpoint.format).join(", ")})` : "")
    )
    yield* Effect.addFinalizer(() => Effect.logInfo("stopped"))
    process.stdout.write(`dse-workflow ready ${running.endpoint.host}:${running.endpoint.port}\n`)
    // The host's StateObject failed (a checkpoint cannot be written): exit 1 so the supervisor restarts it.
    const failure = yield* running.engine.failed
    return main.fail(failure.message, 1)
  })
)
