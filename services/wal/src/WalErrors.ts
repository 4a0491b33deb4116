/**
 * The typed errors of the WAL. Every one is a `Schema.TaggedError`, so it crosses the wire with its
 * tag and fields intact and can be matched with `Effect.catchTag`.
 *
 * Two kinds:
 * - input errors (EntryTooLarge, NotJson, BatchTooLarge, InvalidRequest) depend only on the
 *   request: they are decided before any Action runs and change nothing;
 * - outcome errors (SequenceGap, SequenceTooOld, SequenceConflict, ProducerTableFull, LsnTruncated
 *   in a speculative read) depend on the log's speculative state: they are released only after
 *   that state has committed, so a caller never acts on a failure that a rollback could take back.
 *   TruncateBeyondCommitted and LsnTruncated in a committed read are decided on committed state and
 *   are released at once.
 */
import { FutureWorldLine, RolledBack, StateObjectFailed } from "@dse/core"
import { Schema } from "effect"

/** One entry is larger than `maxEntryBytes` (bytes: its length; JSON: the UTF-8 bytes of its text). */
export class EntryTooLarge extends Schema.TaggedError<EntryTooLarge>("@dse/wal/EntryTooLarge")("EntryTooLarge", {
  /** The entry's index in the batch. */
  index: Schema.Int,
  size: Schema.Int,
  limit: Schema.Int
}) {
  override get message() {
    return `entry ${this.index} is ${this.size} bytes, the limit is ${this.limit}`
  }
}

/** A JSON entry whose value is not JSON (undefined, NaN, a Date, a Map, a cycle, too deep...). */
export class NotJson extends Schema.TaggedError<NotJson>("@dse/wal/NotJson")("NotJson", {
  index: Schema.Int,
  /** Where in the value, as a JSON path (`$.a[2].b`). */
  path: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `entry ${this.index} is not JSON at ${this.path}: ${this.reason}`
  }
}

/** A batch with more entries than `maxBatchEntries`, or more bytes than `maxBatchBytes`. */
export class BatchTooLarge extends Schema.TaggedError<BatchTooLarge>("@dse/wal/BatchTooLarge")("BatchTooLarge", {
  entries: Schema.Int,
  bytes: Schema.Int,
  maxEntries: Schema.Int,
  maxBytes: Schema.Int
}) {
  override get message() {
    return `a batch of ${this.entries} entries (${this.bytes} bytes) exceeds the limits of ${this.maxEntries} entries / ${this.maxBytes} bytes`
  }
}

/** A malformed request: an empty batch, a bad producer id or sequence number, a bad LSN, limit or wait. */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>("@dse/wal/InvalidRequest")("InvalidRequest", {
  reason: Schema.String
}) {
  override get message() {
    return `invalid request: ${this.reason}`
  }
}

/** A producer skipped sequence numbers: after `seq` n the log accepts only n + 1 (or a retry of a kept one). */
export class SequenceGap extends Schema.TaggedError<SequenceGap>("@dse/wal/SequenceGap")("SequenceGap", {
  producer: Schema.String,
  expected: Schema.Int,
  received: Schema.Int
}) {
  override get message() {
    return `producer ${this.producer} sent sequence number ${this.received}, the log expects ${this.expected}`
  }
}

/** A retry of an append older than the producer's dedup window: its LSNs are no longer known. */
export class SequenceTooOld extends Schema.TaggedError<SequenceTooOld>("@dse/wal/SequenceTooOld")("SequenceTooOld", {
  producer: Schema.String,
  received: Schema.Int,
  /** The oldest sequence number still kept for this producer. */
  oldest: Schema.Int
}) {
  override get message() {
    return `producer ${this.producer} retried sequence number ${this.received}; the oldest one kept is ${this.oldest}`
  }
}

/** A retry whose batch does not match the append recorded under the same (producer, seq). */
export class SequenceConflict extends Schema.TaggedError<SequenceConflict>("@dse/wal/SequenceConflict")(
  "SequenceConflict",
  { producer: Schema.String, seq: Schema.Int, reason: Schema.String }
) {
  override get message() {
    return `producer ${this.producer} reused sequence number ${this.seq} for a different append: ${this.reason}`
  }
}

/** The producer table is full of producers that are all inside their retention window. */
export class ProducerTableFull extends Schema.TaggedError<ProducerTableFull>("@dse/wal/ProducerTableFull")(
  "ProducerTableFull",
  { size: Schema.Int, limit: Schema.Int }
) {
  override get message() {
    return `the producer table holds ${this.size} live producers (limit ${this.limit})`
  }
}

/** A read from below the log's truncation point. */
export class LsnTruncated extends Schema.TaggedError<LsnTruncated>("@dse/wal/LsnTruncated")("LsnTruncated", {
  lsn: Schema.Int,
  /** The first LSN still in the log (in the view read). */
  start: Schema.Int
}) {
  override get message() {
    return `LSN ${this.lsn} was truncated; the log starts at ${this.start}`
  }
}

/** A truncation beyond the committed prefix: only committed entries can be truncated. */
export class TruncateBeyondCommitted extends Schema.TaggedError<TruncateBeyondCommitted>(
  "@dse/wal/TruncateBeyondCommitted"
)("TruncateBeyondCommitted", { upTo: Schema.Int, committedEnd: Schema.Int }) {
  override get message() {
    return `cannot truncate up to ${this.upTo}: the committed prefix ends at ${this.committedEnd}`
  }
}

/** The WAL could not be reached (the transport failed, the process is down). The call may or may not have run. */
export class WalUnavailable extends Schema.TaggedError<WalUnavailable>("@dse/wal/WalUnavailable")("WalUnavailable", {
  wal: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `WAL ${this.wal} unavailable: ${this.reason}`
  }
}

/** What an Action of the log can fail with (speculation lost, world-line not reached, the log failed). */
export const WalFailure = Schema.Union(RolledBack, FutureWorldLine, StateObjectFailed)
export type WalFailure = typeof WalFailure.Type

export const AppendError = Schema.Union(
  EntryTooLarge,
  NotJson,
  BatchTooLarge,
  InvalidRequest,
  SequenceGap,
  SequenceTooOld,
  SequenceConflict,
  ProducerTableFull
)
export type AppendError = typeof AppendError.Type

export const ScanError = Schema.Union(InvalidRequest, LsnTruncated)
export type ScanError = typeof ScanError.Type

export const TruncateError = Schema.Union(InvalidRequest, TruncateBeyondCommitted)
export type TruncateError = typeof TruncateError.Type

/** Every WAL error, for encoding/decoding recorded outcomes. */
export const WalError = Schema.Union(
  EntryTooLarge,
  NotJson,
  BatchTooLarge,
  InvalidRequest,
  SequenceGap,
  SequenceTooOld,
  SequenceConflict,
  ProducerTableFull,
  LsnTruncated,
  TruncateBeyondCommitted,
  WalUnavailable
)
export type WalError = typeof WalError.Type
