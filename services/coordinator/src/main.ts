/**
 * The coordinator as a process:
 *
 *   tsx src/main.ts [--data DIR] [--port N] [--host HOST]
 *
 * `--data` (default ./.dse) holds coordinator.db; `--port` (default 0: a free port) and `--host`
 * (default 127.0.0.1) say where to listen. Once listening it writes DIR/coordinator.json
 * ({ host, port, pid }, atomically) and prints one line `dse-coordinator ready host:port`. Logs go
 * to stdout. SIGTERM or SIGINT stops it cleanly (exit code 0); a busy port or an unusable data
 * directory is reported on stderr (exit code 1); bad flags exit with code 2.
 */
import type { CoordinatorEvent } from "@dse/core"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect, Stream } from "effect"
import * as path from "node:path"
import { parseArgs } from "node:util"
import * as CoordinatorFile from "./CoordinatorFile"
import * as CoordinatorServer from "./CoordinatorServer"

const USAGE = "usage: dse-coordinator [--data DIR] [--port N] [--host HOST]"

const fail = (message: string, code: number): never => {
  process.stderr.write(`dse-coordinator: ${message}\n`)
  process.exit(code)
}

const flags = (() => {
  try {
    const { values } = parseArgs({
      options: {
        data: { type: "string", default: "./.dse" },
        port: { type: "string", default: "0" },
        host: { type: "string", default: "127.0.0.1" },
        help: { type: "boolean", default: false }
      },
      strict: true,
      allowPositionals: false
    })
    if (values.help) {
      process.stdout.write(`${USAGE}\n`)
      process.exit(0)
    }
    const port = Number(values.port)
    if (!Number.isInteger(port) || port < 0 || port > 65535) return fail(`--port must be 0..65535, got ${values.port}\n${USAGE}`, 2)
    return { dataDir: path.resolve(values.data), port, host: values.host }
  } catch (error) {
    return fail(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`, 2)
  }
})()

const describeEvent = (event: CoordinatorEvent): string | undefined =>
  event._tag === "WorldLineChanged"
    ? `world-line ${event.worldLine}, recovery cut ${JSON.stringify(event.recoveryCut)}`
    : undefined

const program = Effect.gen(function* () {
  const { endpoint, coordinator } = yield* CoordinatorServer.make(flags)
  if (endpoint._tag !== "Tcp") return yield* Effect.dieMessage("the coordinator listens on TCP")
  const status = yield* coordinator.status
  yield* Effect.logInfo(
    `coordinator on ${flags.dataDir}: world-line ${status.worldLine}, ${status.workers.length} members` +
      (status.rebuilding ? ", rebuilding until every member re-attaches" : "")
  )
  // World-line changes are what an operator looks for in the log.
  yield* Stream.unwrapScoped(coordinator.subscribe).pipe(
    Stream.runForEach((event) => {
      const line = describeEvent(event)
      return line ? Effect.logInfo(line) : Effect.void
    }),
    Effect.forkScoped
  )
  yield* CoordinatorFile.write(flags.dataDir, { host: endpoint.host, port: endpoint.port, pid: process.pid })
  yield* Effect.addFinalizer(() =>
    Effect.zipRight(CoordinatorFile.remove(flags.dataDir, process.pid), Effect.logInfo("stopped"))
  )
  process.stdout.write(`dse-coordinator ready ${endpoint.host}:${endpoint.port}\n`)
  return yield* Effect.never
}).pipe(
  Effect.catchTags({
    ListenError: (e) => Effect.sync(() => fail(e.message, 1)),
    CorruptCheckpoint: (e) =>
      Effect.sync(() => fail(`${e.path} is unusable (${e.reason}): is --data the data directory of a dse cluster?`, 1)),
    CheckpointStoreError: (e) => Effect.sync(() => fail(e.message, 1)),
    CoordinatorUnavailable: (e) => Effect.sync(() => fail(e.message, 1)),
    CoordinatorFileError: (e) => Effect.sync(() => fail(`cannot write ${e.message}`, 1))
  }),
  Effect.scoped
)

NodeRuntime.runMain(program)
