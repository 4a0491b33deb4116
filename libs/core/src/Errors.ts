/**
 * The typed failures of speculation. Every one is a Schema.TaggedError, so it crosses the wire
 * with its tag and fields intact and can be matched with `Effect.catchTag`.
 */
import { Schema } from "effect"

/** A speculation was lost: something it depended on did not survive a failure. Retry it. */
export class RolledBack extends Schema.TaggedError<RolledBack>("@dse/RolledBack")("RolledBack", {
  worldLine: Schema.Int,
  reason: Schema.String
}) {
  override get message() {
    return `rolled back (world-line ${this.worldLine}): ${this.reason}`
  }
}

/** A message or sthread of an older world-line reached a party that has moved on. */
export class StaleWorldLine extends Schema.TaggedError<StaleWorldLine>("@dse/StaleWorldLine")(
  "StaleWorldLine",
  { received: Schema.Int, current: Schema.Int }
) {
  override get message() {
    return `stale world-line ${this.received} (current ${this.current})`
  }
}

/** A header named a world-line that the cluster has not reached. */
export class FutureWorldLine extends Schema.TaggedError<FutureWorldLine>("@dse/FutureWorldLine")(
  "FutureWorldLine",
  { received: Schema.Int, current: Schema.Int }
) {
  override get message() {
    return `world-line ${this.received} is ahead of the cluster (current ${this.current})`
  }
}

/** A header or request named a worker the cluster does not know. */
export class UnknownWorker extends Schema.TaggedError<UnknownWorker>("@dse/UnknownWorker")("UnknownWorker", {
  worker: Schema.Union(Schema.Int, Schema.String)
}) {
  override get message() {
    return `unknown worker ${this.worker}`
  }
}

/** Bytes that should have been a DSE header but are not one. */
export class MalformedHeader extends Schema.TaggedError<MalformedHeader>("@dse/MalformedHeader")(
  "MalformedHeader",
  { reason: Schema.String }
) {
  override get message() {
    return `malformed DSE header: ${this.reason}`
  }
}

/** A payload above the configured limit. */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>("@dse/PayloadTooLarge")(
  "PayloadTooLarge",
  { size: Schema.Int, limit: Schema.Int, what: Schema.String }
) {
  override get message() {
    return `${this.what} of ${this.size} bytes exceeds the limit of ${this.limit}`
  }
}

/** The checkpoint store could not read or write. */
export class CheckpointStoreError extends Schema.TaggedError<CheckpointStoreError>("@dse/CheckpointStoreError")(
  "CheckpointStoreError",
  { worker: Schema.String, operation: Schema.String, reason: Schema.String }
) {
  override get message() {
    return `checkpoint store of ${this.worker}: ${this.operation} failed: ${this.reason}`
  }
}

/** A data file that is damaged, or that belongs to something else (another worker, another program). */
export class CorruptCheckpoint extends Schema.TaggedError<CorruptCheckpoint>("@dse/CorruptCheckpoint")(
  "CorruptCheckpoint",
  { worker: Schema.String, path: Schema.String, reason: Schema.String }
) {
  override get message() {
    return `checkpoint file ${this.path} of ${this.worker} is unusable: ${this.reason}`
  }
}

/** A StateObject stopped after a fault it cannot recover from by itself (for example a failed persist). */
export class StateObjectFailed extends Schema.TaggedError<StateObjectFailed>("@dse/StateObjectFailed")(
  "StateObjectFailed",
  { worker: Schema.String, reason: Schema.String }
) {
  override get message() {
    return `state object ${this.worker} has failed: ${this.reason}`
  }
}

/** The coordinator could not be reached or refused a request. */
export class CoordinatorUnavailable extends Schema.TaggedError<CoordinatorUnavailable>(
  "@dse/CoordinatorUnavailable"
)("CoordinatorUnavailable", { reason: Schema.String }) {
  override get message() {
    return `coordinator unavailable: ${this.reason}`
  }
}

/** The errors a speculative call can end with, as one schema for RPC definitions. */
export const SpeculationError = Schema.Union(RolledBack, StaleWorldLine, FutureWorldLine, UnknownWorker, MalformedHeader)
export type SpeculationError = typeof SpeculationError.Type
