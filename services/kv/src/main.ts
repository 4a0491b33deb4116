/**
 * A KV shard as a process:
 *
 *   tsx src/main.ts --shard N [--data DIR] [--port P] [--host H] [--coordinator HOST:PORT]
 *                   [--mode speculative|durable|ephemeral] [--seal-period MS]
 *                   [--dedup-retention MS] [--dedup-max N] [--max-value-bytes N]
 *
 * Worker `kv-N`, its checkpoints in `DIR/kv-N.db` (default DIR ./.dse). The coordinator is read
 * from `DIR/coordinator.json` unless `--coordinator` names it. Listens on `--host` (default
 * 127.0.0.1) and `--port` (default 0: a free port), registers its worker with that address, and
 * prints one line `dse-kv kv-N ready host:port`. SIGTERM or SIGINT stops it cleanly (exit code 0);
 * a busy port, an unusable data directory or a coordinator that does not answer within 60 s
 * (DSE_KV_START_TIMEOUT_S) is reported on stderr (exit code 1); bad flags exit with code 2.
 */
import { CoordinatorUnavailable, ExecutionMode } from "@dse/core"
import { NodeRuntime } from "@effect/platform-node"
import { Duration, Effect, Either, Schema } from "effect"
import * as path from "node:path"
import { parseArgs } from "node:util"
import * as KvProcess from "./KvProcess"
import { shardName } from "./KvShard"

const USAGE =
  "usage: dse-kv --shard N [--data DIR] [--port P] [--host H] [--coordinator HOST:PORT] " +
  "[--mode speculative|durable|ephemeral] [--seal-period MS] [--dedup-retention MS] [--dedup-max N] [--max-value-bytes N]"

const fail = (message: string, code: number): never => {
  process.stderr.write(`dse-kv: ${message}\n`)
  process.exit(code)
}

const integer = (name: string, text: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined => {
  if (text === undefined) return undefined
  const n = Number(text)
  if (!Number.isInteger(n) || n < min || n > max) return fail(`--${name} must be an integer in [${min}, ${max}], got ${text}\n${USAGE}`, 2)
  return n
}

const flags = ((): KvProcess.KvProcessOptions => {
  try {
    const { values } = parseArgs({
      options: {
        shard: { type: "string" },
        data: { type: "string", default: "./.dse" },
        port: { type: "string", default: "0" },
        host: { type: "string", default: "127.0.0.1" },
        coordinator: { type: "string" },
        mode: { type: "string", default: "speculative" },
        "seal-period": { type: "string" },
        "dedup-retention": { type: "string" },
        "dedup-max": { type: "string" },
        "max-value-bytes": { type: "string" },
        help: { type: "boolean", default: false }
      },
      strict: true,
      allowPositionals: false
    })
    if (values.help) {
      process.stdout.write(`${USAGE}\n`)
      process.exit(0)
    }
    if (values.shard === undefined) return fail(`--shard is required\n${USAGE}`, 2)
    const mode = Schema.decodeUnknownEither(ExecutionMode)(values.mode)
    if (Either.isLeft(mode)) return fail(`--mode must be speculative, durable or ephemeral, got ${values.mode}\n${USAGE}`, 2)
    let coordinator: { host: string; port: number } | undefined
    if (values.coordinator !== undefined) {
      const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(values.coordinator)
      if (!match) return fail(`--coordinator must be host:port, got ${values.coordinator}\n${USAGE}`, 2)
      coordinator = { host: match[1] ?? match[2]!, port: integer("coordinator port", match[3], 1, 65535)! }
    }
    const sealPeriod = integer("seal-period", values["seal-period"], 1)
    const retention = integer("dedup-retention", values["dedup-retention"], 1)
    const maxEntries = integer("dedup-max", values["dedup-max"], 1)
    const maxValueBytes = integer("max-value-bytes", values["max-value-bytes"], 16)
    return {
      dataDir: path.resolve(values.data),
      shard: integer("shard", values.shard, 0, 100_000)!,
      host: values.host,
      port: integer("port", values.port, 0, 65535)!,
      mode: mode.right,
      ...(coordinator !== undefined ? { coordinator } : {}),
      ...(sealPeriod !== undefined ? { sealPeriod: `${sealPeriod} millis` } : {}),
      ...(retention !== undefined || maxEntries !== undefined
        ? {
            dedup: {
              ...(retention !== undefined ? { retention: `${retention} millis` } : {}),
              ...(maxEntries !== undefined ? { maxEntries } : {})
            }
          }
        : {}),
      ...(maxValueBytes !== undefined ? { limits: { maxValueBytes } } : {})
    }
  } catch (error) {
    return fail(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`, 2)
  }
})()

const name = shardName(flags.shard)

/** How long the start may take (the coordinator must answer within it). */
const START_TIMEOUT = Duration.seconds(Number(process.env.DSE_KV_START_TIMEOUT_S ?? 60))

const program = Effect.gen(function* () {
  const { endpoint, shard } = yield* KvProcess.start(flags).pipe(
    Effect.timeoutFail({
      duration: START_TIMEOUT,
      onTimeout: () =>
        new CoordinatorUnavailable({ reason: `no answer from the coordinator within ${Duration.format(START_TIMEOUT)}` })
    })
  )
  const stats = shard.stats()
  yield* Effect.logInfo(
    `${name} on ${flags.dataDir} (${flags.mode}): world-line ${stats.worker.worldLine}, version ${stats.worker.version}, ` +
      `${stats.keys} keys, ${stats.dedupEntries} idempotency keys`
  )
  yield* Effect.addFinalizer(() => Effect.logInfo(`${name} stopped`))
  process.stdout.write(`dse-kv ${name} ready ${endpoint.host}:${endpoint.port}\n`)
  return yield* Effect.never
}).pipe(
  Effect.catchTags({
    NoCoordinator: (e) => Effect.sync(() => fail(e.message, 1)),
    ListenError: (e) => Effect.sync(() => fail(e.message, 1)),
    CorruptCheckpoint: (e) =>
      Effect.sync(() => fail(`${e.path} is unusable (${e.reason}): is --data the data directory of a dse cluster?`, 1)),
    CheckpointStoreError: (e) => Effect.sync(() => fail(e.message, 1)),
    CoordinatorUnavailable: (e) => Effect.sync(() => fail(e.message, 1)),
    FutureWorldLine: (e) => Effect.sync(() => fail(e.message, 1))
  }),
  Effect.scoped
)

NodeRuntime.runMain(program)
