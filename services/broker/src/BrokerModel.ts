/**
 * The wire types of the broker: a Schema for every payload and result of its RPC group.
 *
 * Values (event values, processor state) are JSON values; the broker checks them (JSON-ness,
 * nesting depth, size) before it writes anything.
 */
import { Schema } from "effect"

/** A topic name: letters, digits, `.`, `_`, `-`; 1..100 characters. */
export const TopicName = Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9._-]{1,100}$/))

/** A consumer group / processor name: letters, digits, `.`, `_`, `-`; 1..100 characters. */
export const GroupName = Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9._-]{1,100}$/))

export const Offset = Schema.Int.pipe(Schema.nonNegative())
export const PartitionIndex = Schema.Int.pipe(Schema.nonNegative())

export const TopicConfig = Schema.Struct({
  name: TopicName,
  partitions: Schema.Int.pipe(Schema.between(1, 1024))
})
export type TopicConfig = typeof TopicConfig.Type

/** Speculative: events at once, tagged with their dependency. Committed: only events whose version committed. */
export const DeliveryMode = Schema.Literal("speculative", "committed")
export type DeliveryMode = typeof DeliveryMode.Type

// -------------------------------------------------------------------------------------------------
// Events

/** An event as a producer gives it. */
export const EventInput = Schema.Struct({
  key: Schema.optional(Schema.String),
  value: Schema.Unknown,
  /** Milliseconds since the epoch; the broker's clock when absent. */
  timestamp: Schema.optional(Schema.Number)
})
export type EventInput = typeof EventInput.Type

/** An event as the partition holds it. */
export const Event = Schema.Struct({
  offset: Offset,
  key: Schema.optional(Schema.String),
  value: Schema.Unknown,
  timestamp: Schema.Number,
  /**
   * The partition version the event was appended in: the event depends on (batch.worker, version)
   * in batch.worldLine (nothing to wait for when version <= batch.committed).
   */
  version: Schema.Int
})
export type Event = typeof Event.Type

/** A run of consecutive events of one partition. */
export const EventBatch = Schema.Struct({
  topic: TopicName,
  partition: PartitionIndex,
  /** The partition's worker id (what event dependencies name). */
  worker: Schema.Int,
  /** The world-line the events were read in. */
  worldLine: Schema.Int,
  /** The partition's committed version when the batch was read. */
  committed: Schema.Int,
  events: Schema.Array(Event),
  /** The offset to read next. */
  next: Offset,
  /** The partition's first retained offset and its end (next offset to be written). */
  start: Offset,
  end: Offset
})
export type EventBatch = typeof EventBatch.Type

// -------------------------------------------------------------------------------------------------
// Produce

export const ProduceRequest = Schema.Struct({
  topic: TopicName,
  partition: PartitionIndex,
  /** Producer dedup: with a producer id, `seq` numbers its batches 1, 2, 3, ... (per partition). */
  producerId: Schema.optional(Schema.String),
  seq: Schema.optional(Schema.Int.pipe(Schema.positive())),
  events: Schema.Array(EventInput)
})
export type ProduceRequest = typeof ProduceRequest.Type

export const ProduceResult = Schema.Struct({
  topic: TopicName,
  partition: PartitionIndex,
  /** The offsets of the batch's events (empty for a duplicate older than the producer's last batch). */
  offsets: Schema.Array(Offset),
  /** True when the batch was a repeat: nothing was appended. */
  duplicate: Schema.Boolean
})
export type ProduceResult = typeof ProduceResult.Type

/** Internal: a partition forwards the outputs of processor steps to their target partition. */
export const ForwardRequest = Schema.Struct({
  topic: TopicName,
  partition: PartitionIndex,
  /** The source partition's worker name. */
  source: Schema.String,
  /** Consecutive sequence numbers of the source's outbox for this target, ascending. */
  batches: Schema.Array(Schema.Struct({ seq: Schema.Int.pipe(Schema.positive()), events: Schema.Array(EventInput) }))
})
export type ForwardRequest = typeof ForwardRequest.Type

export const ForwardResult = Schema.Struct({
  /** Batches appended (the others were duplicates). */
  appended: Schema.Int,
  /** The highest sequence number the target holds from this source. */
  last: Schema.Int
})
export type ForwardResult = typeof ForwardResult.Type

// -------------------------------------------------------------------------------------------------
// Read

export const FetchRequest = Schema.Struct({
  topic: TopicName,
  partition: PartitionIndex,
  from: Offset,
  mode: DeliveryMode,
  /** At most this many events (default and cap: the partition's limits). */
  maxEvents: Schema.optional(Schema.Int.pipe(Schema.positive())),
  /** Wait up to this long for events (long poll); default 0. */
  waitMs: Schema.optional(Schema.Int.pipe(Schema.nonNegative())),
  /**
   * Speculative reads: the world-line of the events read so far. A partition that has moved to
   * another world-line fails the read with RolledBack: what was read may be gone.
   */
  worldLine: Schema.optional(Schema.Int)
})
export type FetchRequest = typeof FetchRequest.Type

export const SubscribeRequest = Schema.Struct({
  topic: TopicName,
  partition: PartitionIndex,
  from: Offset,
  mode: DeliveryMode,
  maxEvents: Schema.optional(Schema.Int.pipe(Schema.positive())),
  worldLine: Schema.optional(Schema.Int)
})
export type SubscribeRequest = typeof SubscribeRequest.Type

// -------------------------------------------------------------------------------------------------
// Groups and processors

export const StartFrom = Schema.Literal("earliest", "latest")
export type StartFrom = typeof StartFrom.Type

export const RegisterRequest = Schema.Struct({
  topic: TopicName,
  partition: PartitionIndex,
  processor: GroupName,
  /** Where a new group starts (default earliest). */
  startFrom: Schema.optional(StartFrom)
})
export type RegisterRequest = typeof RegisterRequest.Type

export const RegisterResult = Schema.Struct({
  /** The new incarnation: it fences out every older one. */
  incarnation: Schema.Int,
  /** The group's offset: the next event to consume. */
  offset: Offset,
  /** The processor's state on this partition. */
  state: Schema.Array(Schema.Tuple(Schema.String, Schema.Unknown)),
  worker: Schema.Int,
  /** The partition's world-line at registration: subscribe speculatively in it. */
  worldLine: Schema.Int
})
export type RegisterResult = typeof RegisterResult.Type

export const StepOutput = Schema.Struct({
  topic: TopicName,
  partition: PartitionIndex,
  key: Schema.optional(Schema.String),
  value: Schema.Unknown
})
export type StepOutput = typeof StepOutput.Type

export const StateUpdate = Schema.Union(
  Schema.TaggedStruct("Set", { key: Schema.String, value: Schema.Unknown }),
  Schema.TaggedStruct("Delete", { key: Schema.String })
)
export type StateUpdate = typeof StateUpdate.Type

export const StepRequest = Schema.Struct({
  topic: TopicName,
  partition: PartitionIndex,
  processor: GroupName,
  incarnation: Schema.Int.pipe(Schema.positive()),
  /** Chosen by the processor; a repeat of the last step (same id and range) is answered again, not applied twice. */
  stepId: Schema.String,
  /** The consumed events: offsets [from, to). `from` must be the group's offset. */
  from: Offset,
  to: Offset,
  outputs: Schema.Array(StepOutput),
  state: Schema.Array(StateUpdate)
})
export type StepRequest = typeof StepRequest.Type

export const StepResult = Schema.Struct({
  /** The group's offset after the step. */
  offset: Offset,
  duplicate: Schema.Boolean,
  outputs: Schema.Int
})
export type StepResult = typeof StepResult.Type

export const CommitOffsetRequest = Schema.Struct({
  topic: TopicName,
  partition: PartitionIndex,
  group: GroupName,
  offset: Offset,
  /** Required when the group is a registered processor: the caller's incarnation. */
  incarnation: Schema.optional(Schema.Int)
})
export type CommitOffsetRequest = typeof CommitOffsetRequest.Type

export const GetOffsetRequest = Schema.Struct({
  topic: TopicName,
  partition: PartitionIndex,
  group: GroupName
})
export type GetOffsetRequest = typeof GetOffsetRequest.Type

export const GroupOffset = Schema.Struct({
  group: GroupName,
  /** The next event to consume (null: the group never consumed here). */
  offset: Schema.NullOr(Offset),
  /** The current processor incarnation (0: not a processor). */
  incarnation: Schema.Int
})
export type GroupOffset = typeof GroupOffset.Type

export const PartitionRef = Schema.Struct({ topic: TopicName, partition: PartitionIndex })
export type PartitionRef = typeof PartitionRef.Type

export const PartitionInfo = Schema.Struct({
  topic: TopicName,
  partition: PartitionIndex,
  worker: Schema.Int,
  name: Schema.String,
  worldLine: Schema.Int,
  version: Schema.Int,
  committedVersion: Schema.Int,
  /** First retained offset, end (next offset), and the end of the committed prefix. */
  start: Offset,
  end: Offset,
  committedEnd: Offset,
  groups: Schema.Array(GroupOffset),
  producers: Schema.Int,
  /** Step outputs not yet acknowledged by their target partitions. */
  outbox: Schema.Int,
  /** Processor state entries. */
  stateEntries: Schema.Int
})
export type PartitionInfo = typeof PartitionInfo.Type

export const TopicsResult = Schema.Array(TopicConfig)
