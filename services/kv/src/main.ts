/**
 * A KV shard as a process:
 *
 *   tsx src/main.ts --shard N [--data DIR] [--port P] [--host H] [--coordinator HOST:PORT]
 *                   [--mode speculative|durable|ephemeral] [--seal-period MS] [--write-latency MS]
 *                   [--dedup-retention MS] [--dedup-max N] [--max-value-bytes N]
 *
 * Worker `kv-N`, its checkpoints in `DIR/kv-N.db` (default DIR ./.dse). The coordinator is read
 * from `DIR/coordinator.json` unless `--coordinator` names it. Listens on `--host` (default
 * 127.0.0.1) and `--port` (default 0: a free port), registers its worker with that address, and
 * prints one line `dse-kv kv-N ready host:port`. SIGTERM or SIGINT stops it cleanly (exit code 0);
 * a busy port, an unusable data directory or a coordinator that does not answer within 60 s
 * (DSE_KV_START_TIMEOUT_S) is reported on stderr (exit code 1); bad flags exit with code 2.
 */
import { ServiceMain } from "@dse/coordinator-service"
import { CoordinatorUnavailable } from "@dse/core"
import { Duration, Effect } from "effect"
import * as KvProcess from "./KvProcess"
import { shardName } from "./KvShard"

const main = ServiceMain.make(
  "dse-kv",
  "usage: dse-kv --shard N [--data DIR] [--port P] [--host H] [--coordinator HOST:PORT] " +
    "[--mode speculative|durable|ephemeral] [--seal-period MS] [--write-latency MS] " +
    "[--dedup-retention MS] [--dedup-max N] [--max-value-bytes N]"
)

const flags = ((): KvProcess.KvProcessOptions => {
  const parsed = main.parse({
    shard: { type: "string" },
    "dedup-retention": { type: "string" },
    "dedup-max": { type: "string" },
    "max-value-bytes": { type: "string" }
  })
  const shard = parsed.integer("shard", 0, 100_000)
  if (shard === undefined) return main.fail("--shard is required", 2)
  const retention = parsed.integer("dedup-retention", 1)
  const maxEntries = parsed.integer("dedup-max", 1)
  const maxValueBytes = parsed.integer("max-value-bytes", 16)
  return {
    ...parsed.worker(),
    shard,
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
})()

const name = shardName(flags.shard)

/** How long the start may take (the coordinator must answer within it). */
const START_TIMEOUT = Duration.seconds(Number(process.env.DSE_KV_START_TIMEOUT_S ?? 60))

main.run(
  Effect.gen(function* () {
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
  })
)
