/**
 * The broker client: routes every request to the process that hosts its partition, routes keys to
 * partitions, and offers the resilient pieces clients need (an idempotent producer, a committed
 * consumer that resumes after a broker restart).
 *
 * It is transport-agnostic: it is built from a `route` that gives the typed calls (`BrokerApi`) of
 * the process hosting a partition. `BrokerInProcess.client` connects over libs/testing's
 * InProcessNetwork; `BrokerTransport` (once @dse/transport's DseRpcClient exists) over TCP.
 *
 * Speculation is ambient: a call made inside an sthread (a processor step, `Dse.sthread`) is tagged
 * with it and its reply's dependencies join it; a call made outside any sthread is from outside the
 * DSE domain and is answered only once what it depends on has committed. A speculative
 * subscription is in-domain by definition: it runs in the sthread of its caller, or in one of the
 * world-line it names (`worldLine`); without either it gets committed semantics.
 */
import type { RolledBack } from "@dse/core"
import { Sthread } from "@dse/core"
import type { Rpc, RpcSchema } from "@effect/rpc"
import { Context, Duration, Effect, FiberRef, Layer, Schedule, Stream } from "effect"
import { BrokerUnavailable, InvalidRequest, UnknownPartition, UnknownTopic } from "./BrokerErrors"
import type {
  CommitOffsetRequest,
  DeliveryMode,
  Event,
  EventBatch,
  EventInput,
  FetchRequest,
  ForwardRequest,
  ForwardResult,
  GetOffsetRequest,
  GroupOffset,
  PartitionInfo,
  ProduceResult,
  RegisterRequest,
  RegisterResult,
  StepRequest,
  StepResult,
  SubscribeRequest,
  TopicConfig
} from "./BrokerModel"
import type { BrokerRpc, BrokerRpcTag } from "./BrokerRpcs"
import * as Topics from "./Topics"

// -------------------------------------------------------------------------------------------------
// The calls of one broker process

type ErrorOf<R> = R extends Rpc.Rpc<infer _Tag, infer _Payload, infer _Success, infer _Error, infer _Middleware>
  ? ([_Success] extends [RpcSchema.Stream<infer _A, infer _E>] ? _E["Type"] : never) | _Error["Type"] | _Middleware["failure"]["Type"]
  : never

type ByTag<Tag extends BrokerRpcTag> = Extract<BrokerRpc, { readonly _tag: Tag }>

/** What the call `Tag` can fail with: its broker errors, the speculation errors, and BrokerUnavailable. */
export type BrokerCallError<Tag extends BrokerRpcTag> = ErrorOf<ByTag<Tag>> | BrokerUnavailable

/** The typed calls of a broker process (an RPC client of BrokerRpcs, with transport failures as BrokerUnavailable). */
export interface BrokerApi {
  readonly BrokerProduce: (payload: Rpc.Payload<ByTag<"BrokerProduce">>) => Effect.Effect<ProduceResult, BrokerCallError<"BrokerProduce">>
  readonly BrokerForward: (payload: ForwardRequest) => Effect.Effect<ForwardResult, BrokerCallError<"BrokerForward">>
  readonly BrokerFetch: (payload: FetchRequest) => Effect.Effect<EventBatch, BrokerCallError<"BrokerFetch">>
  readonly BrokerSubscribe: (payload: SubscribeRequest) => Stream.Stream<EventBatch, BrokerCallError<"BrokerSubscribe">>
  readonly BrokerRegister: (payload: RegisterRequest) => Effect.Effect<RegisterResult, BrokerCallError<"BrokerRegister">>
  readonly BrokerStep: (payload: StepRequest) => Effect.Effect<StepResult, BrokerCallError<"BrokerStep">>
  readonly BrokerCommitOffset: (payload: CommitOffsetRequest) => Effect.Effect<GroupOffset, BrokerCallError<"BrokerCommitOffset">>
  readonly BrokerGetOffset: (payload: GetOffsetRequest) => Effect.Effect<GroupOffset, BrokerCallError<"BrokerGetOffset">>
  readonly BrokerDeleteGroup: (payload: GetOffsetRequest) => Effect.Effect<boolean, BrokerCallError<"BrokerDeleteGroup">>
  readonly BrokerPartitionInfo: (payload: { readonly topic: string; readonly partition: number }) => Effect.Effect<PartitionInfo, BrokerCallError<"BrokerPartitionInfo">>
  readonly BrokerTopics: () => Effect.Effect<ReadonlyArray<TopicConfig>, BrokerCallError<"BrokerTopics">>
}

/** A fetch-based subscription: long polls one after another (for transports without streams). */
export const subscribeViaFetch = (
  fetch: BrokerApi["BrokerFetch"],
  request: SubscribeRequest,
  waitMs = 1000
): Stream.Stream<EventBatch, BrokerCallError<"BrokerFetch">> =>
  Stream.unwrap(
    Effect.sync(() => {
      let from = request.from
      let worldLine = request.worldLine
      const pull = Effect.suspend(() =>
        fetch({
          topic: request.topic,
          partition: request.partition,
          from,
          mode: request.mode,
          waitMs,
          ...(request.maxEvents !== undefined ? { maxEvents: request.maxEvents } : {}),
          ...(worldLine !== undefined ? { worldLine } : {})
        })
      ).pipe(
        Effect.tap((batch) =>
          Effect.sync(() => {
            from = batch.next
            if (request.mode === "speculative" && worldLine === undefined) worldLine = batch.worldLine
          })
        )
      )
      return Stream.repeatEffect(pull).pipe(Stream.filter((batch) => batch.events.length > 0))
    })
  )

// -------------------------------------------------------------------------------------------------
// The client

export interface ProduceOptions {
  /** The partition (default: by the key of the first event, round-robin without a key). */
  readonly partition?: number
  /** Producer dedup: with a producer id, number this producer's batches on the partition 1, 2, 3, ... */
  readonly producerId?: string
  readonly seq?: number
}

export interface ConsumeOptions {
  /** Where to start (default: the group's offset when `group` is given, else the partition's start). */
  readonly from?: number
  readonly mode?: DeliveryMode
  /** Resume from (and, with `commit`, record progress in) this group's offset. */
  readonly group?: string
  /** Events per pull. */
  readonly maxEvents?: number
  /** Speculative mode: the world-line to read in (a speculative read needs an sthread or a world-line). */
  readonly worldLine?: number
  /** Pause before resubscribing after the broker went away. Default 50 ms. */
  readonly retryDelay?: Duration.DurationInput
}

/** An event with its partition, as a consumer sees it. */
export interface Delivered extends Event {
  readonly topic: string
  readonly partition: number
}

export type ProduceError = BrokerCallError<"BrokerProduce"> | UnknownTopic | InvalidRequest

export interface Producer {
  readonly id: string
  /**
   * Appends `events` (one batch, atomically, one partition) with dedup: retries after a lost reply,
   * a broker restart or a rollback resend the same sequence number, so the batch lands once.
   */
  readonly send: (
    topic: string,
    events: EventInput | ReadonlyArray<EventInput>,
    options?: { readonly partition?: number }
  ) => Effect.Effect<ProduceResult, Exclude<ProduceError, BrokerUnavailable | RolledBack>>
}

export interface BrokerClientService {
  readonly topics: Topics.Topics
  /** The calls of the process that hosts (topic, partition). */
  readonly api: (topic: string, partition: number) => BrokerApi
  readonly partitions: (topic: string) => Effect.Effect<number, UnknownTopic>
  /** The partition of `key` (round-robin when there is none). */
  readonly partitionFor: (topic: string, key: string | undefined) => Effect.Effect<number, UnknownTopic>
  readonly produce: (
    topic: string,
    events: EventInput | ReadonlyArray<EventInput>,
    options?: ProduceOptions
  ) => Effect.Effect<ProduceResult, ProduceError>
  readonly forward: (request: ForwardRequest) => Effect.Effect<ForwardResult, BrokerCallError<"BrokerForward">>
  readonly fetch: (request: FetchRequest) => Effect.Effect<EventBatch, BrokerCallError<"BrokerFetch">>
  /** A raw subscription (fails when the broker goes away or, speculative, when it rolls back). */
  readonly subscribe: (request: SubscribeRequest) => Stream.Stream<EventBatch, BrokerCallError<"BrokerSubscribe">>
  /**
   * Events of one partition, resubscribing after the broker goes away. In committed mode (the
   * default) it never fails for a broker restart: committed events never change, so it resumes
   * right after the last event it delivered. In speculative mode a rollback ends it with RolledBack.
   */
  readonly consume: (
    topic: string,
    partition: number,
    options?: ConsumeOptions
  ) => Stream.Stream<Delivered, Exclude<BrokerCallError<"BrokerSubscribe"> | BrokerCallError<"BrokerGetOffset">, BrokerUnavailable>>
  readonly register: (request: RegisterRequest) => Effect.Effect<RegisterResult, BrokerCallError<"BrokerRegister">>
  readonly step: (request: StepRequest) => Effect.Effect<StepResult, BrokerCallError<"BrokerStep">>
  readonly commitOffset: (request: CommitOffsetRequest) => Effect.Effect<GroupOffset, BrokerCallError<"BrokerCommitOffset">>
  readonly getOffset: (request: GetOffsetRequest) => Effect.Effect<GroupOffset, BrokerCallError<"BrokerGetOffset">>
  readonly deleteGroup: (request: GetOffsetRequest) => Effect.Effect<boolean, BrokerCallError<"BrokerDeleteGroup">>
  readonly info: (topic: string, partition: number) => Effect.Effect<PartitionInfo, BrokerCallError<"BrokerPartitionInfo">>
  /**
   * The idempotent producer `id` of this client (one instance per id). The id must belong to one
   * producer at a time; its sequence numbers start at `startSeq` (default 1): a producer that
   * restarts under the same id must continue its numbering (or take a new id), or its first
   * batches are taken for repeats.
   */
  readonly producer: (id: string, options?: { readonly startSeq?: number; readonly retryDelay?: Duration.DurationInput }) => Producer
}

export class BrokerClient extends Context.Tag("@dse/broker/BrokerClient")<BrokerClient, BrokerClientService>() {}

/** Failures worth retrying with the same request: the broker was away, or the speculation was lost. */
export const isTransient = (e: unknown): boolean =>
  typeof e === "object" && e !== null && "_tag" in e && (e._tag === "BrokerUnavailable" || e._tag === "RolledBack" || e._tag === "FutureWorldLine" || e._tag === "StateObjectFailed")

/** Runs a speculative request in the caller's sthread, or in one of `worldLine` when there is none. */
const inDomain = <A, E, R>(worldLine: number | undefined, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(FiberRef.get(Sthread.currentSthread), (thread) =>
    thread || worldLine === undefined ? effect : Sthread.within(effect, new Sthread.Sthread(worldLine))
  )

const inDomainStream = <A, E, R>(worldLine: number | undefined, stream: Stream.Stream<A, E, R>): Stream.Stream<A, E, R> =>
  Stream.unwrapScoped(
    Effect.flatMap(FiberRef.get(Sthread.currentSthread), (thread) =>
      thread || worldLine === undefined
        ? Effect.succeed(stream)
        : Effect.as(Effect.locallyScoped(Sthread.currentSthread, new Sthread.Sthread(worldLine)), stream)
    )
  )

/** A client over `route` for the cluster's `topics`. */
export const make = (options: {
  readonly topics: Topics.Topics | ReadonlyArray<TopicConfig>
  readonly route: (topic: string, partition: number) => BrokerApi
}): BrokerClientService => {
  const topics = "list" in options.topics ? (options.topics as Topics.Topics) : Topics.make(options.topics as ReadonlyArray<TopicConfig>)
  const unchecked = options.route
  /** The calls for (topic, partition), or calls that fail with UnknownTopic / UnknownPartition. */
  const route = (topic: string, partition: number): BrokerApi => {
    const t = topics.get(topic)
    const error =
      t === undefined
        ? new UnknownTopic({ topic })
        : !Number.isInteger(partition) || partition < 0 || partition >= t.partitions
          ? new UnknownPartition({ topic, partition, partitions: t.partitions })
          : undefined
    if (error === undefined) return unchecked(topic, partition)
    const fail = () => Effect.fail(error)
    return {
      BrokerProduce: fail,
      BrokerForward: fail,
      BrokerFetch: fail,
      BrokerSubscribe: () => Stream.fail(error),
      BrokerRegister: fail,
      BrokerStep: fail,
      BrokerCommitOffset: fail,
      BrokerGetOffset: fail,
      BrokerDeleteGroup: fail,
      BrokerPartitionInfo: fail,
      BrokerTopics: () => Effect.succeed(topics.list)
    }
  }
  const roundRobin = new Map<string, number>()

  const partitions = (topic: string): Effect.Effect<number, UnknownTopic> => {
    const t = topics.get(topic)
    return t ? Effect.succeed(t.partitions) : Effect.fail(new UnknownTopic({ topic }))
  }

  const partitionFor = (topic: string, key: string | undefined): Effect.Effect<number, UnknownTopic> =>
    Effect.map(partitions(topic), (n) => {
      if (key !== undefined) return Topics.partitionOf(key, n)
      const next = roundRobin.get(topic) ?? 0
      roundRobin.set(topic, next + 1)
      return next % n
    })

  const asArray = (events: EventInput | ReadonlyArray<EventInput>): ReadonlyArray<EventInput> =>
    Array.isArray(events) ? (events as ReadonlyArray<EventInput>) : [events as EventInput]

  const produce: BrokerClientService["produce"] = (topic, events, produceOptions = {}) => {
    const list = asArray(events)
    if (list.length === 0) return Effect.fail(new InvalidRequest({ reason: "a batch holds at least one event" }))
    const partition =
      produceOptions.partition !== undefined ? Effect.succeed(produceOptions.partition) : partitionFor(topic, list[0]!.key)
    return Effect.flatMap(partition, (p) =>
      route(topic, p).BrokerProduce({
        topic,
        partition: p,
        events: list,
        ...(produceOptions.producerId !== undefined ? { producerId: produceOptions.producerId } : {}),
        ...(produceOptions.seq !== undefined ? { seq: produceOptions.seq } : {})
      })
    )
  }

  const subscribe: BrokerClientService["subscribe"] = (request) =>
    request.mode === "speculative"
      ? inDomainStream(request.worldLine, route(request.topic, request.partition).BrokerSubscribe(request))
      : route(request.topic, request.partition).BrokerSubscribe(request)

  const consume: BrokerClientService["consume"] = (topic, partition, consumeOptions = {}) => {
    const mode = consumeOptions.mode ?? "committed"
    const retry = Duration.decode(consumeOptions.retryDelay ?? Duration.millis(50))
    const start: Effect.Effect<number, BrokerCallError<"BrokerGetOffset">> =
      consumeOptions.from !== undefined
        ? Effect.succeed(consumeOptions.from)
        : consumeOptions.group !== undefined
          ? Effect.map(route(topic, partition).BrokerGetOffset({ topic, partition, group: consumeOptions.group }), (g) => g.offset ?? 0)
          : Effect.map(route(topic, partition).BrokerPartitionInfo({ topic, partition }), (i) => i.start) as Effect.Effect<
              number,
              BrokerCallError<"BrokerGetOffset">
            >
    return Stream.unwrap(
      Effect.map(Effect.retry(start, { while: (e) => e._tag === "BrokerUnavailable", schedule: Schedule.spaced(retry) }), (from0) => {
        let from = from0
        let worldLine: number | undefined = consumeOptions.worldLine
        const once = Stream.suspend(() =>
          subscribe({
            topic,
            partition,
            from,
            mode,
            ...(consumeOptions.maxEvents !== undefined ? { maxEvents: consumeOptions.maxEvents } : {}),
            ...(worldLine !== undefined ? { worldLine } : {})
          })
        ).pipe(
          Stream.tap((batch) =>
            Effect.sync(() => {
              from = batch.next
              if (mode === "speculative" && worldLine === undefined) worldLine = batch.worldLine
            })
          ),
          Stream.flatMap((batch) => Stream.fromIterable(batch.events.map((e): Delivered => ({ ...e, topic, partition }))))
        )
        // Resubscribe (from where it stopped) when the broker went away; anything else ends the stream.
        const resubscribe = Schedule.spaced(retry).pipe(
          Schedule.whileInput((e: BrokerCallError<"BrokerSubscribe">) => e._tag === "BrokerUnavailable")
        )
        return Stream.retry(once, resubscribe) as Stream.Stream<Delivered, Exclude<BrokerCallError<"BrokerSubscribe">, BrokerUnavailable>>
      })
    ) as Stream.Stream<Delivered, Exclude<BrokerCallError<"BrokerSubscribe"> | BrokerCallError<"BrokerGetOffset">, BrokerUnavailable>>
  }

  const producers = new Map<string, Producer>()
  const producer: BrokerClientService["producer"] = (id, producerOptions = {}) => {
    // One instance per id: two instances of one id would reuse sequence numbers (and lose batches as duplicates).
    const existing = producers.get(id)
    if (existing) return existing
    const created = makeProducer(id, producerOptions)
    producers.set(id, created)
    return created
  }
  const makeProducer = (id: string, producerOptions: { readonly startSeq?: number; readonly retryDelay?: Duration.DurationInput }): Producer => {
    const next = new Map<string, number>()
    const locks = new Map<string, Effect.Semaphore>()
    const retry = Duration.decode(producerOptions.retryDelay ?? Duration.millis(20))
    const lockOf = (key: string) => {
      let lock = locks.get(key)
      if (!lock) {
        lock = Effect.unsafeMakeSemaphore(1)
        locks.set(key, lock)
      }
      return lock
    }
    return {
      id,
      send: (topic, events, sendOptions = {}) => {
        const list = asArray(events)
        const partition =
          sendOptions.partition !== undefined ? Effect.succeed(sendOptions.partition) : partitionFor(topic, list[0]?.key)
        return Effect.flatMap(partition, (p) => {
          const key = `${topic}:${p}`
          // One batch at a time per partition: sequence numbers must arrive in order.
          return lockOf(key).withPermits(1)(
            Effect.suspend(() => {
              const seq = next.get(key) ?? producerOptions.startSeq ?? 1
              return produce(topic, list, { partition: p, producerId: id, seq }).pipe(
                Effect.retry({ while: isTransient, schedule: Schedule.spaced(retry) }),
                Effect.tap(() => Effect.sync(() => next.set(key, seq + 1)))
              )
            })
          )
        }) as Effect.Effect<ProduceResult, Exclude<ProduceError, BrokerUnavailable | RolledBack>>
      }
    }
  }

  return {
    topics,
    api: route,
    partitions,
    partitionFor,
    produce,
    forward: (request) => route(request.topic, request.partition).BrokerForward(request),
    fetch: (request) =>
      request.mode === "speculative"
        ? inDomain(request.worldLine, route(request.topic, request.partition).BrokerFetch(request))
        : route(request.topic, request.partition).BrokerFetch(request),
    subscribe,
    consume,
    register: (request) => route(request.topic, request.partition).BrokerRegister(request),
    step: (request) => route(request.topic, request.partition).BrokerStep(request),
    commitOffset: (request) => route(request.topic, request.partition).BrokerCommitOffset(request),
    getOffset: (request) => route(request.topic, request.partition).BrokerGetOffset(request),
    deleteGroup: (request) => route(request.topic, request.partition).BrokerDeleteGroup(request),
    info: (topic, partition) => route(topic, partition).BrokerPartitionInfo({ topic, partition }),
    producer
  }
}

/** A layer of the client. */
export const layer = (options: Parameters<typeof make>[0]): Layer.Layer<BrokerClient> => Layer.sync(BrokerClient, () => make(options))

