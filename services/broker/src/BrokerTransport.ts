/**
 * The broker client over @dse/transport: one DSE RPC client per broker process, chosen for each
 * partition by `endpoints` (one endpoint for every partition, or a function), or discovered from
 * the coordinator: every partition worker registers with its process's address, so the cluster
 * status names, for `broker:<topic>:<p>`, where to reach it. A partition that cannot be reached is
 * looked up again (its process may have restarted on another port).
 *
 *   const broker = yield* BrokerTransport.make({ topics, endpoints: Endpoint.tcp(7100) })
 *   const broker = yield* BrokerTransport.make({ topics, discover: coordinator.status })
 *
 * Transport failures (the process is down, the call timed out and may or may not have run) become
 * BrokerUnavailable; the producer helper, `consume` and the processor library retry them.
 */
import type { ClusterStatus, CoordinatorUnavailable } from "@dse/core"
import { PayloadTooLarge } from "@dse/core"
import { DseRpcClient, Endpoint } from "@dse/transport"
import type { RpcClient, RpcClientError } from "@effect/rpc"
import { RpcClientError as RpcClientErrorModule } from "@effect/rpc"
import type { Scope } from "effect"
import { Cause, Clock, Effect, Either, Layer, Option, Scope as ScopeModule, Stream } from "effect"
import { BrokerUnavailable, EventTooLarge } from "./BrokerErrors"
import type { BrokerApi, BrokerClientService } from "./BrokerClient"
import * as BrokerClient from "./BrokerClient"
import type { TopicConfig } from "./BrokerModel"
import type { BrokerRpc } from "./BrokerRpcs"
import { BrokerRpcs } from "./BrokerRpcs"
import * as Topics from "./Topics"

export interface Options extends Omit<DseRpcClient.ClientOptions, "endpoint"> {
  readonly topics: Topics.Topics | ReadonlyArray<TopicConfig>
  /** Where partitions are served: one endpoint for all, or per partition (undefined: discover it). */
  readonly endpoints?: Endpoint.Endpoint | ((topic: string, partition: number) => Endpoint.Endpoint | undefined)
  /** The cluster status (worker addresses), to find partitions `endpoints` does not name. */
  readonly discover?: Effect.Effect<ClusterStatus, CoordinatorUnavailable>
  /** At most one discovery per this many ms. Default 200. */
  readonly rediscoverAfterMs?: number
}

type Client = RpcClient.RpcClient<BrokerRpc, RpcClientError.RpcClientError>

const unavailable = (topic: string, partition: number, tag: string) => (cause: Cause.Cause<unknown>) => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure) && failure.value instanceof RpcClientErrorModule.RpcClientError) {
    const e = failure.value
    return Effect.fail(
      e.cause instanceof PayloadTooLarge
        ? new EventTooLarge({ what: "request", size: e.cause.size, limit: e.cause.limit })
        : new BrokerUnavailable({ topic, partition, reason: e.message })
    )
  }
  // A server that shuts down interrupts its calls in flight: for the caller, a broken connection.
  if (Cause.isInterruptedOnly(cause)) return Effect.fail(new BrokerUnavailable({ topic, partition, reason: `the broker stopped while handling ${tag}` }))
  return Effect.failCause(cause)
}

/** A client of the brokers (connections live until the scope closes). */
export const make = (options: Options): Effect.Effect<BrokerClientService, never, Scope.Scope> =>
  Effect.gen(function* () {
    const { topics: topicsOption, endpoints, discover, rediscoverAfterMs, ...clientOptions } = options
    const topics = "list" in topicsOption ? (topicsOption as Topics.Topics) : Topics.make(topicsOption as ReadonlyArray<TopicConfig>)
    const scope = yield* Effect.scope
    // Connections are opened lazily, from whatever fiber calls first: with the services of `make`'s caller (the in-process hub).
    const context = yield* Effect.context<never>()
    const clients = new Map<string, Client>()
    const discovered = new Map<string, Endpoint.Endpoint>()
    let lastDiscovery = Number.NEGATIVE_INFINITY

    const clientOf = (endpoint: Endpoint.Endpoint): Effect.Effect<Client> =>
      Effect.suspend(() => {
        const key = Endpoint.format(endpoint)
        const existing = clients.get(key)
        if (existing) return Effect.succeed(existing)
        return Effect.map(
          DseRpcClient.make(BrokerRpcs, { ...clientOptions, endpoint }).pipe(
            Effect.provide(context),
            Effect.provideService(ScopeModule.Scope, scope)
          ),
          (client) => {
            const raced = clients.get(key)
            if (raced) return raced
            clients.set(key, client as Client)
            return client as Client
          }
        )
      })

    const refresh: Effect.Effect<void> = Effect.gen(function* () {
      if (!discover) return
      const now = yield* Clock.currentTimeMillis
      if (now - lastDiscovery < (rediscoverAfterMs ?? 200)) return
      lastDiscovery = now
      const status = yield* Effect.either(discover)
      if (Either.isLeft(status)) return
      for (const w of status.right.workers) {
        if (Topics.parseWorkerName(w.name) === undefined || w.address === undefined) continue
        const parsed = Endpoint.parse(w.address)
        if (Either.isRight(parsed)) discovered.set(w.name, parsed.right)
      }
    })

    const endpointOf = (topic: string, partition: number): Effect.Effect<Endpoint.Endpoint, BrokerUnavailable> =>
      Effect.suspend(() => {
        const fixed = typeof endpoints === "function" ? endpoints(topic, partition) : endpoints
        if (fixed) return Effect.succeed(fixed)
        const name = Topics.workerName(topic, partition)
        const known = discovered.get(name)
        if (known) return Effect.succeed(known)
        return Effect.flatMap(refresh, () => {
          const found = discovered.get(name)
          return found
            ? Effect.succeed(found)
            : Effect.fail(new BrokerUnavailable({ topic, partition, reason: `no broker process has registered ${name}` }))
        })
      })

    /** After a failure to reach (topic, partition), look it up again next time. */
    const forget = (topic: string, partition: number) =>
      Effect.sync(() => {
        if (discover) discovered.delete(Topics.workerName(topic, partition))
      })

    const route = (topic: string, partition: number): BrokerApi => {
      const call =
        (tag: string) =>
        (payload: unknown): Effect.Effect<unknown, unknown> =>
          Effect.flatMap(endpointOf(topic, partition), (endpoint) =>
            Effect.flatMap(clientOf(endpoint), (client) =>
              ((client as unknown as Record<string, (p: unknown) => Effect.Effect<unknown, unknown>>)[tag]!(payload)).pipe(
                Effect.catchAllCause(unavailable(topic, partition, tag))
              )
            )
          ).pipe(Effect.tapErrorTag("BrokerUnavailable" as never, () => forget(topic, partition)))
      const api: Record<string, unknown> = {}
      for (const tag of BrokerRpcs.requests.keys()) api[tag] = call(tag)
      const typed = api as unknown as BrokerApi
      return {
        ...typed,
        BrokerTopics: () => (api.BrokerTopics as (p: unknown) => ReturnType<BrokerApi["BrokerTopics"]>)(undefined),
        BrokerSubscribe: (request) =>
          Stream.unwrap(
            Effect.map(Effect.flatMap(endpointOf(topic, partition), clientOf), (client) =>
              client.BrokerSubscribe(request).pipe(
                Stream.catchAllCause((cause) => Stream.fromEffect(unavailable(topic, partition, "BrokerSubscribe")(cause)))
              )
            )
          ).pipe(
            Stream.tapError((e) => ((e as { readonly _tag?: string })._tag === "BrokerUnavailable" ? forget(topic, partition) : Effect.void))
          ) as ReturnType<
            BrokerApi["BrokerSubscribe"]
          >
      }
    }
    const apis = new Map<string, BrokerApi>()
    return BrokerClient.make({
      topics,
      route: (topic, partition) => {
        const key = Topics.workerName(topic, partition)
        let api = apis.get(key)
        if (!api) {
          api = route(topic, partition)
          apis.set(key, api)
        }
        return api
      }
    })
  })

export const layer = (options: Options): Layer.Layer<BrokerClient.BrokerClient> => Layer.scoped(BrokerClient.BrokerClient, make(options))
