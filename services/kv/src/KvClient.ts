/**
 * The KV client: routes every key to its shard (`KvRouting.shardOf`), fans scans out to every
 * shard and merges them, and checks that multi-key requests stay on one shard.
 *
 * It is built from one `ShardApi` per shard (the typed calls of one shard's RPC group): `layer` /
 * `connect` reach shards over @dse/transport (TCP or its in-process hub); `KvInProcess.layerClient`
 * reaches shards served on libs/testing's InProcessNetwork (tests with fault injection).
 *
 * Speculation is ambient: a call made inside an sthread (a workflow step, `Dse.sthread`) is tagged
 * with it and its reply's dependencies join it (fast, speculative); a call made outside any sthread
 * is from outside the DSE domain and is answered only with committed data.
 *
 * Multi-key requests are atomic only within one shard: a batch, or a reservation, whose keys route
 * to different shards fails with CrossShardOperation (nothing is sent). Co-locate keys with a hash
 * tag: `stock:{hotel-7}` and `resv:{hotel-7}:r1` share a shard.
 */
import type { ClusterStatus } from "@dse/core"
import { PayloadTooLarge } from "@dse/core"
import { DseRpcClient, Endpoint as EndpointModule } from "@dse/transport"
import type { Endpoint } from "@dse/transport"
import type { Rpc, RpcClient } from "@effect/rpc"
import { RpcClientError } from "@effect/rpc"
import type { Schema as S, Scope } from "effect"
import { Cause, Context, Effect, Either, Layer, Option, ParseResult, Schema } from "effect"
import { CrossShardOperation, InvalidRequest, SchemaMismatch, ShardUnavailable } from "./KvErrors"
import type {
  BatchOp,
  BatchResult,
  CancelReservationResult,
  CasResult,
  DeleteResult,
  Expected,
  JsonValue,
  KvEntry,
  KvKeyEntry,
  PutResult,
  ReserveRequest,
  ReserveResult,
  ScanResult,
  UpdateOp,
  UpdateResult
} from "./KvModel"
import { shardOf } from "./KvRouting"
import type { KvRpc, KvRpcTag } from "./KvRpcs"
import { KvRpcs } from "./KvRpcs"

// -------------------------------------------------------------------------------------------------
// One shard's calls

type RpcErrorOf<R> = R extends Rpc.Rpc<infer _Tag, infer _Payload, infer _Success, infer _Error, infer _Middleware>
  ? S.Schema.Type<_Error> | _Middleware["failure"]["Type"]
  : never

type ByTag<Tag extends KvRpcTag> = Extract<KvRpc, { readonly _tag: Tag }>

/** What the call `Tag` can fail with: its KV errors, speculation errors, and the transport's failures. */
export type KvCallError<Tag extends KvRpcTag> = RpcErrorOf<ByTag<Tag>> | TransportError

/** A call that did not get through: the shard is down or did not answer in time, or the request is too big. */
export type TransportError = ShardUnavailable | PayloadTooLarge

/** The typed calls of one shard (what an RPC client of `KvRpcs` offers, with transport failures typed). */
export type ShardApi = {
  readonly [R in KvRpc as R["_tag"]]: (payload: Rpc.Payload<R>) => Effect.Effect<Rpc.Success<R>, RpcErrorOf<R> | TransportError>
}

// -------------------------------------------------------------------------------------------------
// The client

export interface WriteOptions {
  /** Makes the write idempotent: a repeat with this key returns the first result and changes nothing. */
  readonly idempotencyKey?: string
}

export interface ReadOptions {
  /** Return only committed data (inside the DSE domain; outside it, reads are always committed). */
  readonly committed?: boolean
}

export interface ScanOptions extends ReadOptions {
  /** At most this many entries (default 100). */
  readonly limit?: number
  /** Only keys after this one (the last key of the previous page). */
  readonly after?: string
}

export interface IncrementOptions extends WriteOptions {
  readonly min?: number
  readonly max?: number
}

export interface KvClientService {
  /** How many shards the KV has. */
  readonly shards: number
  /** The shard of a key. */
  readonly shardOf: (key: string) => number
  /** The raw calls of shard `index`. */
  readonly shard: (index: number) => ShardApi
  readonly get: (key: string, options?: ReadOptions) => Effect.Effect<Option.Option<KvEntry>, KvCallError<"KvGet">>
  readonly put: (key: string, value: JsonValue, options?: WriteOptions) => Effect.Effect<PutResult, KvCallError<"KvPut">>
  readonly delete: (key: string, options?: WriteOptions) => Effect.Effect<DeleteResult, KvCallError<"KvDelete">>
  /** Sets `value` (or deletes, when `value` is undefined) if the current value is as `expected`. */
  readonly compareAndSet: (
    key: string,
    expected: Expected,
    value: JsonValue | undefined,
    options?: WriteOptions
  ) => Effect.Effect<CasResult, KvCallError<"KvCompareAndSet">>
  readonly update: (key: string, op: UpdateOp, options?: WriteOptions) => Effect.Effect<UpdateResult, KvCallError<"KvUpdate">>
  /** Adds `delta` to the number at `key` (or its `field`), within [min, max]. */
  readonly increment: (
    key: string,
    field: string | undefined,
    delta: number,
    options?: IncrementOptions
  ) => Effect.Effect<UpdateResult, KvCallError<"KvUpdate">>
  /** Takes `amount` from `key.field` and records the reservation under `reservationKey`, in one Action. */
  readonly reserve: (request: ReserveRequest) => Effect.Effect<ReserveResult, KvCallError<"KvReserve"> | CrossShardOperation>
  /** Gives a reservation back (idempotent: the saga's compensation). */
  readonly cancelReservation: (
    reservationKey: string,
    options?: WriteOptions
  ) => Effect.Effect<CancelReservationResult, KvCallError<"KvCancelReservation">>
  /** Keys with `prefix`, in key order, over every shard. */
  readonly scan: (prefix: string, options?: ScanOptions) => Effect.Effect<ScanResult, KvCallError<"KvScan">>
  /** Writes applied atomically (all keys on one shard). */
  readonly batch: (
    ops: ReadonlyArray<BatchOp>,
    options?: WriteOptions
  ) => Effect.Effect<BatchResult, KvCallError<"KvBatch"> | CrossShardOperation>
}

export class KvClient extends Context.Tag("@dse/kv/KvClient")<KvClient, KvClientService>() {}

const idem = (options: WriteOptions | undefined) =>
  options?.idempotencyKey !== undefined ? { idempotencyKey: options.idempotencyKey } : {}

const compareKeys = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/** A client over one ShardApi per shard (index = shard number). */
export const make = (shards: ReadonlyArray<ShardApi>): KvClientService => {
  if (shards.length === 0) throw new RangeError("a KV has at least one shard")
  const n = shards.length
  const route = (key: string) => shardOf(key, n)
  const on = (key: string) => shards[route(key)]!

  const scan: KvClientService["scan"] = (prefix, options = {}) => {
    const payload = {
      prefix,
      ...(options.limit !== undefined ? { limit: options.limit } : {}),
      ...(options.after !== undefined ? { after: options.after } : {}),
      ...(options.committed !== undefined ? { committed: options.committed } : {})
    }
    if (n === 1) return shards[0]!.KvScan(payload)
    const limit = options.limit ?? 100
    return Effect.map(Effect.forEach(shards, (s) => s.KvScan(payload), { concurrency: "unbounded" }), (pages) => {
      const all = pages.flatMap((p) => p.entries).sort((a, b) => compareKeys(a.key, b.key))
      return { entries: all.slice(0, limit), more: all.length > limit || pages.some((p) => p.more) }
    })
  }

  return {
    shards: n,
    shardOf: route,
    shard: (index) => {
      const s = shards[index]
      if (!s) throw new RangeError(`no shard ${index} (the KV has ${n})`)
      return s
    },
    get: (key, options = {}) =>
      on(key).KvGet({ key, ...(options.committed !== undefined ? { committed: options.committed } : {}) }),
    put: (key, value, options) => on(key).KvPut({ key, value, ...idem(options) }),
    delete: (key, options) => on(key).KvDelete({ key, ...idem(options) }),
    compareAndSet: (key, expected, value, options) =>
      on(key).KvCompareAndSet({ key, expected, ...(value !== undefined ? { value } : {}), ...idem(options) }),
    update: (key, op, options) => on(key).KvUpdate({ key, op, ...idem(options) }),
    increment: (key, field, delta, options = {}) =>
      on(key).KvUpdate({
        key,
        op: {
          _tag: "Increment",
          delta,
          ...(field !== undefined ? { field } : {}),
          ...(options.min !== undefined ? { min: options.min } : {}),
          ...(options.max !== undefined ? { max: options.max } : {})
        },
        ...idem(options)
      }),
    reserve: (request) => {
      const a = route(request.key)
      const b = route(request.reservationKey)
      if (a !== b) return Effect.fail(new CrossShardOperation({ operation: "reserve", shards: [a, b] }))
      return shards[a]!.KvReserve(request)
    },
    cancelReservation: (reservationKey, options) => on(reservationKey).KvCancelReservation({ reservationKey, ...idem(options) }),
    scan,
    batch: (ops, options) => {
      if (ops.length === 0) return Effect.fail(new InvalidRequest({ reason: "a batch holds at least one write" }))
      const targets = Array.from(new Set(ops.map((o) => route(o.key)))).sort((x, y) => x - y)
      if (targets.length > 1) return Effect.fail(new CrossShardOperation({ operation: "batch", shards: targets }))
      return shards[targets[0]!]!.KvBatch({ ops, ...idem(options) })
    }
  }
}

// -------------------------------------------------------------------------------------------------
// Over @dse/transport

export interface KvClientOptions extends Omit<DseRpcClient.ClientOptions, "endpoint"> {
  /** The endpoint of every shard, in shard order (index i serves worker `kv-i`). */
  readonly shards: ReadonlyArray<Endpoint.Endpoint>
}

/**
 * The calls of one shard over a DSE RPC client. Transport failures (the shard is down, the call
 * timed out: it may or may not have run) become ShardUnavailable; a request above the transport's
 * frame limit becomes PayloadTooLarge.
 */
export const fromRpcClient = (
  client: RpcClient.RpcClient<KvRpc, RpcClientError.RpcClientError>,
  index: number
): ShardApi => {
  const api: Record<string, (payload: unknown) => Effect.Effect<unknown, unknown>> = {}
  const methods = client as unknown as Record<string, (payload: unknown) => Effect.Effect<unknown, unknown>>
  for (const tag of KvRpcs.requests.keys()) {
    const call = methods[tag]!
    api[tag] = (payload) =>
      Effect.catchAllCause(call(payload), (cause) => {
        const failure = Cause.failureOption(cause)
        if (Option.isSome(failure) && failure.value instanceof RpcClientError.RpcClientError) {
          const e = failure.value
          return Effect.fail(e.cause instanceof PayloadTooLarge ? e.cause : new ShardUnavailable({ shard: index, reason: e.message }))
        }
        // A server that shuts down interrupts its calls in flight, and @effect/rpc hands that
        // interruption to the caller's fiber. For the caller it is a call that may or may not have
        // run, like a broken connection. (A caller that is itself interrupted never gets here.)
        if (Cause.isInterruptedOnly(cause)) {
          return Effect.fail(new ShardUnavailable({ shard: index, reason: `the shard stopped while handling ${tag}` }))
        }
        return Effect.failCause(cause)
      })
  }
  return api as unknown as ShardApi
}

/** Connects to every shard (until the scope closes). */
export const connect = (options: KvClientOptions): Effect.Effect<KvClientService, never, Scope.Scope> => {
  const { shards, ...clientOptions } = options
  return Effect.map(
    Effect.forEach(shards, (endpoint, index) =>
      Effect.map(DseRpcClient.make(KvRpcs, { ...clientOptions, endpoint }), (client) => fromRpcClient(client, index))
    ),
    make
  )
}

/**
 * The shard endpoints of a running cluster, from the coordinator's status (each shard process
 * registers worker `kv-<i>` with the address it listens on): for clients that know only the
 * coordinator. Fails (with the reason) when a shard of 0..n-1 is missing or has no address.
 */
export const endpointsFromStatus = (status: ClusterStatus): Either.Either<ReadonlyArray<Endpoint.Endpoint>, string> => {
  const byIndex = new Map<number, string | undefined>()
  for (const worker of status.workers) {
    const match = /^kv-(\d+)$/.exec(worker.name)
    if (match) byIndex.set(Number(match[1]), worker.address)
  }
  if (byIndex.size === 0) return Either.left("the cluster has no KV shard (no worker named kv-<n>)")
  const endpoints: Array<Endpoint.Endpoint> = []
  for (let i = 0; i < byIndex.size; i++) {
    if (!byIndex.has(i)) return Either.left(`shard kv-${i} is missing (the cluster has ${byIndex.size} kv workers)`)
    const address = byIndex.get(i)
    if (address === undefined) return Either.left(`shard kv-${i} registered no address`)
    const endpoint = EndpointModule.parse(address)
    if (Either.isLeft(endpoint)) return Either.left(`shard kv-${i}: ${endpoint.left}`)
    endpoints.push(endpoint.right)
  }
  return Either.right(endpoints)
}

/** The client over the shards at `options.shards`. */
export const layer = (options: KvClientOptions): Layer.Layer<KvClient> => Layer.scoped(KvClient, connect(options))

// -------------------------------------------------------------------------------------------------
// Values validated by a Schema

/** Typed access to the values under keys that all hold the same Schema. */
export interface TypedKv<A> {
  readonly get: (key: string, options?: ReadOptions) => Effect.Effect<Option.Option<{ readonly value: A; readonly revision: number }>, KvCallError<"KvGet"> | SchemaMismatch>
  readonly put: (key: string, value: A, options?: WriteOptions) => Effect.Effect<PutResult, KvCallError<"KvPut"> | SchemaMismatch>
  /** CAS against a revision (0: absent) or absence; the new value is encoded with the schema. */
  readonly compareAndSet: (
    key: string,
    expectedRevision: number,
    value: A,
    options?: WriteOptions
  ) => Effect.Effect<CasResult, KvCallError<"KvCompareAndSet"> | SchemaMismatch>
  readonly scan: (
    prefix: string,
    options?: ScanOptions
  ) => Effect.Effect<{ readonly entries: ReadonlyArray<{ readonly key: string; readonly value: A; readonly revision: number }>; readonly more: boolean }, KvCallError<"KvScan"> | SchemaMismatch>
}

/**
 * Typed access: values are encoded with `schema` before they are written (its encoded side must be
 * JSON) and decoded when they are read; a value that does not match fails with SchemaMismatch.
 */
export const typed = <A, I extends JsonValue>(client: KvClientService, schema: Schema.Schema<A, I>): TypedKv<A> => {
  const encode = (key: string, value: A) =>
    Effect.mapError(Schema.encode(schema)(value), (e) =>
      new SchemaMismatch({ key, direction: "encode", issue: ParseResult.TreeFormatter.formatErrorSync(e) })
    )
  const decode = (key: string, value: JsonValue) =>
    Effect.mapError(Schema.decodeUnknown(schema)(value), (e) =>
      new SchemaMismatch({ key, direction: "decode", issue: ParseResult.TreeFormatter.formatErrorSync(e) })
    )
  return {
    get: (key, options) =>
      Effect.flatMap(client.get(key, options), (entry) =>
        Option.isNone(entry)
          ? Effect.succeedNone
          : Effect.map(decode(key, entry.value.value), (value) => Option.some({ value, revision: entry.value.revision }))
      ),
    put: (key, value, options) => Effect.flatMap(encode(key, value), (encoded) => client.put(key, encoded, options)),
    compareAndSet: (key, expectedRevision, value, options) =>
      Effect.flatMap(encode(key, value), (encoded) =>
        client.compareAndSet(key, { _tag: "Revision", revision: expectedRevision }, encoded, options)
      ),
    scan: (prefix, options) =>
      Effect.flatMap(client.scan(prefix, options), (page) =>
        Effect.map(
          Effect.forEach(page.entries, (e: KvKeyEntry) => Effect.map(decode(e.key, e.value), (value) => ({ key: e.key, value, revision: e.revision }))),
          (entries) => ({ entries, more: page.more })
        )
      )
  }
}
