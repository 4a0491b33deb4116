/**
 * A write-ahead log as a process:
 *
 *   tsx src/main.ts [--data DIR] [--name NAME] [--port P] [--host H] [--coordinator HOST:PORT]
 *                   [--mode speculative|durable|ephemeral] [--seal-period MS] [--write-latency MS]
 *                   [--max-entry-bytes N] [--max-batch-bytes N] [--max-frame-bytes N]
 *                   [--producer-retention MS] [--max-producers N]
 *
 * Worker `NAME` (default `wal`), its checkpoints in `DIR/NAME.db` (default DIR ./.dse). The
 * coordinator is read from `DIR/coordinator.json` unless `--coordinator` names it. Listens on
 * `--host` (default 127.0.0.1) and `--port` (default 0: a free port), registers its worker with
 * that address, and prints one line `dse-wal NAME ready host:port`. SIGTERM or SIGINT stops it
 * cleanly (exit code 0); a busy port, an unusable data directory or an unreachable coordinator is
 * reported on stderr (exit code 1); bad flags exit with code 2.
 */
import { ServiceMain } from "@dse/coordinator-service"
import { WorkerName } from "@dse/core"
import { Effect, Either, Schema } from "effect"
import * as WalProcess from "./WalProcess"

const main = ServiceMain.make(
  "dse-wal",
  "usage: dse-wal [--data DIR] [--name NAME] [--port P] [--host H] [--coordinator HOST:PORT] " +
    "[--mode speculative|durable|ephemeral] [--seal-period MS] [--write-latency MS] [--max-entry-bytes N] " +
    "[--max-batch-bytes N] [--max-frame-bytes N] [--producer-retention MS] [--max-producers N]"
)

const flags = ((): WalProcess.WalProcessOptions & ServiceMain.WorkerFlags & { readonly name: string } => {
  const parsed = main.parse({
    name: { type: "string" },
    "max-entry-bytes": { type: "string" },
    "max-batch-bytes": { type: "string" },
    "max-frame-bytes": { type: "string" },
    "producer-retention": { type: "string" },
    "max-producers": { type: "string" }
  })
  const name = parsed.string("name") ?? "wal"
  if (Either.isLeft(Schema.decodeUnknownEither(WorkerName)(name))) {
    return main.fail(`--name must be 1-128 characters of [A-Za-z0-9._:-], got ${name}`, 2)
  }
  const maxEntryBytes = parsed.integer("max-entry-bytes", 1)
  const maxBatchBytes = parsed.integer("max-batch-bytes", 1)
  const maxFrameBytes = parsed.integer("max-frame-bytes", 1024)
  const retention = parsed.integer("producer-retention", 1)
  const maxProducers = parsed.integer("max-producers", 1)
  return {
    ...parsed.worker(),
    name,
    ...(maxEntryBytes !== undefined || maxBatchBytes !== undefined
      ? {
          limits: {
            ...(maxEntryBytes !== undefined ? { maxEntryBytes } : {}),
            ...(maxBatchBytes !== undefined ? { maxBatchBytes } : {})
          }
        }
      : {}),
    ...(maxFrameBytes !== undefined ? { maxFrameBytes } : {}),
    ...(retention !== undefined || maxProducers !== undefined
      ? {
          producers: {
            ...(retention !== undefined ? { retention: `${retention} millis` } : {}),
            ...(maxProducers !== undefined ? { maxProducers } : {})
          }
        }
      : {})
  }
})()

main.run(
  Effect.gen(function* () {
    const { endpoint, log } = yield* WalProcess.start(flags)
    const info = yield* log.info
    yield* Effect.logInfo(
      `${flags.name} on ${flags.dataDir} (${flags.mode}): world-line ${info.worldLine}, version ${info.version}, ` +
        `LSNs [${info.start}, ${info.end}), ${info.producers} producers`
    )
    yield* Effect.addFinalizer(() => Effect.logInfo(`${flags.name} stopped`))
    process.stdout.write(`dse-wal ${flags.name} ready ${endpoint.host}:${endpoint.port}\n`)
    return yield* Effect.never
  })
)
