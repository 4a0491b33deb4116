/**
 * A write-ahead log as a process:
 *
 *   tsx src/main.ts [--data DIR] [--name NAME] [--port P] [--host H] [--coordinator HOST:PORT]
 *                   [--mode speculative|durable|ephemeral] [--seal-period MS]
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
import { ExecutionMode, WorkerName } from "@dse/core"
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Either, Schema } from "effect"
import * as path from "node:path"
import { parseArgs } from "node:util"
import * as WalProcess from "./WalProcess"

const USAGE =
  "usage: dse-wal [--data DIR] [--name NAME] [--port P] [--host H] [--coordinator HOST:PORT] " +
  "[--mode speculative|durable|ephemeral] [--seal-period MS] [--max-entry-bytes N] [--max-batch-bytes N] " +
  "[--max-frame-bytes N] [--producer-retention MS] [--max-producers N]"

const fail = (message: string, code: number): never => {
  process.stderr.write(`dse-wal: ${message}\n`)
  process.exit(code)
}

const integer = (name: string, text: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined => {
  if (text === undefined) return undefined
  const n = Number(text)
  if (!Number.isInteger(n) || n < min || n > max) return fail(`--${name} must be an integer in [${min}, ${max}], got ${text}\n${USAGE}`, 2)
  return n
}

const flags = ((): WalProcess.WalProcessOptions & { readonly name: string } => {
  try {
    const { values } = parseArgs({
      options: {
        data: { type: "string", default: "./.dse" },
        name: { type: "string", default: "wal" },
        port: { type: "string", default: "0" },
        host: { type: "string", default: "127.0.0.1" },
        coordinator: { type: "string" },
        mode: { type: "string", default: "speculative" },
        "seal-period": { type: "string" },
        "max-entry-bytes": { type: "string" },
        "max-batch-bytes": { type: "string" },
        "max-frame-bytes": { type: "string" },
        "producer-retention": { type: "string" },
        "max-producers": { type: "string" },
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
    if (Either.isLeft(Schema.decodeUnknownEither(WorkerName)(values.name))) {
      return fail(`--name must be 1-128 characters of [A-Za-z0-9._:-], got ${values.name}\n${USAGE}`, 2)
    }
    let coordinator: { host: string; port: number } | undefined
    if (values.coordinator !== undefined) {
      const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(values.coordinator)
      if (!match) return fail(`--coordinator must be host:port, got ${values.coordinator}\n${USAGE}`, 2)
      coordinator = { host: match[1] ?? match[2]!, port: integer("coordinator port", match[3], 1, 65535)! }
    }
    const sealPeriod = integer("seal-period", values["seal-period"], 1)
    const maxEntryBytes = integer("max-entry-bytes", values["max-entry-bytes"], 1)
    const maxBatchBytes = integer("max-batch-bytes", values["max-batch-bytes"], 1)
    const maxFrameBytes = integer("max-frame-bytes", values["max-frame-bytes"], 1024)
    const retention = integer("producer-retention", values["producer-retention"], 1)
    const maxProducers = integer("max-producers", values["max-producers"], 1)
    return {
      dataDir: path.resolve(values.data),
      name: values.name,
      host: values.host,
      port: integer("port", values.port, 0, 65535)!,
      mode: mode.right,
      ...(coordinator !== undefined ? { coordinator } : {}),
      ...(sealPeriod !== undefined ? { sealPeriod: `${sealPeriod} millis` } : {}),
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
  } catch (error) {
    return fail(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`, 2)
  }
})()

const program = Effect.gen(function* () {
  const { endpoint, log } = yield* WalProcess.start(flags)
  const info = yield* log.info
  yield* Effect.logInfo(
    `${flags.name} on ${flags.dataDir} (${flags.mode}): world-line ${info.worldLine}, version ${info.version}, ` +
      `LSNs [${info.start}, ${info.end}), ${info.producers} producers`
  )
  yield* Effect.addFinalizer(() => Effect.logInfo(`${flags.name} stopped`))
  process.stdout.write(`dse-wal ${flags.name} ready ${endpoint.host}:${endpoint.port}\n`)
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
