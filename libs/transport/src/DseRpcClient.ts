/**
 * A client of an RpcGroup that uses `DseMiddleware` (SPEC 3.3): speculation is ambient.
 *
 * - A call made inside an sthread (`Dse.sthread`, a workflow step, a handler) carries the
 *   sthread's header, and the reply's header (every chunk's, and the Exit's, success or failure)
 *   is absorbed into that sthread before the caller resumes.
 * - A call made outside any sthread, or from an sthread still in world-line 0, carries no header:
 *   it is from outside the domain, and the server releases the reply only after it commits.
 *
 * Transport failures are typed `RpcClientError`s: while the peer is down every call fails at once
 * (the client reconnects in the background on `reconnect`, every 250 ms by default, and the first
 * call after the peer is back succeeds); a call without a reply within `timeout` (30 s by default,
 * `RpcTransport.withTimeout` to change it around some calls) fails and is interrupted on the
 * server. Either way the call may or may not have run: retry with an idempotency key.
 *
 *   const kv = yield* DseRpcClient.make(KvRpcs, { endpoint: Endpoint.tcp(7001) })
 *   yield* Dse.sthread(kv.KvPut({ key, value, requestId }))
 */
import type { Rpc, RpcClient, RpcClientError, RpcGroup } from "@effect/rpc"
import type { Scope } from "effect"
import { Effect } from "effect"
import * as ClientHeaders from "./internal/clientHeaders"
import type { ClientOptions } from "./RpcTransport"
import * as RpcTransport from "./RpcTransport"

export type { ClientOptions } from "./RpcTransport"

/** A DSE client of `group` at `options.endpoint`, connected until the scope closes. */
export const make = <Rpcs extends Rpc.Any>(
  group: RpcGroup.RpcGroup<Rpcs>,
  options: ClientOptions
): Effect.Effect<RpcClient.RpcClient<Rpcs, RpcClientError.RpcClientError>, never, Scope.Scope | Rpc.MiddlewareClient<Rpcs>> =>
  Effect.flatMap(RpcTransport.clientProtocol(options), (protocol) =>
    RpcTransport.clientOf(group, ClientHeaders.wrap(protocol), options)
  )

/** Runs `effect` with calls timing out after `timeout` instead of the client's default. */
export const withTimeout = RpcTransport.withTimeout
