/**
 * The broker over libs/testing's InProcessNetwork: for tests that compose broker processes,
 * processors and clients in one process (with crashes, lost messages, TestClock). It applies the
 * same DSE semantics as the real transport (`Dse.serve` on the broker, `Dse.call` on the client)
 * and, like a wire, encodes every payload, success and error with the RPC group's Schemas and
 * copies it, so a Schema mistake or an aliased value shows up here too.
 *
 * Every hosted partition is served under its worker name (`broker:<topic>:<partition>`), so a
 * crashed broker process's partitions become unreachable and come back with it. Subscriptions are
 * long polls (`BrokerFetch`) one after another, since the in-process network has no streams.
 */
import type { CheckpointStore, Dse } from "@dse/core"
import type { InProcessNetwork } from "@dse/testing"
import { EndpointUnavailable, MessageLost } from "@dse/testing"
import type { Rpc } from "@effect/rpc"
import type { Scope } from "effect"
import { Deferred, Effect, Schema } from "effect"
import type { BrokerOptions, BrokerService } from "./Broker"
import * as Broker from "./Broker"
import { BrokerUnavailable } from "./BrokerErrors"
import type { BrokerApi, BrokerClientService } from "./BrokerClient"
import * as BrokerClient from "./BrokerClient"
import * as BrokerHandlers from "./BrokerHandlers"
import type { TopicConfig } from "./BrokerModel"
import type { BrokerRpcTag } from "./BrokerRpcs"
import { BrokerRpcs } from "./BrokerRpcs"
import * as Topics from "./Topics"

interface Envelope {
  readonly tag: BrokerRpcTag
  readonly payload: unknown
}

/** A handler's typed failure, encoded (as it would cross the wire). */
class EncodedFailure {
  constructor(readonly encoded: unknown) {}
}

/** The serving process died while a request was in flight (a real connection would break). */
class ProcessGone {
  readonly message = "the broker process went away during the request"
}

/**
 * Per network and endpoint, a signal completed when the process serving it goes away. The
 * in-process network runs a handler (and the commit wait of `Dse.serve`) on the caller's fiber with
 * the server's runtime; when the server crashes that wait would never end, where a real connection
 * would break. Callers race their call against this signal.
 */
const goneSignals = new WeakMap<InProcessNetwork, Map<string, Deferred.Deferred<void>>>()
const signalsOf = (network: InProcessNetwork) => {
  let m = goneSignals.get(network)
  if (!m) {
    m = new Map()
    goneSignals.set(network, m)
  }
  return m
}

const rpcOf = (tag: string): Rpc.AnyWithProps => {
  const rpc = BrokerRpcs.requests.get(tag)
  if (!rpc) throw new Error(`unknown broker rpc ${tag}`)
  return rpc as unknown as Rpc.AnyWithProps
}

const copy = <A>(a: A): A => structuredClone(a)

/**
 * Serves every partition of `broker` on the network until the scope closes. Requests in flight
 * when the scope closes (the process crashed) fail, as they would on a broken connection.
 */
export const serve = (network: InProcessNetwork, broker: BrokerService): Effect.Effect<void, never, Dse.Dse | Scope.Scope> =>
  Effect.gen(function* () {
    const handlers = BrokerHandlers.make(broker) as unknown as Record<string, (payload: unknown, options: unknown) => Effect.Effect<unknown, unknown>>
    const gone = yield* Deferred.make<void>()
    const signals = signalsOf(network)
    for (const p of broker.partitions) signals.set(p.name, gone)
    yield* Effect.addFinalizer(() => Deferred.succeed(gone, undefined))
    const handle = (envelope: Envelope) => {
      if (envelope.tag === "BrokerSubscribe") return Effect.dieMessage("BrokerSubscribe is a stream: use BrokerFetch over the in-process network")
      const rpc = rpcOf(envelope.tag)
      const handler = handlers[envelope.tag]!
      const run = Schema.decodeUnknown(rpc.payloadSchema as Schema.Schema<unknown, unknown>)(envelope.payload).pipe(
        Effect.orDie,
        Effect.flatMap((payload) => handler(payload, { clientId: 0, headers: {} })),
        Effect.flatMap((a) => Effect.orDie(Schema.encode(rpc.successSchema as Schema.Schema<unknown, unknown>)(a))),
        Effect.catchAll((e) =>
          Effect.flatMap(Effect.orDie(Schema.encode(rpc.errorSchema as Schema.Schema<unknown, unknown>)(e)), (encoded) =>
            Effect.fail(new EncodedFailure(copy(encoded)))
          )
        ),
        Effect.map(copy)
      )
      return Effect.raceFirst(run, Effect.zipRight(Deferred.await(gone), Effect.fail(new ProcessGone())))
    }
    yield* Effect.forEach(broker.partitions, (p) => network.serve(p.name, handle), { discard: true })
  })

/** The calls of the partition (topic, partition) over the network. */
export const connect = (network: InProcessNetwork, topic: string, partition: number, options: { readonly fetchWaitMs?: number } = {}): BrokerApi => {
  const name = Topics.workerName(topic, partition)
  const call = (tag: BrokerRpcTag) => {
    const rpc = rpcOf(tag)
    const encodePayload = Schema.encode(rpc.payloadSchema as Schema.Schema<unknown, unknown>)
    const decodeSuccess = Schema.decodeUnknown(rpc.successSchema as Schema.Schema<unknown, unknown>)
    const decodeError = Schema.decodeUnknown(rpc.errorSchema as Schema.Schema<unknown, unknown>)
    return (payload: unknown): Effect.Effect<unknown, unknown> =>
      Effect.flatMap(Effect.orDie(encodePayload(payload)), (encoded) => {
        const gone = signalsOf(network).get(name)
        const sent = network.call<Envelope, unknown, EncodedFailure>(name, { tag, payload: copy(encoded) })
        const call = gone ? Effect.raceFirst(sent, Effect.zipRight(Deferred.await(gone), Effect.fail(new ProcessGone()))) : sent
        return call.pipe(
          Effect.flatMap((out) => Effect.orDie(decodeSuccess(out))),
          Effect.catchAll((e): Effect.Effect<never, unknown> => {
            if (e instanceof EncodedFailure) return Effect.flatMap(Effect.orDie(decodeError(e.encoded)), Effect.fail)
            if (e instanceof MessageLost || e instanceof EndpointUnavailable || e instanceof ProcessGone) {
              return Effect.fail(new BrokerUnavailable({ topic, partition, reason: e.message }))
            }
            return Effect.fail(e)
          })
        )
      })
  }
  const api: Record<string, unknown> = {}
  for (const tag of BrokerRpcs.requests.keys()) api[tag] = call(tag as BrokerRpcTag)
  const typed = api as unknown as BrokerApi
  return {
    ...typed,
    BrokerTopics: () => (api.BrokerTopics as (payload: unknown) => ReturnType<BrokerApi["BrokerTopics"]>)(undefined),
    BrokerSubscribe: (request) => BrokerClient.subscribeViaFetch(typed.BrokerFetch, request, options.fetchWaitMs ?? 1000)
  }
}

/** A BrokerClient over partitions served on `network`. */
export const client = (
  network: InProcessNetwork,
  topics: Topics.Topics | ReadonlyArray<TopicConfig>,
  options: { readonly fetchWaitMs?: number } = {}
): BrokerClientService => {
  const apis = new Map<string, BrokerApi>()
  return BrokerClient.make({
    topics,
    route: (topic, partition) => {
      const key = Topics.workerName(topic, partition)
      let api = apis.get(key)
      if (!api) {
        api = connect(network, topic, partition, options)
        apis.set(key, api)
      }
      return api
    }
  })
}

/** How a broker process reaches partitions hosted by others, over the network. */
export const link = (network: InProcessNetwork, topics: Topics.Topics | ReadonlyArray<TopicConfig>): Broker.BrokerLink => {
  const c = client(network, topics)
  return { forward: (request) => c.forward(request) }
}

/**
 * The program of one broker process in an InProcessCluster: starts its partitions (restoring them
 * after a restart) and serves them. `onStart` receives the live broker (again after every restart).
 */
export const brokerProgram = (
  network: InProcessNetwork,
  options: BrokerOptions,
  onStart: (broker: BrokerService) => void = () => {}
): Effect.Effect<void, unknown, Dse.Dse | CheckpointStore | Scope.Scope> =>
  Effect.gen(function* () {
    const broker = yield* Broker.make({ ...options, link: options.link ?? link(network, options.topics as ReadonlyArray<TopicConfig> | Topics.Topics) })
    onStart(broker)
    yield* serve(network, broker)
  })
