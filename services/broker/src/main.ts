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
 * --port 0 [--seal-period MS] --topics SPEC`. The command line is checked before the broker's
 * modules are loaded (that takes seconds on a busy machine), so a bad one fails at once.
 */
import * as path from "node:path"
import { parseArgs } from "node:util"
import { parseTopicSpec } from "./internal/topicSpec"

const USAGE =
  'usage: dse-broker --topics "name:partitions,..." [--serve topic,...] [--data DIR] [--port P] [--host H] ' +
  "[--coordinator HOST:PORT] [--mode speculative|durable|ephemeral] [--seal-period MS] [--retention-interval MS] [--write-latency MS]"

const MODES = ["speculative", "durable", "ephemeral"] as const

const fail = (message: string, code: number): never => {
  process.stderr.write(`dse-broker: ${message}\n`)
  process.exit(code)
}

const integer = (name: string, text: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined => {
  if (text === undefined) return undefined
  const n = Number(text)
  if (!/^\d+$/.test(text) || !Number.isInteger(n) || n < min || n > max) {
    return fail(`--${name} must be an integer in [${min}, ${max}], got ${text}\n${USAGE}`, 2)
  }
  return n
}

const flags = (() => {
  try {
    const { values } = parseArgs({
      options: {
        topics: { type: "string" },
        serve: { type: "string" },
        data: { type: "string", default: "./.dse" },
        port: { type: "string", default: "0" },
        host: { type: "string", default: "127.0.0.1" },
        coordinator: { type: "string" },
        mode: { type: "string", default: "speculative" },
        "seal-period": { type: "string" },
        "retention-interval": { type: "string" },
        "write-latency": { type: "string" },
        help: { type: "boolean", default: false }
      },
      strict: true,
      allowPositionals: false
    })
    if (values.help) {
      process.stdout.write(`${USAGE}\n`)
      process.exit(0)
    }
    if (values.topics === undefined) return fail(`--topics is required\n${USAGE}`, 2)
    const topics = parseTopicSpec(values.topics)
    if (typeof topics === "string") return fail(`--topics ${JSON.stringify(values.topics)}: ${topics}\n${USAGE}`, 2)
    if (topics.length === 0) return fail(`--topics names no topic\n${USAGE}`, 2)
    const serve = values.serve?.split(",").map((s) => s.trim()).filter((s) => s.length > 0)
    for (const t of serve ?? []) if (!topics.some((c) => c.name === t)) return fail(`--serve names ${t}, which is not in --topics\n${USAGE}`, 2)
    const mode = MODES.find((m) => m === values.mode)
    if (mode === undefined) return fail(`--mode must be speculative, durable or ephemeral, got ${values.mode}\n${USAGE}`, 2)
    let coordinator: { host: string; port: number } | undefined
    if (values.coordinator !== undefined) {
      const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(values.coordinator)
      if (!match) return fail(`--coordinator must be host:port, got ${values.coordinator}\n${USAGE}`, 2)
      coordinator = { host: match[1] ?? match[2]!, port: integer("coordinator port", match[3], 1, 65535)! }
    }
    const sealPeriod = integer("seal-period", values["seal-period"], 1)
    const retentionInterval = integer("retention-interval", values["retention-interval"], 1)
    const writeLatency = integer("write-latency", values["write-latency"], 0, 10_000)
    return {
      dataDir: path.resolve(values.data),
      topics,
      ...(serve !== undefined ? { serve } : {}),
      host: values.host,
      port: integer("port", values.port, 0, 65535)!,
      mode,
      ...(coordinator !== undefined ? { coordinator } : {}),
      ...(sealPeriod !== undefined ? { sealPeriod: `${sealPeriod} millis` as const } : {}),
      ...(retentionInterval !== undefined ? { retention: { interval: `${retentionInterval} millis` as const } } : {}),
      ...(writeLatency !== undefined && writeLatency > 0 ? { extraWriteLatencyMs: writeLatency } : {})
    }
  } catch (error) {
    return fail(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`, 2)
  }
})()

// The command line is fine: now load the broker.
const [{ NodeRuntime }, { Effect }, BrokerProcess, Topics] = await Promise.all([
  import("@effect/platform-node"),
  import("effect"),
  import("./BrokerProcess"),
  import("./Topics")
])

const program = Effect.gen(function* () {
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
