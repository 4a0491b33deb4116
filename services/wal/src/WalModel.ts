/**
 * The requests, results and entries of the WAL, as Schemas (they are the RPC payloads and
 * successes too).
 *
 * An entry's data is bytes or JSON: `{ _tag: "Bytes", bytes }` or `{ _tag: "Json", value }`. Bytes
 * are `Uint8Array`s everywhere: on the wire (the transport's msgpack carries them as binary, without
 * overhead), in memory and in checkpoints. A request's JSON value travels as `unknown` and
 * the log checks it (NotJson, EntryTooLarge), so a bad value gets a typed error rather than a
 * decoding failure; values in results were checked when they were appended. Numbers in requests are
 * checked by the log too (InvalidRequest), for the same reason.
 *
 * LSNs (log sequence numbers) start at 0 and are consecutive: the entries of the log are exactly
 * the LSNs in `[start, end)`, where `start` is the truncation point and `end` the next LSN.
 */
import { Schema } from "effect"

export type JsonValue = null | boolean | number | string | ReadonlyArray<JsonValue> | { readonly [key: string]: JsonValue }

/** A JSON value in a result (the log validated it when it was appended). */
export const JsonValue: Schema.Schema<JsonValue> = Schema.declare((_: unknown): _ is JsonValue => true, {
  identifier: "JsonValue",
  description: "a JSON value"
})

/** An LSN in a result. */
export const Lsn = Schema.Int.pipe(Schema.nonNegative())

// -------------------------------------------------------------------------------------------------
// Entry data

/**
 * Bytes as they come off the wire: msgpack decodes binary as a Node `Buffer` (a Uint8Array subclass);
 * readers get a plain `Uint8Array` view of it.
 */
export const Bytes = Schema.transform(Schema.Uint8ArrayFromSelf, Schema.Uint8ArrayFromSelf, {
  strict: true,
  decode: (b) => (b.constructor === Uint8Array ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength)),
  encode: (b) => b
})

export const BytesData = Schema.TaggedStruct("Bytes", { bytes: Bytes })
export type BytesData = typeof BytesData.Type

export const JsonData = Schema.TaggedStruct("Json", { value: JsonValue })
export type JsonData = typeof JsonData.Type

/** What an entry holds: bytes or a JSON value. */
export const EntryData = Schema.Union(BytesData, JsonData)
export type EntryData = typeof EntryData.Type

/** Entry data in a request: the JSON value is checked by the log. */
export const EntryDataInput = Schema.Union(BytesData, Schema.TaggedStruct("Json", { value: Schema.Unknown }))
export type EntryDataInput = typeof EntryDataInput.Type

/** Bytes entry data. */
export const bytes = (bytes: Uint8Array): BytesData => ({ _tag: "Bytes", bytes })
/** JSON entry data. */
export const json = (value: JsonValue): JsonData => ({ _tag: "Json", value })

/** Producer identity of an append: a retried append with the same (id, seq) returns its first LSNs. */
export const ProducerSeq = Schema.Struct({ id: Schema.String, seq: Schema.Number })
export type ProducerSeq = typeof ProducerSeq.Type

/** Which view a read takes: the speculative log (default) or only its committed prefix. */
export const ReadMode = Schema.Literal("speculative", "committed")
export type ReadMode = typeof ReadMode.Type

/** One entry as readers see it. */
export const WalEntry = Schema.Struct({
  lsn: Lsn,
  data: EntryData,
  /**
   * The world-line in which the entry was appended. LSNs of a rolled-back suffix are reused after
   * the world-line change, so `(lsn, worldLine)` identifies an entry across the whole history.
   */
  worldLine: Schema.Int,
  /** When the log appended it (ms since the epoch, the log's clock). */
  appendedAt: Schema.Int,
  /** The producer and sequence number of the append that wrote it, if it had one. */
  producer: Schema.optional(Schema.Struct({ id: Schema.String, seq: Schema.Int }))
})
export type WalEntry = typeof WalEntry.Type

// -------------------------------------------------------------------------------------------------
// append

export const AppendRequest = Schema.Struct({
  /** One entry, or a batch: appended atomically, at consecutive LSNs. */
  entries: Schema.Array(EntryDataInput),
  producer: Schema.optional(ProducerSeq)
})
export type AppendRequest = typeof AppendRequest.Type

export const AppendResult = Schema.Struct({
  /** The LSN of the first entry; the batch holds `first .. first + count - 1`. */
  first: Lsn,
  count: Schema.Int,
  /** True when this was a retry of an append already made: the LSNs are the original ones. */
  duplicate: Schema.Boolean
})
export type AppendResult = typeof AppendResult.Type

/** The LSNs of an append. */
export const lsnsOf = (result: AppendResult): ReadonlyArray<number> =>
  Array.from({ length: result.count }, (_, i) => result.first + i)

// -------------------------------------------------------------------------------------------------
// scan

export const ScanRequest = Schema.Struct({
  /** First LSN to return (inclusive). */
  from: Schema.Number,
  /** Stop before this LSN (exclusive). Default: the end of the log. */
  to: Schema.optional(Schema.Number),
  /** At most this many entries. Default 100 (limit: `maxScanEntries`). */
  limit: Schema.optional(Schema.Number),
  /** At most about this many bytes of entry data (at least one entry is returned). Default `maxScanBytes`. */
  maxBytes: Schema.optional(Schema.Number),
  /** Default "speculative". Outside any sthread a read is always committed. */
  mode: Schema.optional(ReadMode),
  /** Long-poll: when nothing is available at `from`, wait up to this many ms for it. Default 0. */
  waitMs: Schema.optional(Schema.Number)
})
export type ScanRequest = typeof ScanRequest.Type

export const ScanResult = Schema.Struct({
  entries: Schema.Array(WalEntry),
  /** Where the next page starts: the LSN after the last entry returned (`from` when none). */
  next: Lsn,
  /** The first LSN of the log (its truncation point) in the view read. */
  start: Lsn,
  /** The end of the log (next LSN to be assigned) in the view read. */
  end: Lsn
})
export type ScanResult = typeof ScanResult.Type

// -------------------------------------------------------------------------------------------------
// tail

export const TailRequest = Schema.Struct({
  from: Schema.Number,
  /** Default "speculative". */
  mode: Schema.optional(ReadMode),
  /** Entries read per step. Default 100. */
  batchSize: Schema.optional(Schema.Number)
})
export type TailRequest = typeof TailRequest.Type

// -------------------------------------------------------------------------------------------------
// truncate

export const TruncateRequest = Schema.Struct({
  /** Deletes every entry below this LSN. It must be within the committed prefix. */
  upTo: Schema.Number
})
export type TruncateRequest = typeof TruncateRequest.Type

export const TruncateResult = Schema.Struct({
  /** The truncation point after the call (the first LSN still in the log). */
  start: Lsn,
  /** False when the log was already truncated at or beyond `upTo`. */
  changed: Schema.Boolean
})
export type TruncateResult = typeof TruncateResult.Type

// -------------------------------------------------------------------------------------------------
// info

export const WalInfo = Schema.Struct({
  name: Schema.String,
  worldLine: Schema.Int,
  /** Speculative view. */
  start: Lsn,
  end: Lsn,
  /** Committed view. */
  committedStart: Lsn,
  committedEnd: Lsn,
  /** Entries physically held (truncated entries are deleted once the truncation commits). */
  held: Schema.Int,
  producers: Schema.Int,
  version: Schema.Int,
  committedVersion: Schema.Int
})
export type WalInfo = typeof WalInfo.Type
