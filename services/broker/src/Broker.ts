/**
 * A broker node: the partitions one process hosts, and how their step outputs reach partitions
 * hosted elsewhere.
 *
 *   const broker = yield* Broker.make({ topics, link })        // every partition of every topic
 *   const broker = yield* Broker.make({ topics, hosts: (t) => t === "orders", link })
 *
 * `topics` is the whole cluster's configuration (a step may produce to any topic); `hosts` picks
 * the partitions this process runs (default: all). Forward messages to a local partition are
 * delivered in process (the target's Action still absorbs the step's dependency); the others go
 * through `link` (a BrokerClient over the transport, or the in-process network in tests).
 */
import type { CheckpointStore, Dse, StateObject } from "@dse/core"
import type { Scope } from "effect"
import { Context, Effect, Layer } from "effect"
import type { RoutingError } from "./BrokerErrors"
import { NotHosted } from "./BrokerErrors"
import type { ForwardRequest, ForwardResult } from "./BrokerModel"
import type { PartitionLimits, PartitionService, RetentionOptions } from "./Partition"
import * as Partition from "./Partition"
import type { ForwarderOptions } from "./internal/forwarder"
import * as Topics from "./Topics"
import type { Duration } from "effect"

/** How a partition reaches partitions hosted by other processes. */
export interface BrokerLink {
  readonly forward: (request: ForwardRequest) => Effect.Effect<ForwardResult, unknown>
}

export interface BrokerOptions {
  /** Every topic of the cluster. */
  readonly topics: Topics.Topics | ReadonlyArray<Topics.TopicConfig>
  /** The partitions this process hosts (default: all of them). */
  readonly hosts?: (topic: string, partition: number) => boolean
  /** Required when some partitions are hosted elsewhere. */
  readonly link?: BrokerLink
  readonly limits?: Partial<PartitionLimits>
  readonly retention?: Partial<RetentionOptions>
  readonly forwarder?: Partial<ForwarderOptions>
  readonly pollInterval?: Duration.DurationInput
  readonly subscribeWait?: Duration.DurationInput
}

export interface BrokerService {
  readonly topics: Topics.Topics
  /** The hosted partitions. */
  readonly partitions: ReadonlyArray<PartitionService>
  readonly get: (topic: string, partition: number) => Effect.Effect<PartitionService, RoutingError>
  /** The hosted partition, or undefined. */
  readonly local: (topic: string, partition: number) => PartitionService | undefined
}

export class Broker extends Context.Tag("@dse/broker/Broker")<Broker, BrokerService>() {}

export const toTopics = (topics: Topics.Topics | ReadonlyArray<Topics.TopicConfig>): Topics.Topics =>
  "list" in topics ? (topics as Topics.Topics) : Topics.make(topics as ReadonlyArray<Topics.TopicConfig>)

/** Starts the hosted partitions (each registers with the coordinator and restores its checkpoint). */
export const make = (
  options: BrokerOptions
): Effect.Effect<BrokerService, StateObject.StartError, Dse.Dse | CheckpointStore | Scope.Scope> =>
  Effect.gen(function* () {
    const topics = toTopics(options.topics)
    const hosts = options.hosts ?? (() => true)
    const byName = new Map<string, PartitionService>()
    const local = (topic: string, partition: number) => byName.get(Topics.workerName(topic, partition))
    const send = (request: ForwardRequest): Effect.Effect<ForwardResult, unknown> => {
      const target = local(request.topic, request.partition)
      if (target) return target.forward(request)
      if (options.link) return options.link.forward(request)
      return Effect.fail(new NotHosted({ topic: request.topic, partition: request.partition }))
    }
    const wanted: Array<readonly [string, number]> = []
    for (const t of topics.list) for (let p = 0; p < t.partitions; p++) if (hosts(t.name, p)) wanted.push([t.name, p])
    // All at once: a rebuilding coordinator answers a restarted worker only once every member has
    // attached, so partitions registering one after another could wait for each other forever.
    const started = yield* Effect.forEach(
      wanted,
      ([topic, p]) =>
        Partition.make({
          topic,
          partition: p,
          topics,
          send,
          ...(options.limits !== undefined ? { limits: options.limits } : {}),
          ...(options.retention !== undefined ? { retention: options.retention } : {}),
          ...(options.forwarder !== undefined ? { forwarder: options.forwarder } : {}),
          ...(options.pollInterval !== undefined ? { pollInterval: options.pollInterval } : {}),
          ...(options.subscribeWait !== undefined ? { subscribeWait: options.subscribeWait } : {})
        }),
      { concurrency: "unbounded" }
    )
    for (const partition of started) byName.set(partition.name, partition)
    const get = (topic: string, partition: number): Effect.Effect<PartitionService, RoutingError> =>
      Effect.flatMap(Topics.check(topics, topic, partition), () => {
        const p = local(topic, partition)
        return p ? Effect.succeed(p) : Effect.fail(new NotHosted({ topic, partition }))
      })
    return { topics, partitions: Array.from(byName.values()), get, local } satisfies BrokerService
  })

export const layer = (options: BrokerOptions): Layer.Layer<Broker, StateObject.StartError, Dse.Dse | CheckpointStore> =>
  Layer.scoped(Broker, make(options))
