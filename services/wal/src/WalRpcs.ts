/**
 * The RPC group of a WAL: a Schema for every payload, success and error, and the DSE middleware
 * (every call carries the DSE header both ways, runs in an sthread made from it, and may fail with
 * the speculation errors).
 *
 * Each RPC's error schema lists the WAL errors it can return plus the failures of the log's Action
 * (RolledBack, FutureWorldLine, StateObjectFailed); the middleware adds the header errors
 * (StaleWorldLine, MalformedHeader, ...). `WalTail` is a streaming RPC: one element per entry.
 */
import { DseMiddleware } from "@dse/transport"
import { Rpc, RpcGroup } from "@effect/rpc"
import { Schema } from "effect"
import { AppendError, ScanError, TruncateError, WalFailure } from "./WalErrors"
import * as M from "./WalModel"

export const WalAppend = Rpc.make("WalAppend", {
  payload: M.AppendRequest,
  success: M.AppendResult,
  error: Schema.Union(AppendError, WalFailure)
})

export const WalScan = Rpc.make("WalScan", {
  payload: M.ScanRequest,
  success: M.ScanResult,
  error: Schema.Union(ScanError, WalFailure)
})

export const WalTail = Rpc.make("WalTail", {
  payload: M.TailRequest,
  success: M.WalEntry,
  error: Schema.Union(ScanError, WalFailure),
  stream: true
})

export const WalTruncate = Rpc.make("WalTruncate", {
  payload: M.TruncateRequest,
  success: M.TruncateResult,
  error: Schema.Union(TruncateError, WalFailure)
})

export const WalInfoRpc = Rpc.make("WalInfo", {
  success: M.WalInfo
})

export class WalRpcs extends RpcGroup.make(WalAppend, WalScan, WalTail, WalTruncate, WalInfoRpc).middleware(DseMiddleware) {}

/** The RPCs of the group (with the middleware applied). */
export type WalRpc = RpcGroup.Rpcs<typeof WalRpcs>
export type WalRpcTag = WalRpc["_tag"]
