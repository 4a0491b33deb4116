/**
 * The RPC group of a workflow host, with the DSE middleware: every call carries the DSE header both
 * ways and runs in an sthread made from it. A call from outside the domain (no header) gets its
 * reply only once what it depends on has committed: `WorkflowExecute` returns a committed result.
 *
 * Payloads and exits travel encoded with the workflow's (or the deferred's) schemas; the typed
 * `WorkflowClient` encodes and decodes them.
 *
 * Each RPC's error schema lists its own errors plus the failures of the host's Actions
 * (RolledBack, FutureWorldLine, StateObjectFailed); the middleware adds the header errors.
 */
import { FutureWorldLine, RolledBack, StateObjectFailed } from "@dse/core"
import { DseMiddleware } from "@dse/transport"
import { Rpc, RpcGroup } from "@effect/rpc"
import { Schema } from "effect"
import { ExecutionNotFound, HostUnavailable, InvalidRequest, WorkflowNotFound } from "./WorkflowErrors"
import { DeferredAddress, EncodedExit, ExecutionInfo, ListRequest, ListResult, SignalResult } from "./WorkflowModel"

/** What an Action of the host can fail with. */
export const HostFailure = Schema.Union(RolledBack, FutureWorldLine, StateObjectFailed)

export const WorkflowExecute = Rpc.make("WorkflowExecute", {
  payload: {
    workflow: Schema.String,
    /** Encoded with the workflow's payload schema. */
    payload: Schema.Unknown,
    /** Return once the execution exists (its id), without waiting for its result. */
    discard: Schema.optional(Schema.Boolean)
  },
  success: ExecutionInfo,
  error: Schema.Union(WorkflowNotFound, InvalidRequest, HostUnavailable, HostFailure)
})

export const WorkflowStatus = Rpc.make("WorkflowStatus", {
  payload: { executionId: Schema.String },
  success: ExecutionInfo,
  error: Schema.Union(ExecutionNotFound, HostUnavailable, HostFailure)
})

export const WorkflowList = Rpc.make("WorkflowList", {
  payload: ListRequest,
  success: ListResult,
  error: Schema.Union(HostUnavailable, HostFailure)
})

export const WorkflowSignal = Rpc.make("WorkflowSignal", {
  payload: { deferred: DeferredAddress, exit: EncodedExit },
  success: SignalResult,
  error: Schema.Union(InvalidRequest, HostUnavailable, HostFailure)
})

export const WorkflowInterrupt = Rpc.make("WorkflowInterrupt", {
  payload: { executionId: Schema.String },
  success: ExecutionInfo,
  error: Schema.Union(ExecutionNotFound, HostUnavailable, HostFailure)
})

export const WorkflowResume = Rpc.make("WorkflowResume", {
  payload: { executionId: Schema.String },
  success: ExecutionInfo,
  error: Schema.Union(ExecutionNotFound, HostUnavailable, HostFailure)
})

export const HostDescription = Schema.Struct({
  host: Schema.String,
  workflows: Schema.Array(Schema.String),
  stats: Schema.Struct({
    runsStarted: Schema.Number,
    runsInFlight: Schema.Number,
    redrives: Schema.Number,
    restores: Schema.Number,
    swept: Schema.Number,
    clocksArmed: Schema.Number,
    failed: Schema.Boolean,
    /** Each run in flight and the step it is in: where a stuck execution waits. */
    runs: Schema.Array(
      Schema.Struct({ executionId: Schema.String, workflow: Schema.String, step: Schema.String, forMillis: Schema.Number })
    ),
    /** The host StateObject's versions and Action latch. */
    stateObject: Schema.Struct({
      worldLine: Schema.Number,
      version: Schema.Number,
      committed: Schema.Number,
      uncommitted: Schema.Number,
      actionsRunning: Schema.Number,
      exclusivePending: Schema.Boolean
    })
  })
})
export type HostDescription = typeof HostDescription.Type

export const WorkflowDescribe = Rpc.make("WorkflowDescribe", {
  success: HostDescription
})

export class WorkflowRpcs extends RpcGroup.make(
  WorkflowExecute,
  WorkflowStatus,
  WorkflowList,
  WorkflowSignal,
  WorkflowInterrupt,
  WorkflowResume,
  WorkflowDescribe
).middleware(DseMiddleware) {}

export type WorkflowRpc = RpcGroup.Rpcs<typeof WorkflowRpcs>
