/**
 * The benchmark's workflow host process: services/workflow's host (WorkflowProcess.start: the dse
 * engine, its RPC group on a loopback port, a KV client of the given shards) with the workflows the
 * suites run registered: TravelSaga (saga, recovery) and BenchChain (chain). Flags are the service
 * mains' (ServiceMain), so `--write-latency MS` emulates replicated storage here as everywhere.
 *
 *   tsx workflowHost.ts --data DIR --coordinator HOST:PORT --mode M --kv H:P,H:P,... [--write-latency MS] [--seal-period MS]
 */
import { ServiceMain } from "@dse/coordinator-service"
import { Endpoint } from "@dse/transport"
import { Effect, Either, Layer } from "effect"
import { TravelSaga, WorkflowProcess } from "../internal/workflow"
import { ChainLayer } from "../workflows/Chain"

const main = ServiceMain.make(
  "bench-workflow",
  "usage: bench-workflow --data DIR --coordinator HOST:PORT --mode M --kv H:P,... [--write-latency MS] [--seal-period MS] [--port P]"
)
const parsed = main.parse({ kv: { type: "string" } })
const kv = (parsed.string("kv") ?? "")
  .split(",")
  .filter((s) => s.length > 0)
  .map((s) => {
    const endpoint = Endpoint.parse(s)
    return Either.isLeft(endpoint) ? main.fail(`--kv: ${endpoint.left}`, 2) : endpoint.right
  })
const flags = { ...parsed.worker(), kv }

main.run(
  Effect.gen(function* () {
    const running = yield* WorkflowProcess.start(flags, ({ kvShards }) =>
      kvShards > 0 ? Layer.merge(TravelSaga.TravelSagaLayer, ChainLayer) : ChainLayer
    )
    process.stdout.write(`bench-workflow ready ${running.endpoint.host}:${running.endpoint.port}\n`)
    return yield* Effect.never
  })
)
