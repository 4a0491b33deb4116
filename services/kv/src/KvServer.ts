/**
 * Serves a shard's RPC group over @dse/transport (TCP, or the in-process hub): every call runs in
 * an sthread made from its DSE header, and a caller outside the domain gets its reply (success or
 * failure) only after what it depends on has committed.
 *
 *   const shard = yield* KvShard.make({ index: 0 })
 *   const { endpoint } = yield* KvServer.serve(shard, { endpoint: Endpoint.tcp(0) })
 */
import type { Dse } from "@dse/core"
import type { ListenError } from "@dse/transport"
import { DseRpcServer } from "@dse/transport"
import type { Scope } from "effect"
import { Effect, Layer } from "effect"
import * as KvHandlers from "./KvHandlers"
import { KvRpcs } from "./KvRpcs"
import type { KvShardService } from "./KvShard"
import { KvShard } from "./KvShard"

/** Serves `shard` on `options.endpoint` until the scope closes; returns the bound endpoint (the port of `tcp(0)`). */
export const serve = (
  shard: KvShardService,
  options: DseRpcServer.ServerOptions
): Effect.Effect<DseRpcServer.BoundServer, ListenError, Scope.Scope | Dse.Dse> =>
  Effect.flatMap(KvRpcs.toHandlersContext(KvHandlers.make(shard)), (handlers) =>
    Effect.provide(DseRpcServer.make(KvRpcs, options), handlers)
  )

/** Serves the shard in context on `options.endpoint` for the life of the layer. */
export const layer = (options: DseRpcServer.ServerOptions): Layer.Layer<never, ListenError, KvShard | Dse.Dse> =>
  Layer.scopedDiscard(Effect.flatMap(KvShard, (shard) => serve(shard, options)))
