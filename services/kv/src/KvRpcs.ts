/**
 * The RPC group of a KV shard: a Schema for every payload, success and error, and the DSE
 * middleware (every call carries the DSE header both ways, runs in an sthread made from it, and may
 * fail with the speculation errors).
 *
 * Each RPC's error schema lists the KV errors it can return plus the failures of a shard's Action
 * (RolledBack, FutureWorldLine, StateObjectFailed); the middleware adds the header errors
 * (StaleWorldLine, MalformedHeader, ...).
 */
import { DseMiddleware } from "@dse/transport"
import { Rpc, RpcGroup } from "@effect/rpc"
import { Schema } from "effect"
import {
  IdempotencyError,
  InsufficientInventory,
  InvalidRequest,
  KeyError,
  OutOfRange,
  ReservationCancelled,
  ReservationConflict,
  ShardFailure,
  ValueError,
  WrongType
} from "./KvErrors"
import * as M from "./KvModel"

export const KvGet = Rpc.make("KvGet", {
  payload: M.GetRequest,
  success: M.GetResult,
  error: Schema.Union(KeyError, ShardFailure)
})

export const KvPut = Rpc.make("KvPut", {
  payload: M.PutRequest,
  success: M.PutResult,
  error: Schema.Union(KeyError, ValueError, IdempotencyError, ShardFailure)
})

export const KvDelete = Rpc.make("KvDelete", {
  payload: M.DeleteRequest,
  success: M.DeleteResult,
  error: Schema.Union(KeyError, IdempotencyError, ShardFailure)
})

export const KvCompareAndSet = Rpc.make("KvCompareAndSet", {
  payload: M.CasRequest,
  success: M.CasResult,
  error: Schema.Union(KeyError, ValueError, IdempotencyError, ShardFailure)
})

export const KvUpdate = Rpc.make("KvUpdate", {
  payload: M.UpdateRequest,
  success: M.UpdateResult,
  error: Schema.Union(KeyError, ValueError, WrongType, OutOfRange, IdempotencyError, ShardFailure)
})

export const KvReserve = Rpc.make("KvReserve", {
  payload: M.ReserveRequest,
  success: M.ReserveResult,
  error: Schema.Union(
    KeyError,
    ValueError,
    WrongType,
    InsufficientInventory,
    ReservationConflict,
    ReservationCancelled,
    IdempotencyError,
    ShardFailure
  )
})

export const KvCancelReservation = Rpc.make("KvCancelReservation", {
  payload: M.CancelReservationRequest,
  success: M.CancelReservationResult,
  error: Schema.Union(KeyError, ValueError, WrongType, ReservationConflict, IdempotencyError, ShardFailure)
})

export const KvScan = Rpc.make("KvScan", {
  payload: M.ScanRequest,
  success: M.ScanResult,
  error: Schema.Union(KeyError, InvalidRequest, ShardFailure)
})

export const KvBatch = Rpc.make("KvBatch", {
  payload: M.BatchRequest,
  success: M.BatchResult,
  error: Schema.Union(KeyError, ValueError, IdempotencyError, ShardFailure)
})

export class KvRpcs extends RpcGroup.make(
  KvGet,
  KvPut,
  KvDelete,
  KvCompareAndSet,
  KvUpdate,
  KvReserve,
  KvCancelReservation,
  KvScan,
  KvBatch
).middleware(DseMiddleware) {}

/** The RPCs of the group (with the middleware applied). */
export type KvRpc = RpcGroup.Rpcs<typeof KvRpcs>
export type KvRpcTag = KvRpc["_tag"]
