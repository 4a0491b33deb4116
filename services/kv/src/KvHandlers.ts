/**
 * The handlers of the KV RPC group: each one calls the shard's operation. The transport runs every
 * handler in an sthread made from the incoming DSE header (`Dse.serve`), so the operations' Actions
 * join the caller's speculation, and a caller outside the domain gets its reply after commit.
 */
import type { Layer } from "effect"
import { Effect } from "effect"
import type { Rpc } from "@effect/rpc"
import { KvRpcs } from "./KvRpcs"
import type { KvShardService } from "./KvShard"
import { KvShard } from "./KvShard"

/** The handlers of one shard, as a plain object (what `KvRpcs.toLayer` and the in-process adapter take). */
export const make = (shard: KvShardService) =>
  KvRpcs.of({
    KvGet: (payload) => shard.get(payload),
    KvPut: (payload) => shard.put(payload),
    KvDelete: (payload) => shard.delete(payload),
    KvCompareAndSet: (payload) => shard.compareAndSet(payload),
    KvUpdate: (payload) => shard.update(payload),
    KvReserve: (payload) => shard.reserve(payload),
    KvCancelReservation: (payload) => shard.cancelReservation(payload),
    KvScan: (payload) => shard.scan(payload),
    KvBatch: (payload) => shard.batch(payload)
  })

export type KvHandlers = ReturnType<typeof make>

/** The handlers of the shard in context, for `DseRpcServer.layer(KvRpcs, ...)`. */
export const layer: Layer.Layer<Rpc.ToHandler<import("./KvRpcs").KvRpc>, never, KvShard> = KvRpcs.toLayer(
  Effect.map(KvShard, make)
)
