/**
 * The wire types of the workflow service: what an execution looks like from outside (its status
 * and, once complete, its result), the filters of `list`, and the address of a deferred to signal.
 *
 * Payloads and results cross the wire *encoded* with the workflow's own schemas, so one host can
 * serve any workflow; `WorkflowClient` encodes and decodes them with the workflow definition.
 */
import { Schema } from "effect"

/**
 * - `running`: a run is (or is about to be) executing it;
 * - `suspended`: it waits for a deferred, a durable clock or a child workflow;
 * - `complete`: it ended; `outcome` says how and `exit` holds the result.
 */
export const ExecutionStatus = Schema.Literal("running", "suspended", "complete")
export type ExecutionStatus = typeof ExecutionStatus.Type

export const Outcome = Schema.Literal("success", "failure", "interrupted", "defect")
export type Outcome = typeof Outcome.Type

export const ParentRef = Schema.Struct({ workflow: Schema.String, executionId: Schema.String })
export type ParentRef = typeof ParentRef.Type

/** One execution as its host sees it. */
export const ExecutionInfo = Schema.Struct({
  executionId: Schema.String,
  workflow: Schema.String,
  status: ExecutionStatus,
  /** An interrupt was requested (it takes effect when the execution next suspends). */
  interrupted: Schema.Boolean,
  outcome: Schema.optional(Outcome),
  /** The workflow's exit, encoded with its success and error schemas (`Schema.Exit` encoded form). */
  exit: Schema.optional(Schema.Unknown),
  parent: Schema.optional(ParentRef),
  /** Effect-clock milliseconds. */
  createdAt: Schema.Number,
  updatedAt: Schema.Number
})
export type ExecutionInfo = typeof ExecutionInfo.Type

export const ListRequest = Schema.Struct({
  workflow: Schema.optional(Schema.String),
  status: Schema.optional(ExecutionStatus),
  /** At most this many (default 100, at most 1000). */
  limit: Schema.optional(Schema.Int.pipe(Schema.between(1, 1000))),
  /** Only executions whose id sorts after this one (the last id of the previous page). */
  after: Schema.optional(Schema.String)
})
export type ListRequest = typeof ListRequest.Type

export const ListResult = Schema.Struct({
  executions: Schema.Array(ExecutionInfo),
  more: Schema.Boolean
})
export type ListResult = typeof ListResult.Type

/** The deferred a signal completes: a DurableDeferred token, or its parts. */
export const DeferredAddress = Schema.Union(
  Schema.TaggedStruct("Token", { token: Schema.String }),
  Schema.TaggedStruct("Named", { workflow: Schema.String, executionId: Schema.String, deferred: Schema.String })
)
export type DeferredAddress = typeof DeferredAddress.Type

/** An exit whose values are encoded with the deferred's schemas (`Schema.Exit` encoded form). */
export const EncodedExit = Schema.Unknown

export const SignalResult = Schema.Struct({
  /** False when the deferred already had a result (the first result wins). */
  accepted: Schema.Boolean
})
export type SignalResult = typeof SignalResult.Type

export const WorkflowDescriptor = Schema.Struct({ name: Schema.String })
export type WorkflowDescriptor = typeof WorkflowDescriptor.Type
