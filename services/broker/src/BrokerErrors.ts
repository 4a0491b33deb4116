/**
 * The typed errors of the broker. Every one is a Schema.TaggedError, so it crosses the wire with
 * its tag and fields and can be matched with `Effect.catchTag`.
 *
 * Errors that a partition decides on its (possibly speculative) state — SequenceGap, Fenced,
 * AlreadyConsumed, InvalidStep, OffsetOutOfRange — are released only after the state they were
 * decided on has committed (the runtime carries dependencies on replies, not on failures), so a
 * caller never acts on a refusal that a rollback takes back.
 */
import { FutureWorldLine, RolledBack, StateObjectFailed } from "@dse/core"
import { Schema } from "effect"

/** A topic that the cluster's configuration does not name. */
export class UnknownTopic extends Schema.TaggedError<UnknownTopic>("@dse/broker/UnknownTopic")("UnknownTopic", {
  topic: Schema.String
}) {
  override get message() {
    return `unknown topic ${JSON.stringify(this.topic)}`
  }
}

/** A partition number outside the topic's range. */
export class UnknownPartition extends Schema.TaggedError<UnknownPartition>("@dse/broker/UnknownPartition")(
  "UnknownPartition",
  { topic: Schema.String, partition: Schema.Number, partitions: Schema.Int }
) {
  override get message() {
    return `topic ${this.topic} has ${this.partitions} partitions, there is no partition ${this.partition}`
  }
}

/** The partition exists but this broker process does not host it (ask another one). */
export class NotHosted extends Schema.TaggedError<NotHosted>("@dse/broker/NotHosted")("NotHosted", {
  topic: Schema.String,
  partition: Schema.Int
}) {
  override get message() {
    return `partition ${this.topic}/${this.partition} is not hosted by this broker process`
  }
}

/** A malformed request: a bad name, a missing field, a wrong shape. Nothing was changed. */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>("@dse/broker/InvalidRequest")("InvalidRequest", {
  reason: Schema.String
}) {
  override get message() {
    return `invalid request: ${this.reason}`
  }
}

/** An event (or a batch) above the configured size limits. Nothing was changed. */
export class EventTooLarge extends Schema.TaggedError<EventTooLarge>("@dse/broker/EventTooLarge")("EventTooLarge", {
  what: Schema.String,
  size: Schema.Int,
  limit: Schema.Int
}) {
  override get message() {
    return `${this.what} of ${this.size} bytes exceeds the limit of ${this.limit}`
  }
}

/**
 * Producer dedup: a batch whose sequence number is neither the next one (`expected`) nor an
 * earlier one (a duplicate, answered with the first result). An earlier batch was lost: resend from
 * `expected`.
 */
export class SequenceGap extends Schema.TaggedError<SequenceGap>("@dse/broker/SequenceGap")("SequenceGap", {
  producerId: Schema.String,
  expected: Schema.Int,
  received: Schema.Int
}) {
  override get message() {
    return `producer ${this.producerId}: sequence ${this.received} received, ${this.expected} expected`
  }
}

/** A processor step or offset commit from an incarnation that a newer registration fenced out. */
export class Fenced extends Schema.TaggedError<Fenced>("@dse/broker/Fenced")("Fenced", {
  processor: Schema.String,
  incarnation: Schema.Int,
  /** The partition's current incarnation of the processor (0: never registered). */
  current: Schema.Int
}) {
  override get message() {
    return this.current === 0
      ? `processor ${this.processor} is not registered on this partition`
      : `processor ${this.processor} incarnation ${this.incarnation} is fenced (current ${this.current})`
  }
}

/** A step that consumes events its processor has already consumed (in another step). */
export class AlreadyConsumed extends Schema.TaggedError<AlreadyConsumed>("@dse/broker/AlreadyConsumed")(
  "AlreadyConsumed",
  { processor: Schema.String, from: Schema.Int, offset: Schema.Int }
) {
  override get message() {
    return `processor ${this.processor} already consumed up to offset ${this.offset}; the step starts at ${this.from}`
  }
}

/** A step that does not fit the partition: it skips events, reads past the end, names a bad output. */
export class InvalidStep extends Schema.TaggedError<InvalidStep>("@dse/broker/InvalidStep")("InvalidStep", {
  processor: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `invalid step of ${this.processor}: ${this.reason}`
  }
}

/** A read at an offset the partition does not hold (truncated by retention, or past the end). */
export class OffsetOutOfRange extends Schema.TaggedError<OffsetOutOfRange>("@dse/broker/OffsetOutOfRange")(
  "OffsetOutOfRange",
  { offset: Schema.Int, start: Schema.Int, end: Schema.Int }
) {
  override get message() {
    return `offset ${this.offset} is outside the partition's range [${this.start}, ${this.end}]`
  }
}

/** The client could not reach the partition (its process is down, the connection broke, a message was lost). */
export class BrokerUnavailable extends Schema.TaggedError<BrokerUnavailable>("@dse/broker/BrokerUnavailable")(
  "BrokerUnavailable",
  { topic: Schema.String, partition: Schema.Int, reason: Schema.String }
) {
  override get message() {
    return `partition ${this.topic}/${this.partition} unavailable: ${this.reason}`
  }
}

/** What a partition's Action can fail with (from @dse/core). */
export const ActionFailure = Schema.Union(RolledBack, FutureWorldLine, StateObjectFailed)
export type ActionFailure = typeof ActionFailure.Type

export type RoutingError = UnknownTopic | UnknownPartition | NotHosted
export const RoutingError = Schema.Union(UnknownTopic, UnknownPartition, NotHosted)

/** Every broker error, for encoding and decoding. */
export const BrokerError = Schema.Union(
  UnknownTopic,
  UnknownPartition,
  NotHosted,
  InvalidRequest,
  EventTooLarge,
  SequenceGap,
  Fenced,
  AlreadyConsumed,
  InvalidStep,
  OffsetOutOfRange,
  BrokerUnavailable
)
export type BrokerError = typeof BrokerError.Type
