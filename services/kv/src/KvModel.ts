/**
 * The requests and results of the KV, as Schemas (they are the RPC payloads and successes too).
 *
 * Values are JSON. A request's value travels as `unknown` and the shard checks it (NotJsonValue,
 * ValueTooLarge), so a bad value gets a typed error rather than a decoding failure; values in
 * results were checked when they were written.
 *
 * Revisions: every write of a shard takes the shard's next revision number (one per request, so
 * all writes of an atomic batch share one). A key's revision is the revision of its last write.
 * Revisions are part of the versioned state: a rollback takes them back together with the data,
 * and only committed revisions ever reach a caller outside the DSE domain.
 */
import { Schema } from "effect"

export type JsonValue = null | boolean | number | string | ReadonlyArray<JsonValue> | { readonly [key: string]: JsonValue }

/** A JSON value in a result (the shard validated it when it was written). */
export const JsonValue: Schema.Schema<JsonValue> = Schema.declare((_: unknown): _ is JsonValue => true, {
  identifier: "JsonValue",
  description: "a JSON value"
})

/** A value in a request: checked by the shard (NotJsonValue, ValueTooLarge). */
export const AnyValue = Schema.Unknown

const IdempotencyKey = Schema.optional(Schema.String)

/** A stored value and the revision of its last write. */
export const KvEntry = Schema.Struct({ value: JsonValue, revision: Schema.Int })
export type KvEntry = typeof KvEntry.Type

/** A scanned entry. */
export const KvKeyEntry = Schema.Struct({ key: Schema.String, value: JsonValue, revision: Schema.Int })
export type KvKeyEntry = typeof KvKeyEntry.Type

// -------------------------------------------------------------------------------------------------
// get

export const GetRequest = Schema.Struct({
  key: Schema.String,
  /** Only committed data: waits until what the read saw has committed. Default false (speculative). */
  committed: Schema.optional(Schema.Boolean)
})
export type GetRequest = typeof GetRequest.Type
export const GetResult = Schema.Option(KvEntry)
export type GetResult = typeof GetResult.Type

// -------------------------------------------------------------------------------------------------
// put / delete

export const PutRequest = Schema.Struct({ key: Schema.String, value: AnyValue, idempotencyKey: IdempotencyKey })
export type PutRequest = typeof PutRequest.Type
export const PutResult = Schema.Struct({ revision: Schema.Int, created: Schema.Boolean })
export type PutResult = typeof PutResult.Type

export const DeleteRequest = Schema.Struct({ key: Schema.String, idempotencyKey: IdempotencyKey })
export type DeleteRequest = typeof DeleteRequest.Type
export const DeleteResult = Schema.Struct({ existed: Schema.Boolean, revision: Schema.Int })
export type DeleteResult = typeof DeleteResult.Type

// -------------------------------------------------------------------------------------------------
// compare-and-set

export const ExpectAbsent = Schema.TaggedStruct("Absent", {})
export const ExpectValue = Schema.TaggedStruct("Value", { value: AnyValue })
export const ExpectRevision = Schema.TaggedStruct("Revision", { revision: Schema.Int })
/** What the current value must be: absent, equal (as JSON) to a value, or at a revision. */
export const Expected = Schema.Union(ExpectAbsent, ExpectValue, ExpectRevision)
export type Expected = typeof Expected.Type

export const CasRequest = Schema.Struct({
  key: Schema.String,
  expected: Expected,
  /** The new value; absent: delete the key if the expectation holds. */
  value: Schema.optional(AnyValue),
  idempotencyKey: IdempotencyKey
})
export type CasRequest = typeof CasRequest.Type

/**
 * A mismatch is a result, not an error: it is the normal outcome of an optimistic retry loop, it
 * carries what the caller needs for the next attempt (the current entry), and, like any result,
 * it is what a repeated idempotency key returns.
 */
export const CasSwapped = Schema.TaggedStruct("Swapped", { revision: Schema.Int })
export const CasMismatch = Schema.TaggedStruct("Mismatch", { current: Schema.Option(KvEntry) })
export const CasResult = Schema.Union(CasSwapped, CasMismatch)
export type CasResult = typeof CasResult.Type

// -------------------------------------------------------------------------------------------------
// atomic update

/**
 * Adds `delta` to a number: the value itself (no `field`; absent counts as 0) or a numeric field
 * of a record value (absent key or field count as 0). Fails with OutOfRange, changing nothing,
 * when the result would leave [min, max].
 */
export const Increment = Schema.TaggedStruct("Increment", {
  field: Schema.optional(Schema.String),
  delta: Schema.Number,
  min: Schema.optional(Schema.Number),
  max: Schema.optional(Schema.Number)
})
export type Increment = typeof Increment.Type

/** Sets (and unsets) fields of a record value (absent key: a new record). */
export const SetFields = Schema.TaggedStruct("SetFields", {
  set: Schema.Record({ key: Schema.String, value: AnyValue }),
  unset: Schema.optional(Schema.Array(Schema.String))
})
export type SetFields = typeof SetFields.Type

export const UpdateOp = Schema.Union(Increment, SetFields)
export type UpdateOp = typeof UpdateOp.Type

export const UpdateRequest = Schema.Struct({ key: Schema.String, op: UpdateOp, idempotencyKey: IdempotencyKey })
export type UpdateRequest = typeof UpdateRequest.Type
export const UpdateResult = Schema.Struct({ value: JsonValue, revision: Schema.Int })
export type UpdateResult = typeof UpdateResult.Type

// -------------------------------------------------------------------------------------------------
// reservations (the saga step and its compensation)

/**
 * What a reservation key holds: a regular JSON record (visible to get and scan) marked by
 * `$kind: "reservation"`. A cancelled reservation stays as a tombstone, so that a reserve that
 * arrives after its compensation (a late retry) cannot apply.
 */
export const Reservation = Schema.Struct({
  $kind: Schema.Literal("reservation"),
  status: Schema.Literal("held", "cancelled"),
  /** The inventory key and numeric field reserved from (null for a tombstone of a never-made reservation). */
  key: Schema.NullOr(Schema.String),
  field: Schema.NullOr(Schema.String),
  amount: Schema.Number,
  /** The caller's record of the reservation (who, for what). */
  record: JsonValue
})
export type Reservation = typeof Reservation.Type

export const ReserveRequest = Schema.Struct({
  /** The inventory record. */
  key: Schema.String,
  /** Its numeric field to decrement. */
  field: Schema.String,
  /** How much to take (> 0). */
  amount: Schema.Number,
  /** Where the reservation is recorded; must live on the same shard as `key` (use a {hash tag}). */
  reservationKey: Schema.String,
  record: Schema.optional(AnyValue),
  idempotencyKey: IdempotencyKey
})
export type ReserveRequest = typeof ReserveRequest.Type
export const ReserveResult = Schema.Struct({
  reservation: Reservation,
  /** What is left in `key.field` after the reservation. */
  remaining: Schema.Number,
  revision: Schema.Int,
  /** False when this reservation key already held this same reservation (nothing changed). */
  created: Schema.Boolean
})
export type ReserveResult = typeof ReserveResult.Type

export const CancelReservationRequest = Schema.Struct({
  reservationKey: Schema.String,
  idempotencyKey: IdempotencyKey
})
export type CancelReservationRequest = typeof CancelReservationRequest.Type
export const CancelReservationResult = Schema.Union(
  /** The amount went back to the inventory. */
  Schema.TaggedStruct("Cancelled", { restored: Schema.Number, remaining: Schema.Number, revision: Schema.Int }),
  /** Cancelled before: nothing changed (the compensation ran twice). */
  Schema.TaggedStruct("AlreadyCancelled", {}),
  /** No reservation was ever made: a tombstone now blocks a late reserve. */
  Schema.TaggedStruct("NeverReserved", { revision: Schema.Int })
)
export type CancelReservationResult = typeof CancelReservationResult.Type

// -------------------------------------------------------------------------------------------------
// scan

export const ScanRequest = Schema.Struct({
  prefix: Schema.String,
  /** At most this many entries (default 100, at most the shard's scan limit). */
  limit: Schema.optional(Schema.Int),
  /** Only keys after this one (the last key of the previous page). */
  after: Schema.optional(Schema.String),
  committed: Schema.optional(Schema.Boolean)
})
export type ScanRequest = typeof ScanRequest.Type
export const ScanResult = Schema.Struct({
  /** In key order (UTF-16 code unit order, as JavaScript compares strings). */
  entries: Schema.Array(KvKeyEntry),
  /** More keys with the prefix follow the last one returned. */
  more: Schema.Boolean
})
export type ScanResult = typeof ScanResult.Type

// -------------------------------------------------------------------------------------------------
// batch

export const BatchPut = Schema.TaggedStruct("Put", { key: Schema.String, value: AnyValue })
export const BatchDelete = Schema.TaggedStruct("Delete", { key: Schema.String })
export const BatchOp = Schema.Union(BatchPut, BatchDelete)
export type BatchOp = typeof BatchOp.Type

export const BatchRequest = Schema.Struct({ ops: Schema.Array(BatchOp), idempotencyKey: IdempotencyKey })
export type BatchRequest = typeof BatchRequest.Type
export const BatchResult = Schema.Struct({
  /** The one revision of every write of the batch. */
  revision: Schema.Int,
  /** For each op in order: whether its key held a value just before it. */
  existed: Schema.Array(Schema.Boolean)
})
export type BatchResult = typeof BatchResult.Type
