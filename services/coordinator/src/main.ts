/**
 * The coordinator as a process:
 *
 *   tsx src/main.ts [--data DIR] [--port N] [--host HOST] [--cut-push-interval MS]
 *
 * `--data` (default ./.dse) holds coordinator.db; `--port` (default 0: a free port) and `--host`
 * (default 127.0.0.1) say where to listen. Once listening it writes DIR/coordinator.json
 * ({ host, port, pid }, atomically) and prints one line `dse-coordinator ready host:port`. Logs go
 * to stdout. `--cut-push-interval` (default 50) batches the cut changes nobody waits for. SIGTERM or SIGINT stops it cleanly (exit code 0); a busy port or an unusable data
 * directory is reported on stderr (exit code 1); bad flags exit with code 2.
 */
import type { CoordinatorEvent } from "@dse/core"
import { Duration, Effect, Stream } from "effect"
import * as path from "node:path"
import * as CoordinatorFile from "./CoordinatorFile"
import * as CoordinatorServer from "./CoordinatorServer"
import * as ServiceMain from "./ServiceMain"

const main = ServiceMain.make("dse-coordinator", "usage: dse-coordinator [--data DIR] [--port N] [--host HOST] [--cut-push-interval MS]")

const flags = (() => {
  const parsed = main.parse(
    { data: { type: "string" }, port: { type: "string" }, host: { type: "string" }, "cut-push-interval": { type: "string" } },
    { worker: false }
  )
  const cutPushMs = parsed.integer("cut-push-interval", 0, 60_000)
  return {
    ...(cutPushMs !== undefined ? { cutPushInterval: Duration.millis(cutPushMs) } : {}),
    dataDir: path.resolve(parsed.string("data") ?? "./.dse"),
    port: parsed.integer("port", 0, 65535) ?? 0,
    host: parsed.string("host") ?? "127.0.0.1"
  }
})()

const describeEvent = (event: CoordinatorEvent): string | undefined =>
  event._tag === "WorldLineChanged"
    ? `world-line ${event.worldLine}, recovery cut ${JSON.stringify(event.recoveryCut)}`
    : undefined

main.run(
  Effect.gen(function* () {
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
  })
)
