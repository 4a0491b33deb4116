/**
 * A broker node as a process (what `src/main.ts` runs): one sqlite checkpoint file per hosted
 * partition under the data directory, its Dse runtime connected to the coordinator process, its
 * RPC group served on a loopback port, its partition workers registered with that address (so
 * clients and other broker processes find them through the coordinator), and a link to the
 * partitions hosted by other broker processes (found the same way).
 */
import { RemoteCoordinatorClient, WorkerProcess } from "@dse/coordinator-service"
import { CoordinatorClient } from "@dse/core"
import type { Duration, Scope } from "effect"
import { Effect } from "effect"
import type { BrokerService } from "./Broker"
import type { BrokerClientService } from "./BrokerClient"
import * as Broker from "./Broker"
import * as BrokerServer from "./BrokerServer"
import * as BrokerTransport from "./BrokerTransport"
import type { PartitionLimits, RetentionOptions } from "./Partition"
import type * as Topics from "./Topics"

/** The worker options (data directory `<dataDir>/broker:<topic>:<p>.db`, address, coordinator, mode, write latency) and the broker's own. */
export interface BrokerProcessOptions extends WorkerProcess.WorkerProcessOptions {
  /** Every topic of the cluster. */
  readonly topics: Topics.Topics
  /** The topics whose partitions this process hosts (default: all). */
  readonly serve?: ReadonlyArray<string>
  readonly limits?: Partial<PartitionLimits>
  readonly retention?: Partial<RetentionOptions>
}

export type StartError = WorkerProcess.StartError

export interface RunningBroker {
  readonly broker: BrokerService
  /** Where it listens (host and the bound port). */
  readonly endpoint: { readonly host: string; readonly port: number }
}

/**
 * Starts the broker node: restores its partitions from their checkpoints (after a crash: at the
 * cluster's recovery cut), serves them, and keeps them running until the scope closes.
 */
export const start = (options: BrokerProcessOptions): Effect.Effect<RunningBroker, StartError, Scope.Scope> =>
  Effect.gen(function* () {
    const { context, endpoint, host, port } = yield* WorkerProcess.runtime(options)
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
}): Effect.Effect<BrokerClientService, WorkerProcess.NoCoordinator, Scope.Scope> =>
  Effect.gen(function* () {
    const coordinator = yield* WorkerProcess.coordinatorOf(options)
    const coordinatorClient = yield* RemoteCoordinatorClient.make({ host: coordinator.host, port: coordinator.port })
    return yield* BrokerTransport.make({
      topics: options.topics,
      discover: coordinatorClient.status,
      ...(options.timeout !== undefined ? { timeout: options.timeout } : {})
    })
  })
