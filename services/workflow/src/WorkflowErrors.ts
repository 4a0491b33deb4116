/**
 * The typed errors of the workflow service. The speculation errors (RolledBack, StaleWorldLine,
 * ...) come from @dse/core and the transport middleware.
 */
import { Schema } from "effect"

/** The host does not run a workflow of this name. */
export class WorkflowNotFound extends Schema.TaggedError<WorkflowNotFound>("@dse/workflow/WorkflowNotFound")(
  "WorkflowNotFound",
  { workflow: Schema.String, known: Schema.Array(Schema.String) }
) {
  override get message() {
    return `no workflow named ${JSON.stringify(this.workflow)} is registered (known: ${this.known.join(", ") || "none"})`
  }
}

/** No execution with this id exists on the host. */
export class ExecutionNotFound extends Schema.TaggedError<ExecutionNotFound>("@dse/workflow/ExecutionNotFound")(
  "ExecutionNotFound",
  { executionId: Schema.String }
) {
  override get message() {
    return `no execution ${this.executionId}`
  }
}

/** A payload, exit or token that does not decode with the workflow's schemas. */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>("@dse/workflow/InvalidRequest")(
  "InvalidRequest",
  { reason: Schema.String }
) {
  override get message() {
    return `invalid request: ${this.reason}`
  }
}

/**
 * The host cannot serve the request right now: it is shutting down or restarting, or its
 * StateObject failed. The request may be retried (every request is idempotent).
 */
export class HostUnavailable extends Schema.TaggedError<HostUnavailable>("@dse/workflow/HostUnavailable")(
  "HostUnavailable",
  { host: Schema.String, reason: Schema.String }
) {
  override get message() {
    return `workflow host ${this.host} unavailable: ${this.reason}`
  }
}

export const WorkflowError = Schema.Union(WorkflowNotFound, ExecutionNotFound, InvalidRequest, HostUnavailable)
export type WorkflowError = typeof WorkflowError.Type
