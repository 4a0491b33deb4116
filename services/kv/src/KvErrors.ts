/**
 * The typed errors of the KV. Every one is a `Schema.TaggedError`, so it crosses the wire with its
 * tag and fields intact and can be matched with `Effect.catchTag`.
 *
 * Two kinds:
 * - input errors (KeyTooLong, InvalidKey, ValueTooLarge, NotJsonValue, InvalidRequest,
 *   CrossShardOperation, SchemaMismatch) depend only on the request: they are decided before any
 *   Action runs and change nothing;
 * - outcome errors (WrongType, OutOfRange, InsufficientInventory, ReservationConflict,
 *   ReservationCancelled, IdempotencyKeyConflict, DedupTableFull) depend on the shard's state: like
 *   a success, the caller's sthread depends on the version they were decided on, and an outside
 *   caller receives one only after that version commits. With an idempotency key, they are the
 *   request's recorded first result.
 */
import { FutureWorldLine, RolledBack, StateObjectFailed } from "@dse/core"
import { Schema } from "effect"

/** A key longer than the shard's limit (UTF-8 bytes). */
export class KeyTooLong extends Schema.TaggedError<KeyTooLong>("@dse/kv/KeyTooLong")("KeyTooLong", {
  /** The first 64 characters of the key. */
  key: Schema.String,
  size: Schema.Int,
  limit: Schema.Int
}) {
  override get message() {
    return `key "${this.key}…" is ${this.size} bytes, the limit is ${this.limit}`
  }
}

/** A key that is not a usable key (empty). */
export class InvalidKey extends Schema.TaggedError<InvalidKey>("@dse/kv/InvalidKey")("InvalidKey", {
  key: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `invalid key "${this.key}": ${this.reason}`
  }
}

/** A value whose JSON text is larger than the shard's limit (UTF-8 bytes). */
export class ValueTooLarge extends Schema.TaggedError<ValueTooLarge>("@dse/kv/ValueTooLarge")("ValueTooLarge", {
  key: Schema.String,
  size: Schema.Int,
  limit: Schema.Int
}) {
  override get message() {
    return `value of "${this.key}" is ${this.size} bytes, the limit is ${this.limit}`
  }
}

/** A value that is not JSON (undefined, NaN, a function, a Date, a Map, a cycle, too deep...). */
export class NotJsonValue extends Schema.TaggedError<NotJsonValue>("@dse/kv/NotJsonValue")("NotJsonValue", {
  key: Schema.String,
  /** Where in the value, as a JSON path (`$.a[2].b`). */
  path: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `value of "${this.key}" is not JSON at ${this.path}: ${this.reason}`
  }
}

/** A malformed request: a bad idempotency key, scan limit, empty or oversized batch, bad number. */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>("@dse/kv/InvalidRequest")("InvalidRequest", {
  reason: Schema.String
}) {
  override get message() {
    return `invalid request: ${this.reason}`
  }
}

/** An atomic update found a value (or field) of the wrong type. */
export class WrongType extends Schema.TaggedError<WrongType>("@dse/kv/WrongType")("WrongType", {
  key: Schema.String,
  field: Schema.optional(Schema.String),
  expected: Schema.String,
  actual: Schema.String
}) {
  override get message() {
    const at = this.field !== undefined ? `"${this.key}".${this.field}` : `"${this.key}"`
    return `${at} is ${this.actual}, expected ${this.expected}`
  }
}

/** An increment would leave the value outside its [min, max] bounds; nothing changed. */
export class OutOfRange extends Schema.TaggedError<OutOfRange>("@dse/kv/OutOfRange")("OutOfRange", {
  key: Schema.String,
  field: Schema.optional(Schema.String),
  current: Schema.Number,
  delta: Schema.Number,
  min: Schema.optional(Schema.Number),
  max: Schema.optional(Schema.Number)
}) {
  override get message() {
    const at = this.field !== undefined ? `"${this.key}".${this.field}` : `"${this.key}"`
    return `${at} = ${this.current} + ${this.delta} is outside [${this.min ?? "-inf"}, ${this.max ?? "+inf"}]`
  }
}

/** A reservation asked for more than is left; nothing changed. */
export class InsufficientInventory extends Schema.TaggedError<InsufficientInventory>("@dse/kv/InsufficientInventory")(
  "InsufficientInventory",
  { key: Schema.String, field: Schema.String, available: Schema.Number, requested: Schema.Number }
) {
  override get message() {
    return `"${this.key}".${this.field}: ${this.requested} requested, ${this.available} available`
  }
}

/** The reservation key holds something else: a different reservation, or a plain value. */
export class ReservationConflict extends Schema.TaggedError<ReservationConflict>("@dse/kv/ReservationConflict")(
  "ReservationConflict",
  { reservationKey: Schema.String, reason: Schema.String }
) {
  override get message() {
    return `reservation "${this.reservationKey}": ${this.reason}`
  }
}

/** The reservation was cancelled (perhaps before it was ever made): it cannot be made any more. */
export class ReservationCancelled extends Schema.TaggedError<ReservationCancelled>("@dse/kv/ReservationCancelled")(
  "ReservationCancelled",
  { reservationKey: Schema.String }
) {
  override get message() {
    return `reservation "${this.reservationKey}" was cancelled`
  }
}

/** An idempotency key was used before for a different request. */
export class IdempotencyKeyConflict extends Schema.TaggedError<IdempotencyKeyConflict>("@dse/kv/IdempotencyKeyConflict")(
  "IdempotencyKeyConflict",
  { idempotencyKey: Schema.String, reason: Schema.String }
) {
  override get message() {
    return `idempotency key "${this.idempotencyKey}" reused: ${this.reason}`
  }
}

/**
 * The dedup table is full of keys still inside their retention window. Rather than forget a key a
 * client may still retry with (and apply its write twice), the shard refuses new idempotent writes
 * until old keys expire. Retry later, or configure a larger table / shorter retention.
 */
export class DedupTableFull extends Schema.TaggedError<DedupTableFull>("@dse/kv/DedupTableFull")("DedupTableFull", {
  size: Schema.Int,
  limit: Schema.Int
}) {
  override get message() {
    return `dedup table full (${this.size} of ${this.limit} keys within their retention window)`
  }
}

/** A multi-key request whose keys live on different shards: atomic only within one shard. */
export class CrossShardOperation extends Schema.TaggedError<CrossShardOperation>("@dse/kv/CrossShardOperation")(
  "CrossShardOperation",
  { operation: Schema.String, shards: Schema.Array(Schema.Int) }
) {
  override get message() {
    return `${this.operation} spans shards ${this.shards.join(", ")}: co-locate its keys with a {hash tag}`
  }
}

/** A shard could not be reached (client side): the call may or may not have run. */
export class ShardUnavailable extends Schema.TaggedError<ShardUnavailable>("@dse/kv/ShardUnavailable")(
  "ShardUnavailable",
  { shard: Schema.Int, reason: Schema.String }
) {
  override get message() {
    return `shard ${this.shard} unavailable: ${this.reason}`
  }
}

/** A value did not match the Schema the caller gave (client side). */
export class SchemaMismatch extends Schema.TaggedError<SchemaMismatch>("@dse/kv/SchemaMismatch")("SchemaMismatch", {
  key: Schema.String,
  direction: Schema.Literal("encode", "decode"),
  issue: Schema.String
}) {
  override get message() {
    return `value of "${this.key}" does not match its schema (${this.direction}): ${this.issue}`
  }
}

// -------------------------------------------------------------------------------------------------
// Unions, as schemas for the RPC definitions

export const KeyError = Schema.Union(KeyTooLong, InvalidKey)
export type KeyError = typeof KeyError.Type

export const ValueError = Schema.Union(ValueTooLarge, NotJsonValue)
export type ValueError = typeof ValueError.Type

/** What any idempotent write can fail with because of its idempotency key. */
export const IdempotencyError = Schema.Union(InvalidRequest, IdempotencyKeyConflict, DedupTableFull)
export type IdempotencyError = typeof IdempotencyError.Type

/** What an Action of a shard can fail with (a lost speculation, a world-line not reached, a failed shard). */
export const ShardFailure = Schema.Union(RolledBack, FutureWorldLine, StateObjectFailed)
export type ShardFailure = typeof ShardFailure.Type

/** Every typed error a shard can return. */
export const KvError = Schema.Union(
  KeyTooLong,
  InvalidKey,
  ValueTooLarge,
  NotJsonValue,
  InvalidRequest,
  WrongType,
  OutOfRange,
  InsufficientInventory,
  ReservationConflict,
  ReservationCancelled,
  IdempotencyKeyConflict,
  DedupTableFull
)
export type KvError = typeof KvError.Type

/** Outcome errors: decided on the shard's state (released only after that state commits). */
export type OutcomeError =
  | WrongType
  | OutOfRange
  | InsufficientInventory
  | ReservationConflict
  | ReservationCancelled
  | IdempotencyKeyConflict
  | DedupTableFull
