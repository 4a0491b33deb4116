/**
 * One KV shard as a process (what `src/main.ts` runs): its sqlite checkpoint file under the data
 * directory, its Dse runtime connected to the coordinator process, its RPC group served on a
 * loopback port, its worker registered with that address.
 */
import type { CheckpointStoreError, CoordinatorUnavailable, CorruptCheckpoint, ExecutionMode, FutureWorldLine } from "@dse/core"
import { Dse } from "@dse/core"
import { SqliteCheckpointStore } from "@dse/storage"
import { Endpoint, ListenError } from "@dse/transport"
import type { Duration, Scope } from "effect"
import { Effect, Layer, Option, Schema } from "effect"
import * as net from "node:net"
import { CoordinatorFile, RemoteCoordinatorClient } from "@dse/coordinator-service"
import * as KvServer from "./KvServer"
import type { DedupOptions, KvLimits, KvShardService } from "./KvShard"
import * as KvShard from "./KvShard"

export interface KvProcessOptions {
  /** The data directory: `<dataDir>/kv-<shard>.db`, and `coordinator.json` when `coordinator` is not given. */
  readonly dataDir: string
  readonly shard: number
  /** Where to listen. Default 127.0.0.1. */
  readonly host?: string
  /** Default 0: a free port. */
  readonly port?: number
  /** The coordinator; default: read from `<dataDir>/coordinator.json`. */
  readonly coordinator?: { readonly host: string; readonly port: number }
  readonly mode?: ExecutionMode
  readonly sealPeriod?: Duration.DurationInput
  readonly limits?: Partial<KvLimits>
  readonly dedup?: Partial<DedupOptions>
}

/** The data directory has no coordinator.json (no coordinator started there) and none was named. */
export class NoCoordinator extends Schema.TaggedError<NoCoordinator>("@dse/kv/NoCoordinator")("NoCoordinator", {
  dataDir: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `no coordinator for ${this.dataDir}: ${this.reason} (start it first, or pass --coordinator host:port)`
  }
}

export type StartError =
  | NoCoordinator
  | ListenError
  | CheckpointStoreError
  | CorruptCheckpoint
  | CoordinatorUnavailable
  | FutureWorldLine

export interface RunningShard {
  readonly shard: KvShardService
  /** Where it listens (host and the bound port). */
  readonly endpoint: { readonly host: string; readonly port: number }
}

/** A free TCP port on `host` (the OS picks it; it is free again once this returns). */
const freePort = (host: string): Effect.Effect<number, ListenError> =>
  Effect.async<number, ListenError>((resume) => {
    const server = net.createServer()
    server.once("error", (error) =>
      resume(Effect.fail(new ListenError({ endpoint: `tcp://${host}:0`, reason: error.message })))
    )
    server.listen(0, host, () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resume(Effect.succeed(port)))
    })
  })

const coordinatorOf = (options: KvProcessOptions) =>
  options.coordinator !== undefined
    ? Effect.succeed(options.coordinator)
    : CoordinatorFile.read(options.dataDir).pipe(
        Effect.mapError((e) => new NoCoordinator({ dataDir: options.dataDir, reason: e.message })),
        Effect.flatMap(
          Option.match({
            onNone: () => Effect.fail(new NoCoordinator({ dataDir: options.dataDir, reason: `${CoordinatorFile.pathOf(options.dataDir)} is missing` })),
            onSome: (info) => Effect.succeed({ host: info.host, port: info.port })
          })
        )
      )

/**
 * Starts shard `options.shard`: restores it from its checkpoints (after a crash: at the cluster's
 * recovery cut), serves it, and keeps it running until the scope closes.
 */
export const start = (options: KvProcessOptions): Effect.Effect<RunningShard, StartError, Scope.Scope> =>
  Effect.gen(function* () {
    const host = options.host ?? Endpoint.LOOPBACK
    const coordinator = yield* coordinatorOf(options)
    // The worker registers with its address, so the port must be known before the runtime starts.
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
            SqliteCheckpointStore.layer({ dataDir: options.dataDir })
          )
        )
      )
    )
    const shard = yield* KvShard.make({
      index: options.shard,
      ...(options.limits !== undefined ? { limits: options.limits } : {}),
      ...(options.dedup !== undefined ? { dedup: options.dedup } : {})
    }).pipe(Effect.provide(context))
    yield* KvServer.serve(shard, { endpoint }).pipe(Effect.provide(context))
    return { shard, endpoint: { host, port } }
  })
