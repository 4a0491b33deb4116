/**
 * What every service process (KV shard, WAL, broker, workflow host) does before it can serve: find
 * the coordinator (named, or read from `<dataDir>/coordinator.json`), pick its port (the worker
 * registers with its address, so the port must be known before the runtime starts), and build its
 * Dse runtime over a remote coordinator client and a sqlite checkpoint store under the data
 * directory.
 */
import type { CheckpointStoreError, CoordinatorUnavailable, CorruptCheckpoint, ExecutionMode, FutureWorldLine } from "@dse/core"
import type { CheckpointStore, CoordinatorClient } from "@dse/core"
import { Dse } from "@dse/core"
import { SqliteCheckpointStore } from "@dse/storage"
import { Endpoint, ListenError } from "@dse/transport"
import type { Context, Duration, Scope } from "effect"
import { Effect, Layer, Option, Schema } from "effect"
import * as net from "node:net"
import * as CoordinatorFile from "./CoordinatorFile"
import * as RemoteCoordinatorClient from "./RemoteCoordinatorClient"

export interface WorkerProcessOptions {
  /** The data directory: the worker's `<name>.db`, and `coordinator.json` when `coordinator` is not given. */
  readonly dataDir: string
  /** Where to listen. Default 127.0.0.1. */
  readonly host?: string
  /** Default 0: a free port. */
  readonly port?: number
  /** The coordinator; default: read from `<dataDir>/coordinator.json`. */
  readonly coordinator?: { readonly host: string; readonly port: number }
  readonly mode?: ExecutionMode
  readonly sealPeriod?: Duration.DurationInput
  /** Extra ms every durable write waits after its fsync (emulated replicated storage; default 0). */
  readonly writeLatencyMs?: number
}

/** The data directory has no coordinator.json (no coordinator started there) and none was named. */
export class NoCoordinator extends Schema.TaggedError<NoCoordinator>("@dse/coordinator-service/NoCoordinator")(
  "NoCoordinator",
  { dataDir: Schema.String, reason: Schema.String }
) {
  override get message() {
    return `no coordinator for ${this.dataDir}: ${this.reason} (start it first, or pass --coordinator host:port)`
  }
}

/** Why a service process could not start (each is reported on stderr with exit code 1). */
export type StartError =
  | NoCoordinator
  | ListenError
  | CheckpointStoreError
  | CorruptCheckpoint
  | CoordinatorUnavailable
  | FutureWorldLine

export interface WorkerRuntime {
  /** Dse, its coordinator client and the checkpoint store: what a StateObject needs. */
  readonly context: Context.Context<Dse.Dse | CoordinatorClient | CheckpointStore>
  /** Where the process will listen (the port is already chosen). */
  readonly endpoint: Endpoint.Endpoint
  readonly host: string
  readonly port: number
}

/** A free TCP port on `host` (the OS picks it; it is free again once this returns). */
export const freePort = (host: string): Effect.Effect<number, ListenError> =>
  Effect.async<number, ListenError>((resume) => {
    const server = net.createServer()
    server.once("error", (error) => resume(Effect.fail(new ListenError({ endpoint: `tcp://${host}:0`, reason: error.message }))))
    server.listen(0, host, () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resume(Effect.succeed(port)))
    })
  })

/** The coordinator's address: the one given, or the one the coordinator wrote in the data directory. */
export const coordinatorOf = (
  options: Pick<WorkerProcessOptions, "dataDir" | "coordinator">
): Effect.Effect<{ readonly host: string; readonly port: number }, NoCoordinator> =>
  options.coordinator !== undefined
    ? Effect.succeed(options.coordinator)
    : CoordinatorFile.read(options.dataDir).pipe(
        Effect.mapError((e) => new NoCoordinator({ dataDir: options.dataDir, reason: e.message })),
        Effect.flatMap(
          Option.match({
            onNone: () =>
              Effect.fail(new NoCoordinator({ dataDir: options.dataDir, reason: `${CoordinatorFile.pathOf(options.dataDir)} is missing` })),
            onSome: (info) => Effect.succeed({ host: info.host, port: info.port })
          })
        )
      )

/** Builds the process's Dse runtime; it lives until the scope closes. */
export const runtime = (options: WorkerProcessOptions): Effect.Effect<WorkerRuntime, StartError, Scope.Scope> =>
  Effect.gen(function* () {
    const host = options.host ?? Endpoint.LOOPBACK
    const coordinator = yield* coordinatorOf(options)
    const port = options.port !== undefined && options.port !== 0 ? options.port : yield* freePort(host)
    const endpoint = Endpoint.tcp(port, host)
    const context = yield* Layer.build(
      Dse.layer({
        ...(options.mode !== undefined ? { mode: options.mode } : {}),
        ...(options.sealPeriod !== undefined ? { sealPeriod: options.sealPeriod } : {}),
        address: Endpoint.format(endpoint)
      }).pipe(
        Layer.provideMerge(
          Layer.merge(
            RemoteCoordinatorClient.layer({ host: coordinator.host, port: coordinator.port }),
            SqliteCheckpointStore.layer({
              dataDir: options.dataDir,
              ...(options.writeLatencyMs !== undefined ? { extraWriteLatencyMs: options.writeLatencyMs } : {})
            })
          )
        )
      )
    )
    return { context, endpoint, host, port }
  })
