/**
 * The KV over libs/testing's InProcessNetwork: for tests that compose shards and clients in one
 * process (with crashes, lost messages, TestClock). It applies the same DSE semantics as the real
 * transport (`Dse.serve` on the shard, `Dse.call` on the client) and, like a wire, encodes every
 * payload, success and error with the RPC group's Schemas and copies it, so a Schema mistake or an
 * aliased value shows up here too.
 */
import type { InProcessNetwork } from "@dse/testing"
import { EndpointUnavailable, MessageLost } from "@dse/testing"
import type { Rpc } from "@effect/rpc"
import type { Scope } from "effect"
import { Effect, Layer, Schema } from "effect"
import * as KvClient from "./KvClient"
import { ShardUnavailable } from "./KvErrors"
import * as KvHandlers from "./KvHandlers"
import type { KvRpcTag } from "./KvRpcs"
import { KvRpcs } from "./KvRpcs"
import type { KvShardOptions, KvShardService } from "./KvShard"
import { make as makeShard, shardName } from "./KvShard"
import type { CheckpointStore, Dse } from "@dse/core"

/** The endpoint name of shard `index` (its worker name). */
export const endpoint = (index: number): string => shardName(index)

interface Envelope {
  readonly tag: KvRpcTag
  readonly payload: unknown
}

/** A handler's result, encoded (as it would cross the wire). */
type Reply = { readonly ok: unknown } | { readonly err: unknown }

const rpcOf = (tag: string): Rpc.AnyWithProps => {
  const rpc = KvRpcs.requests.get(tag)
  if (!rpc) throw new Error(`unknown KV rpc ${tag}`)
  return rpc as unknown as Rpc.AnyWithProps
}

const copy = <A>(a: A): A => structuredClone(a)

/**
 * Serves `shard` on the network under `endpoint(shard.index)` until the scope closes (or the process
 * dies: the network then fails the calls in flight there, as a broken connection would).
 */
export const serve = (network: InProcessNetwork, shard: KvShardService): Effect.Effect<void, never, Dse.Dse | Scope.Scope> =>
  Effect.gen(function* () {
    const name = endpoint(shard.index)
    const handlers = KvHandlers.make(shard) as unknown as Record<
      string,
      (payload: unknown, options: unknown) => Effect.Effect<unknown, unknown>
    >
    yield* network.serve(name, (envelope: Envelope) => {
      const rpc = rpcOf(envelope.tag)
      const handler = handlers[envelope.tag]!
      // As DseRpcServer does: a failure is a result too. It is returned as a value, so that
      // `Dse.serve` attaches the reply header to it and, for an outside caller, releases it only
      // after it commits; the client turns it back into a failure.
      return Schema.decodeUnknown(rpc.payloadSchema as Schema.Schema<unknown, unknown>)(envelope.payload).pipe(
        Effect.orDie,
        Effect.flatMap((payload) => handler(payload, { clientId: 0, headers: {} })),
        Effect.flatMap((a) => Effect.orDie(Schema.encode(rpc.successSchema as Schema.Schema<unknown, unknown>)(a))),
        Effect.map((encoded): Reply => ({ ok: copy(encoded) })),
        Effect.catchAll((e) =>
          Effect.map(Effect.orDie(Schema.encode(rpc.errorSchema as Schema.Schema<unknown, unknown>)(e)), (encoded): Reply => ({
            err: copy(encoded)
          }))
        )
      )
    })
  })

/** The calls of shard `index` over the network. */
export const connect = (network: InProcessNetwork, index: number): KvClient.ShardApi => {
  const name = endpoint(index)
  const call = (tag: KvRpcTag) => {
    const rpc = rpcOf(tag)
    const encodePayload = Schema.encode(rpc.payloadSchema as Schema.Schema<unknown, unknown>)
    const decodeSuccess = Schema.decodeUnknown(rpc.successSchema as Schema.Schema<unknown, unknown>)
    const decodeError = Schema.decodeUnknown(rpc.errorSchema as Schema.Schema<unknown, unknown>)
    return (payload: unknown) =>
      Effect.flatMap(Effect.orDie(encodePayload(payload)), (encoded) =>
        network.call<Envelope, Reply, never>(name, { tag, payload: copy(encoded) }).pipe(
          Effect.flatMap((reply) =>
            "ok" in reply
              ? Effect.orDie(decodeSuccess(reply.ok))
              : Effect.flatMap(Effect.orDie(decodeError(reply.err)), Effect.fail)
          ),
          Effect.catchAll((e): Effect.Effect<never, unknown> => {
            if (e instanceof MessageLost) return Effect.fail(new ShardUnavailable({ shard: index, reason: e.message }))
            if (e instanceof EndpointUnavailable) return Effect.fail(new ShardUnavailable({ shard: index, reason: e.message }))
            return Effect.fail(e)
          })
        )
      )
  }
  const api: Record<string, unknown> = {}
  for (const tag of KvRpcs.requests.keys()) api[tag] = call(tag as KvRpcTag)
  return api as unknown as KvClient.ShardApi
}

/** A KvClient over `shards` shards served on `network` (endpoints `kv-0`, `kv-1`, ...). */
export const layerClient = (options: { readonly network: InProcessNetwork; readonly shards: number }): Layer.Layer<KvClient.KvClient> =>
  Layer.sync(KvClient.KvClient, () =>
    KvClient.make(Array.from({ length: options.shards }, (_, i) => connect(options.network, i)))
  )

/**
 * The program of one shard process in an InProcessCluster: starts the shard (restoring it after a
 * restart) and serves it. `onStart` receives the live shard (again after every restart).
 */
export const shardProgram = (
  network: InProcessNetwork,
  options: KvShardOptions,
  onStart: (shard: KvShardService) => void = () => {}
): Effect.Effect<void, unknown, Dse.Dse | CheckpointStore | Scope.Scope> =>
  Effect.gen(function* () {
    const shard = yield* makeShard(options)
    onStart(shard)
    yield* serve(network, shard)
  })
