/**
 * A broker node as a process (what `src/main.ts` runs): one sqlite checkpoint file per hosted
 * partition under the data directory, its Dse runtime connected to the coordinator process, its
 * RPC group served on a loopback port, its partition workers registered with that address (so
 * clients and other broker processes find them through the coordinator), and a link to the
 * partitions hosted by other broker processes (found the same way).
 */
import type { CheckpointStoreError, CoordinatorUnavailable, CorruptCheckpoint, ExecutionMode, FutureWorldLine } from "@dse/core"
import { CoordinatorClient, Dse } from "@dse/core"
import { SqliteCheckpointStore } from "@dse/storage"
import { Endpoint, ListenError } from "@dse/transport"
import type { Duration, Scope } from "effect"
import { Effect, Layer, Option, Schema } from "effect"
import * as net from "node:net"
import { CoordinatorFile, RemoteCoordinatorClient } from "@dse/coordinator-service"
import type { BrokerService } from "./Broker"
import type { BrokerClientService } from "./BrokerClient"
import * as Broker from "./Broker"
import * as BrokerServer from "./BrokerServer"
import * as BrokerTransport from "./BrokerTransport"
import type { PartitionLimits, RetentionOptions } from "./Partition"
import type * as Topics from "./Topics"

export interface BrokerProcessOptions {
  /** The data directory: `<dataDir>/broker:<topic>:<p>.db`, and `coordinator.json` when `coordinator` is not given. */
  readonly dataDir: string
  /** Every topic of the cluster. */
  readonly topics: Topics.Topics
  /** The topics whose partitions this process hosts (default: all). */
  readonly serve?: ReadonlyArray<string>
  /** Where to listen. Default 127.0.0.1. */
  readonly host?: string
  /** Default 0: a free port. */
  readonly port?: number
  /** The coordinator; default: read from `<dataDir>/coordinator.json`. */
  readonly coordinator?: { readonly host: string; readonly port: number }
  readonly mode?: ExecutionMode
  readonly sealPeriod?: Duration.DurationInput
  readonly limits?: Partial<PartitionLimits>
  readonly retention?: Partial<RetentionOptions>
  /** Extra latency of every durable write (SqliteCheckpointStore's emulation of replicated storage). */
  readonly extraWriteLatencyMs?: number
}

/** The data directory has no coordinator.json (no coordinator started there) and none was named. */
export class NoCoordinator extends Schema.TaggedError<NoCoordinator>("@dse/broker/NoCoordinator")("NoCoordinator", {
  dataDir: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `no coordinator for ${this.dataDir}: ${this.reason} (start it first, or pass --coordinator host:port)`
  }
}

export type StartError = NoCoordinator | ListenError | CheckpointStoreError | CorruptCheckpoint | CoordinatorUnavailable | FutureWorldLine

export interface RunningBroker {
  readonly broker: BrokerService
  /** Where it listens (host and the bound port). */
  readonly endpoint: { readonly host: string; readonly port: number }
}

/** A free TCP port on `host` (the OS picks it; it is free again once this returns). */
const freePort = (host: string): Effect.Effect<number, ListenError> =>
  Effect.async<number, ListenError>((resume) => {
    const server = net.createServer()
    server.once("error", (error) => resume(Effect.fail(new ListenError({ endpoint: `tcp://${host}:0`, reason: error.message }))))
    server.listen(0, host, () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resume(Effect.succeed(port)))
    })
  })

/** The coordinator named by the options or by `<dataDir>/coordinator.json`. */
export const coordinatorOf = (options: { readonly dataDir: string; readonly coordinator?: { readonly host: string; readonly port: number } }) =>
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

/**
 * Starts the broker node: restores its partitions from their checkpoints (after a crash: at the
 * cluster's recovery cut), serves them, and keeps them running until the scope closes.
 */
export const start = (options: BrokerProcessOptions): Effect.Effect<RunningBroker, StartError, Scope.Scope> =>
  Effect.gen(function* () {
    const host = options.host ?? Endpoint.LOOPBACK
    const coordinator = yield* coordinatorOf(options)
    // The workers register with their address, so the port must be known before they start.
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
              ...(options.extraWriteLatencyMs !== undefined ? { extraWriteLatencyMs: options.extraWriteLatencyMs } : {})
            })
          )
        )
      )
    )
    const coordinatorClient = yield* Effect.provide(CoordinatorClient, context)
    // Partitions hosted elsewhere are found through the coordinator (their workers' addresses).
    const link = yield* BrokerTransport.make({ topics: options.topics, discover: coordinatorClient.status })
    const served = options.serve
    const broker = yield* Broker.make({
      topics: options.topics,
      ...(served !== undefined ? { hosts: (topic: string) => served.includes(topic) } : {}),
      link: { forward: link.forward },
      ...(options.limits !== undefined ? { limits: options.limits } : {}),
      ...(options.retention !== undefined ? { retention: options.retention } : {})
    }).pipe(Effect.provide(context))
    yield* BrokerServer.serve(broker, { endpoint }).pipe(Effect.provide(context))
    return { broker, endpoint: { host, port } }
  })

/**
 * A BrokerClient for a process outside the brokers (a processor, a producer, a consumer): it finds
 * every partition through the coordinator (the address its worker registered with).
 */
export const connect = (options: {
  readonly dataDir: string
  readonly coordinator?: { readonly host: string; readonly port: number }
  readonly topics: Topics.Topics
  readonly timeout?: Duration.DurationInput
}): Effect.Effect<BrokerClientService, NoCoordinator, Scope.Scope> =>
  Effect.gen(function* () {
    const coordinator = yield* coordinatorOf(options)
    const coordinatorClient = yield* RemoteCoordinatorClient.make({ host: coordinator.host, port: coordinator.port })
    return yield* BrokerTransport.make({
      topics: options.topics,
      discover: coordinatorClient.status,
      ...(options.timeout !== undefined ? { timeout: options.timeout } : {})
    })
  })
