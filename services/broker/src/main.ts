/**
 * A broker node as a process:
 *
 *   tsx src/main.ts --topics "orders:4,alerts:1" [--serve orders,alerts] [--data DIR] [--port P]
 *                   [--host H] [--coordinator HOST:PORT] [--mode speculative|durable|ephemeral]
 *                   [--seal-period MS] [--retention-interval MS] [--write-latency MS]
 *
 * `--topics` is the whole cluster's topic list (a step may produce to any topic); `--serve` picks
 * the topics whose partitions this process hosts (default: all). Each partition is worker
 * `broker:<topic>:<p>` with its checkpoints in `DIR/broker:<topic>:<p>.db` (default DIR ./.dse).
 * The coordinator is read from `DIR/coordinator.json` unless `--coordinator` names it. Listens on
 * `--host` (default 127.0.0.1) and `--port` (default 0: a free port), registers its workers with
 * that address, and prints one line `dse-broker ready host:port`. SIGTERM or SIGINT stops it
 * cleanly (exit code 0); a busy port, an unusable data directory or an unreachable coordinator is
 * reported on stderr (exit code 1); bad flags exit with code 2. `--write-latency` adds that many ms
 * to every durable write after its fsync (emulated replicated storage, for benchmarks).
 *
 * `dse up` (libs/launcher's Cluster) starts it with `--data DIR --coordinator HOST:PORT --mode M
 * --port 0 [--seal-period MS] --topics SPEC`.
 */
import { ServiceMain } from "@dse/coordinator-service"
import { Effect } from "effect"
import * as BrokerProcess from "./BrokerProcess"
import { parseTopicSpec } from "./internal/topicSpec"
import * as Topics from "./Topics"

const main = ServiceMain.make(
  "dse-broker",
  'usage: dse-broker --topics "name:partitions,..." [--serve topic,...] [--data DIR] [--port P] [--host H] ' +
    "[--coordinator HOST:PORT] [--mode speculative|durable|ephemeral] [--seal-period MS] [--retention-interval MS] [--write-latency MS]"
)

const flags = (() => {
  const parsed = main.parse({ topics: { type: "string" }, serve: { type: "string" }, "retention-interval": { type: "string" } })
  const spec = parsed.string("topics")
  if (spec === undefined) return main.fail("--topics is required", 2)
  const topics = parseTopicSpec(spec)
  if (typeof topics === "string") return main.fail(`--topics ${JSON.stringify(spec)}: ${topics}`, 2)
  if (topics.length === 0) return main.fail("--topics names no topic", 2)
  const serve = parsed.string("serve")?.split(",").map((s) => s.trim()).filter((s) => s.length > 0)
  for (const t of serve ?? []) if (!topics.some((c) => c.name === t)) return main.fail(`--serve names ${t}, which is not in --topics`, 2)
  const retentionInterval = parsed.integer("retention-interval", 1)
  return {
    ...parsed.worker(),
    topics,
    ...(serve !== undefined ? { serve } : {}),
    ...(retentionInterval !== undefined ? { retention: { interval: `${retentionInterval} millis` as const } } : {})
  }
})()

main.run(
  Effect.gen(function* () {
    const { endpoint, broker } = yield* BrokerProcess.start({ ...flags, topics: Topics.make(flags.topics) })
    for (const p of broker.partitions) {
      const stats = p.stateObject.stats()
      const meta = p.stateObject.state.meta.get()
      yield* Effect.logInfo(
        `${p.name} on ${flags.dataDir} (${flags.mode}): world-line ${stats.worldLine}, version ${stats.version}, offsets [${meta.start}, ${meta.end})`
      )
    }
    yield* Effect.addFinalizer(() => Effect.logInfo("dse-broker stopped"))
    process.stdout.write(`dse-broker ready ${endpoint.host}:${endpoint.port}\n`)
    return yield* Effect.never
  })
)
