/**
 * One KV shard: a StateObject (worker `kv-<index>`) whose state is the data map, the dedup table
 * and the shard's revision counter, in one `VersionedState.struct`. Every operation is one Action.
 *
 * Rules every operation follows:
 * - input checks first (key, value, limits): an invalid request fails before any Action runs and
 *   changes nothing;
 * - then one Action that decides on the current (speculative) state and either writes everything
 *   or nothing (all-or-nothing: nothing is written until every check has passed);
 * - an idempotency key makes a write's first result (success or outcome error) the answer to every
 *   repeat of the request: a repeat returns it and changes nothing. The key is recorded in the same
 *   Action as the write, in the same versioned state, so the two are checkpointed and rolled back
 *   together;
 * - an outcome error (the request was valid but the state said no: InsufficientInventory,
 *   OutOfRange, ...) is a result like any other: the Action returns it as a value, so the caller's
 *   sthread depends on the version it was decided on exactly as for a success (the transport
 *   carries the reply header on failures too, and releases a failure to an outside caller only
 *   after it commits);
 * - reads are speculative by default (they see uncommitted writes, and the reader's sthread
 *   depends on them); `committed: true` waits until what the read saw has committed, retrying the
 *   read when a failure took it back.
 *
 * Dedup retention (bounded growth): an idempotency key is kept for at least `dedup.retention`
 * (default 2 minutes, by the shard's clock) after its first use; writes evict up to 8 expired keys
 * each, oldest first. When the table holds `dedup.maxEntries` keys that are all still inside their
 * window, new idempotent writes fail with DedupTableFull instead of evicting a live key. This is
 * safe because eviction is itself a write in the versioned state (a rollback brings evicted keys
 * back with the data they guard), and a key is only forgotten after its window: clients must finish
 * retrying a request within the retention window (they retry within seconds: after a recovery,
 * after a lost reply).
 */
import type { CheckpointStore } from "@dse/core"
import { Dse, RolledBack, StateObject, Sthread, VersionedCell, VersionedMap, VersionedState } from "@dse/core"
import type { Scope } from "effect"
import { Clock, Context, Duration, Effect, Either, Layer, Option, Schema } from "effect"
import {
  DedupTableFull,
  IdempotencyKeyConflict,
  InsufficientInventory,
  InvalidKey,
  InvalidRequest,
  KeyTooLong,
  KvError,
  NotJsonValue,
  OutOfRange,
  ReservationCancelled,
  ReservationConflict,
  ValueTooLarge,
  WrongType
} from "./KvErrors"
import type { IdempotencyError, KeyError, OutcomeError, ShardFailure, ValueError } from "./KvErrors"
import * as KvModel from "./KvModel"
import type {
  BatchRequest,
  BatchResult,
  CancelReservationRequest,
  CancelReservationResult,
  CasRequest,
  CasResult,
  DeleteRequest,
  DeleteResult,
  GetRequest,
  GetResult,
  JsonValue,
  KvKeyEntry,
  PutRequest,
  PutResult,
  Reservation,
  ReserveRequest,
  ReserveResult,
  ScanRequest,
  ScanResult,
  UpdateRequest,
  UpdateResult
} from "./KvModel"
import { DedupTable } from "./internal/dedup"
import { Json } from "@dse/core"

const { findNonJson, fingerprint, jsonEquals, jsonSize, typeName, utf8Length } = Json

// -------------------------------------------------------------------------------------------------
// Options

export interface KvLimits {
  /** Longest key, in UTF-8 bytes. Default 1024. */
  readonly maxKeyBytes: number
  /** Largest value, as UTF-8 bytes of its JSON text. Default 64 KiB. */
  readonly maxValueBytes: number
  /** Deepest nesting of a value. Default 64. */
  readonly maxDepth: number
  /** Most writes in one batch. Default 256. */
  readonly maxBatchOps: number
  /** Most bytes (keys + values) in one batch. Default 512 KiB (below the transport's 1 MiB frame limit). */
  readonly maxBatchBytes: number
  /** Most entries one scan returns. Default 1000. */
  readonly maxScanLimit: number
  /** Longest idempotency key, in UTF-8 bytes. Default 256. */
  readonly maxIdempotencyKeyBytes: number
}

export const defaultLimits: KvLimits = {
  maxKeyBytes: 1024,
  maxValueBytes: 64 * 1024,
  maxDepth: 64,
  maxBatchOps: 256,
  maxBatchBytes: 512 * 1024,
  maxScanLimit: 1000,
  maxIdempotencyKeyBytes: 256
}

export interface DedupOptions {
  /** How long an idempotency key is kept after its first use. Default 2 minutes. */
  readonly retention: Duration.DurationInput
  /** Most keys kept; beyond it (all still in their window) idempotent writes get DedupTableFull. Default 1,000,000. */
  readonly maxEntries: number
}

export const defaultDedup: DedupOptions = { retention: Duration.minutes(2), maxEntries: 1_000_000 }

export interface KvShardOptions {
  /** The shard number: the worker is named `kv-<index>`. */
  readonly index: number
  /** Overrides the worker name. */
  readonly name?: string
  readonly limits?: Partial<KvLimits>
  readonly dedup?: Partial<DedupOptions>
}

/** The worker name of shard `index`. */
export const shardName = (index: number): string => `kv-${index}`

/** Default page size of a scan. */
export const DEFAULT_SCAN_LIMIT = 100

/** Expired dedup keys evicted per write, at most. */
const EVICT_BUDGET = 8

/** Attempts of a committed read whose first view was rolled back. */
const COMMITTED_READ_ATTEMPTS = 5

/** How often a commit wait checks whether the world-line moved (see `awaitCommitOf`). */
const WORLD_LINE_WATCH_PERIOD = Duration.millis(5)

// -------------------------------------------------------------------------------------------------
// State

interface Stored {
  /** The value. */
  readonly v: JsonValue
  /** The revision of its last write. */
  readonly r: number
}

export const makeState = () =>
  VersionedState.struct({
    data: VersionedMap.make<Stored>(),
    dedup: new DedupTable(),
    /** The shard's revision counter: the revision of its last write. */
    revision: VersionedCell.make(0)
  })
export type ShardState = ReturnType<typeof makeState>

export interface KvShardStats {
  readonly name: string
  readonly keys: number
  readonly dedupEntries: number
  readonly revision: number
  readonly worker: ReturnType<StateObject.StateObject<ShardState>["stats"]>
}

// -------------------------------------------------------------------------------------------------
// The service

type Op<Req, A, E> = (request: Req) => Effect.Effect<A, E | ShardFailure>

export interface KvShardService {
  readonly index: number
  readonly name: string
  readonly limits: KvLimits
  readonly stateObject: StateObject.StateObject<ShardState>
  readonly get: Op<GetRequest, GetResult, KeyError>
  readonly put: Op<PutRequest, PutResult, KeyError | ValueError | IdempotencyError>
  readonly delete: Op<DeleteRequest, DeleteResult, KeyError | IdempotencyError>
  readonly compareAndSet: Op<CasRequest, CasResult, KeyError | ValueError | IdempotencyError>
  readonly update: Op<UpdateRequest, UpdateResult, KeyError | ValueError | WrongType | OutOfRange | IdempotencyError>
  readonly reserve: Op<
    ReserveRequest,
    ReserveResult,
    KeyError | ValueError | WrongType | InsufficientInventory | ReservationConflict | ReservationCancelled | IdempotencyError
  >
  readonly cancelReservation: Op<
    CancelReservationRequest,
    CancelReservationResult,
    KeyError | ValueError | WrongType | ReservationConflict | IdempotencyError
  >
  readonly scan: Op<ScanRequest, ScanResult, KeyError | InvalidRequest>
  readonly batch: Op<BatchRequest, BatchResult, KeyError | ValueError | IdempotencyError>
  readonly stats: () => KvShardStats
  /** The live (speculative) contents, in key order: for tests and inspection. */
  readonly dump: () => ReadonlyArray<KvKeyEntry>
}

export class KvShard extends Context.Tag("@dse/kv/KvShard")<KvShard, KvShardService>() {}

const isRecord = (v: unknown): v is { readonly [key: string]: JsonValue } =>
  typeof v === "object" && v !== null && !Array.isArray(v)

const isReservation = (v: unknown): v is Reservation =>
  isRecord(v) && v.$kind === "reservation" && (v.status === "held" || v.status === "cancelled")

const preview = (key: string) => (key.length > 64 ? key.slice(0, 64) : key)

const encodeResult = <A, I>(schema: Schema.Schema<A, I>, a: A): unknown => Schema.encodeSync(schema)(a)
const encodeError = Schema.encodeSync(KvError)
const decodeError = Schema.decodeUnknownSync(KvError)

/** Starts a shard: its StateObject (restored from its checkpoints after a restart). */
export const make = (
  options: KvShardOptions
): Effect.Effect<KvShardService, StateObject.StartError, Dse.Dse | CheckpointStore | Scope.Scope> =>
  Effect.gen(function* () {
    const limits: KvLimits = { ...defaultLimits, ...options.limits }
    const dedupOptions: DedupOptions = { ...defaultDedup, ...options.dedup }
    const retentionMs = Duration.toMillis(Duration.decode(dedupOptions.retention))
    const name = options.name ?? shardName(options.index)
    const dse = yield* Dse.Dse
    const so = yield* StateObject.make({ name, state: makeState(), kind: "kv" })
    const withDse = <A, E>(effect: Effect.Effect<A, E, Dse.Dse>): Effect.Effect<A, E> =>
      Effect.provideService(effect, Dse.Dse, dse)

    // --- input checks -----------------------------------------------------------------------------

    const checkKey = (key: string): KeyError | undefined => {
      if (typeof key !== "string" || key.length === 0) return new InvalidKey({ key: String(key), reason: "a key is a non-empty string" })
      const size = utf8Length(key)
      if (size > limits.maxKeyBytes) return new KeyTooLong({ key: preview(key), size, limit: limits.maxKeyBytes })
      return undefined
    }

    /** Checks a value; returns its size or the error. */
    const checkValue = (key: string, value: unknown, where = "$"): number | ValueError => {
      const problem = findNonJson(value, limits.maxDepth)
      if (problem) return new NotJsonValue({ key: preview(key), path: where + problem.path.slice(1), reason: problem.reason })
      const size = jsonSize(value)
      if (size > limits.maxValueBytes) return new ValueTooLarge({ key: preview(key), size, limit: limits.maxValueBytes })
      return size
    }

    const checkIdempotencyKey = (idempotencyKey: string | undefined): InvalidRequest | undefined => {
      if (idempotencyKey === undefined) return undefined
      if (idempotencyKey.length === 0) return new InvalidRequest({ reason: "an idempotency key is a non-empty string" })
      const size = utf8Length(idempotencyKey)
      if (size > limits.maxIdempotencyKeyBytes) {
        return new InvalidRequest({ reason: `idempotency key of ${size} bytes exceeds the limit of ${limits.maxIdempotencyKeyBytes}` })
      }
      return undefined
    }

    const checkNumber = (what: string, n: number | undefined): InvalidRequest | undefined =>
      n === undefined || Number.isFinite(n) ? undefined : new InvalidRequest({ reason: `${what} must be a finite number, got ${n}` })

    const first = <E>(...errors: ReadonlyArray<E | undefined>): E | undefined => errors.find((e) => e !== undefined)

    // --- commit waits ---------------------------------------------------------------------------

    /**
     * Waits until everything `thread` depends on has committed. Fails with RolledBack when the
     * process moves to another world-line meanwhile, so a caller reads (or decides) again.
     *
     * Why not just `Dse.awaitCommitOf`: core registers a waiter that is never failed if it is
     * registered while a world-line change is being applied (after the runtime failed the lost
     * waiters, before it adopted the new world-line). Such a waiter would hang, or, worse, complete
     * when the new world-line commits a reused version number. See README "Known issues".
     */
    const awaitCommitOf = (thread: Sthread.Sthread): Effect.Effect<void, RolledBack> => {
      if (dse.mode !== "speculative") return Effect.void
      const worldLine = thread.worldLine
      const moved = () => worldLine !== 0 && dse.worldLine() > worldLine
      const lost = () =>
        new RolledBack({ worldLine: dse.worldLine(), reason: `the world-line moved past ${worldLine} while waiting for commit` })
      const watch: Effect.Effect<never, RolledBack> = Effect.suspend(() =>
        moved() ? Effect.fail(lost()) : Effect.zipRight(Effect.sleep(WORLD_LINE_WATCH_PERIOD), watch)
      )
      const commit = Effect.zipRight(
        withDse(Dse.awaitCommitOf(thread)),
        Effect.suspend(() => (moved() ? Effect.fail(lost()) : Effect.void))
      )
      return Effect.raceFirst(commit, watch)
    }

    // --- reads ----------------------------------------------------------------------------------

    const read = <A>(f: (s: ShardState) => A, committed: boolean | undefined): Effect.Effect<A, ShardFailure> => {
      const once = so.action((s) => Effect.sync(() => f(s)))
      if (!committed) return once
      // A new sthread (not the caller's: its speculation must not join the read's version) whose
      // only dependency is the version the read saw; wait for it, and read again if it was lost.
      return withDse(
        Dse.sthread(Effect.flatMap(once, (a) => Effect.flatMap(Sthread.current, (thread) => Effect.as(awaitCommitOf(Option.getOrThrow(thread)), a))))
      ).pipe(
        Effect.map(([a]) => a),
        Effect.retry({ times: COMMITTED_READ_ATTEMPTS - 1, while: (e) => e instanceof RolledBack })
      )
    }

    // --- writes ---------------------------------------------------------------------------------

    /**
     * One write Action: dedup by idempotency key, evict expired keys, run `body` (which writes only
     * when it returns Right), record the first result.
     */
    const write = <A, I, E extends OutcomeError | ValueError>(
      op: string,
      idempotencyKey: string | undefined,
      payload: unknown,
      resultSchema: Schema.Schema<A, I>,
      body: (s: ShardState, nextRevision: () => number) => Either.Either<A, E>
    ): Effect.Effect<A, E | IdempotencyError | ShardFailure> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const fp = idempotencyKey !== undefined ? fingerprint(op, payload) : 0

        const decide = (s: ShardState): Either.Either<A, E | IdempotencyError> => {
          if (idempotencyKey !== undefined) {
            const seen = s.dedup.get(idempotencyKey)
            if (seen !== undefined) {
              // A repeat: the first result, and no change at all.
              if (seen.op !== op || seen.fp !== fp) {
                return Either.left(
                  new IdempotencyKeyConflict({
                    idempotencyKey,
                    reason: seen.op !== op ? `it was used for a ${seen.op}` : "it was used for a different request"
                  })
                )
              }
              return "ok" in seen.exit
                ? Either.right(Schema.decodeUnknownSync(resultSchema)(seen.exit.ok))
                : Either.left(decodeError(seen.exit.err) as E)
            }
          }
          s.dedup.evictUpTo(now - retentionMs, EVICT_BUDGET)
          if (idempotencyKey !== undefined && s.dedup.size >= dedupOptions.maxEntries) {
            return Either.left(new DedupTableFull({ size: s.dedup.size, limit: dedupOptions.maxEntries }))
          }
          let revision = 0
          const nextRevision = () => {
            if (revision === 0) {
              revision = s.revision.get() + 1
              s.revision.set(revision)
            }
            return revision
          }
          const result = body(s, nextRevision)
          if (idempotencyKey !== undefined) {
            s.dedup.add(idempotencyKey, {
              op,
              fp,
              at: s.dedup.stamp(now),
              exit: Either.isRight(result) ? { ok: encodeResult(resultSchema, result.right) } : { err: encodeError(result.left) }
            })
          }
          return result
        }

        const action = so.action((s) => Effect.sync(() => decide(s)))
        // The Action returned the outcome as a value, so its dependency joined the caller's
        // sthread; only now does a refusal become a failure.
        return Effect.flatMap(action, (result) => (Either.isRight(result) ? Effect.succeed(result.right) : Effect.fail(result.left)))
      })

    // --- operations -----------------------------------------------------------------------------

    const get: KvShardService["get"] = (request) => {
      const invalid = checkKey(request.key)
      if (invalid) return Effect.fail(invalid)
      return read((s) => {
        const e = s.data.get(request.key)
        return e ? Option.some({ value: e.v, revision: e.r }) : Option.none()
      }, request.committed)
    }

    const put: KvShardService["put"] = (request) => {
      const invalid = first<KeyError | ValueError | InvalidRequest>(
        checkKey(request.key),
        checkIdempotencyKey(request.idempotencyKey)
      )
      if (invalid) return Effect.fail(invalid)
      const size = checkValue(request.key, request.value)
      if (typeof size !== "number") return Effect.fail(size)
      const value = request.value as JsonValue
      return write("put", request.idempotencyKey, { key: request.key, value }, KvModel.PutResult, (s, next) => {
        const created = !s.data.has(request.key)
        const revision = next()
        s.data.set(request.key, { v: value, r: revision })
        return Either.right({ revision, created })
      })
    }

    const del: KvShardService["delete"] = (request) => {
      const invalid = first<KeyError | InvalidRequest>(checkKey(request.key), checkIdempotencyKey(request.idempotencyKey))
      if (invalid) return Effect.fail(invalid)
      return write("delete", request.idempotencyKey, { key: request.key }, KvModel.DeleteResult, (s, next) => {
        if (!s.data.has(request.key)) return Either.right({ existed: false, revision: s.revision.get() })
        const revision = next()
        s.data.delete(request.key)
        return Either.right({ existed: true, revision })
      })
    }

    const compareAndSet: KvShardService["compareAndSet"] = (request) => {
      const invalid = first<KeyError | ValueError | InvalidRequest>(
        checkKey(request.key),
        checkIdempotencyKey(request.idempotencyKey),
        request.expected._tag === "Revision" && (!Number.isSafeInteger(request.expected.revision) || request.expected.revision < 0)
          ? new InvalidRequest({ reason: "an expected revision is a non-negative integer (0: absent)" })
          : undefined
      )
      if (invalid) return Effect.fail(invalid)
      if (request.expected._tag === "Value") {
        const problem = findNonJson(request.expected.value, limits.maxDepth)
        if (problem) {
          return Effect.fail(
            new NotJsonValue({ key: preview(request.key), path: "expected" + problem.path.slice(1), reason: problem.reason })
          )
        }
      }
      if (request.value !== undefined) {
        const size = checkValue(request.key, request.value)
        if (typeof size !== "number") return Effect.fail(size)
      }
      const expected = request.expected
      const value = request.value as JsonValue | undefined
      return write(
        "cas",
        request.idempotencyKey,
        { key: request.key, expected, value: value ?? null, del: value === undefined },
        KvModel.CasResult,
        (s, next): Either.Either<CasResult, never> => {
          const current = s.data.get(request.key)
          const matches =
            expected._tag === "Absent"
              ? current === undefined
              : expected._tag === "Value"
                ? current !== undefined && jsonEquals(current.v, expected.value)
                : expected.revision === 0
                  ? current === undefined
                  : current !== undefined && current.r === expected.revision
          if (!matches) {
            return Either.right({
              _tag: "Mismatch",
              current: current ? Option.some({ value: current.v, revision: current.r }) : Option.none()
            })
          }
          if (value === undefined) {
            if (current === undefined) return Either.right({ _tag: "Swapped", revision: s.revision.get() })
            const revision = next()
            s.data.delete(request.key)
            return Either.right({ _tag: "Swapped", revision })
          }
          const revision = next()
          s.data.set(request.key, { v: value, r: revision })
          return Either.right({ _tag: "Swapped", revision })
        }
      )
    }

    /** A new record value, checked against the size limit (it depends on the current record). */
    const sizedRecord = (key: string, record: { readonly [k: string]: JsonValue }): ValueTooLarge | undefined => {
      const size = jsonSize(record)
      return size > limits.maxValueBytes ? new ValueTooLarge({ key: preview(key), size, limit: limits.maxValueBytes }) : undefined
    }

    const update: KvShardService["update"] = (request) => {
      const { key, op } = request
      const invalid = first<KeyError | ValueError | InvalidRequest>(
        checkKey(key),
        checkIdempotencyKey(request.idempotencyKey),
        ...(op._tag === "Increment"
          ? [checkNumber("delta", op.delta), checkNumber("min", op.min), checkNumber("max", op.max)]
          : [
              ...Object.entries(op.set).map(([field, v]) => {
                const problem = findNonJson(v, limits.maxDepth - 1)
                return problem
                  ? new NotJsonValue({ key: preview(key), path: `$${JSON.stringify([field])}${problem.path.slice(1)}`, reason: problem.reason })
                  : undefined
              })
            ])
      )
      if (invalid) return Effect.fail(invalid)
      return write("update", request.idempotencyKey, { key, op }, KvModel.UpdateResult, (s, next): Either.Either<UpdateResult, WrongType | OutOfRange | ValueTooLarge> => {
        const current = s.data.get(key)?.v
        if (op._tag === "Increment") {
          const { field, delta, min, max } = op
          let base: number
          if (field === undefined) {
            if (current !== undefined && typeof current !== "number") {
              return Either.left(new WrongType({ key, expected: "a number", actual: typeName(current) }))
            }
            base = current ?? 0
          } else {
            if (current !== undefined && !isRecord(current)) {
              return Either.left(new WrongType({ key, expected: "a record", actual: typeName(current) }))
            }
            const f = current?.[field]
            if (f !== undefined && typeof f !== "number") {
              return Either.left(new WrongType({ key, field, expected: "a number", actual: typeName(f) }))
            }
            base = f ?? 0
          }
          const result = base + delta
          if (!Number.isFinite(result) || (min !== undefined && result < min) || (max !== undefined && result > max)) {
            return Either.left(
              new OutOfRange({
                key,
                ...(field !== undefined ? { field } : {}),
                current: base,
                delta,
                ...(min !== undefined ? { min } : {}),
                ...(max !== undefined ? { max } : {})
              })
            )
          }
          let value: JsonValue = result
          if (field !== undefined) {
            const record = { ...(current as Record<string, JsonValue> | undefined), [field]: result }
            const tooLarge = sizedRecord(key, record)
            if (tooLarge) return Either.left(tooLarge)
            value = record
          }
          const revision = next()
          s.data.set(key, { v: value, r: revision })
          return Either.right({ value, revision })
        }
        if (current !== undefined && !isRecord(current)) {
          return Either.left(new WrongType({ key, expected: "a record", actual: typeName(current) }))
        }
        const record: Record<string, JsonValue> = { ...current }
        for (const [field, v] of Object.entries(op.set)) record[field] = v as JsonValue
        for (const field of op.unset ?? []) delete record[field]
        const tooLarge = sizedRecord(key, record)
        if (tooLarge) return Either.left(tooLarge)
        const revision = next()
        s.data.set(key, { v: record, r: revision })
        return Either.right({ value: record, revision })
      })
    }

    const reserve: KvShardService["reserve"] = (request) => {
      const { key, field, amount, reservationKey } = request
      const invalid = first<KeyError | InvalidRequest>(
        checkKey(key),
        checkKey(reservationKey),
        checkIdempotencyKey(request.idempotencyKey),
        !Number.isFinite(amount) || amount <= 0 ? new InvalidRequest({ reason: `a reservation amount is a positive number, got ${amount}` }) : undefined,
        reservationKey === key ? new InvalidRequest({ reason: "the reservation key must differ from the inventory key" }) : undefined
      )
      if (invalid) return Effect.fail(invalid)
      const record = (request.record ?? null) as JsonValue
      const reservation: Reservation = { $kind: "reservation", status: "held", key, field, amount, record }
      const size = checkValue(reservationKey, reservation)
      if (typeof size !== "number") return Effect.fail(size)
      return write(
        "reserve",
        request.idempotencyKey,
        { key, field, amount, reservationKey, record },
        KvModel.ReserveResult,
        (s, next): Either.Either<ReserveResult, WrongType | InsufficientInventory | ReservationConflict | ReservationCancelled | ValueTooLarge> => {
          const inventory = s.data.get(key)?.v
          if (inventory !== undefined && !isRecord(inventory)) {
            return Either.left(new WrongType({ key, expected: "a record", actual: typeName(inventory) }))
          }
          const available = inventory?.[field]
          if (available !== undefined && typeof available !== "number") {
            return Either.left(new WrongType({ key, field, expected: "a number", actual: typeName(available) }))
          }
          const existing = s.data.get(reservationKey)
          if (existing !== undefined) {
            const held = existing.v
            if (!isReservation(held)) {
              return Either.left(new ReservationConflict({ reservationKey, reason: "the key holds a value that is not a reservation" }))
            }
            if (held.status === "cancelled") return Either.left(new ReservationCancelled({ reservationKey }))
            if (held.key !== key || held.field !== field || held.amount !== amount) {
              return Either.left(
                new ReservationConflict({ reservationKey, reason: `it holds a reservation of ${held.amount} of ${held.key}.${held.field}` })
              )
            }
            // The same reservation again (a retry without an idempotency key): nothing changes.
            return Either.right({ reservation: held, remaining: available ?? 0, revision: existing.r, created: false })
          }
          const have = available ?? 0
          if (have < amount) return Either.left(new InsufficientInventory({ key, field, available: have, requested: amount }))
          const updated = { ...inventory, [field]: have - amount }
          const tooLarge = sizedRecord(key, updated)
          if (tooLarge) return Either.left(tooLarge)
          const revision = next()
          s.data.set(key, { v: updated, r: revision })
          s.data.set(reservationKey, { v: reservation as unknown as JsonValue, r: revision })
          return Either.right({ reservation, remaining: have - amount, revision, created: true })
        }
      )
    }

    const cancelReservation: KvShardService["cancelReservation"] = (request) => {
      const { reservationKey } = request
      const invalid = first<KeyError | InvalidRequest>(checkKey(reservationKey), checkIdempotencyKey(request.idempotencyKey))
      if (invalid) return Effect.fail(invalid)
      return write(
        "cancelReservation",
        request.idempotencyKey,
        { reservationKey },
        KvModel.CancelReservationResult,
        (s, next): Either.Either<CancelReservationResult, WrongType | ReservationConflict | ValueTooLarge> => {
          const existing = s.data.get(reservationKey)
          if (existing === undefined) {
            // Compensation of a reserve that never happened (or has not arrived yet): leave a tombstone.
            const revision = next()
            const tombstone: Reservation = { $kind: "reservation", status: "cancelled", key: null, field: null, amount: 0, record: null }
            s.data.set(reservationKey, { v: tombstone as unknown as JsonValue, r: revision })
            return Either.right({ _tag: "NeverReserved", revision })
          }
          const held = existing.v
          if (!isReservation(held)) {
            return Either.left(new ReservationConflict({ reservationKey, reason: "the key holds a value that is not a reservation" }))
          }
          if (held.status === "cancelled" || held.key === null || held.field === null) {
            return Either.right({ _tag: "AlreadyCancelled" })
          }
          const { key, field, amount } = held
          const inventory = s.data.get(key)?.v
          if (inventory !== undefined && !isRecord(inventory)) {
            return Either.left(new WrongType({ key, expected: "a record", actual: typeName(inventory) }))
          }
          const have = inventory?.[field]
          if (have !== undefined && typeof have !== "number") {
            return Either.left(new WrongType({ key, field, expected: "a number", actual: typeName(have) }))
          }
          const remaining = (have ?? 0) + amount
          const updated = { ...inventory, [field]: remaining }
          const tooLarge = sizedRecord(key, updated)
          if (tooLarge) return Either.left(tooLarge)
          const revision = next()
          s.data.set(key, { v: updated, r: revision })
          s.data.set(reservationKey, { v: { ...held, status: "cancelled" } as unknown as JsonValue, r: revision })
          return Either.right({ _tag: "Cancelled", restored: amount, remaining, revision })
        }
      )
    }

    const scan: KvShardService["scan"] = (request) => {
      const limit = request.limit ?? DEFAULT_SCAN_LIMIT
      const prefixSize = utf8Length(request.prefix)
      const invalid = first<KeyError | InvalidRequest>(
        prefixSize > limits.maxKeyBytes ? new KeyTooLong({ key: preview(request.prefix), size: prefixSize, limit: limits.maxKeyBytes }) : undefined,
        !Number.isSafeInteger(limit) || limit < 1 || limit > limits.maxScanLimit
          ? new InvalidRequest({ reason: `a scan limit is an integer in [1, ${limits.maxScanLimit}], got ${limit}` })
          : undefined
      )
      if (invalid) return Effect.fail(invalid)
      const { prefix, after } = request
      return read((s): ScanResult => {
        const keys: Array<string> = []
        for (const key of s.data.keys()) {
          if (key.startsWith(prefix) && (after === undefined || key > after)) keys.push(key)
        }
        keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
        const page = keys.slice(0, limit)
        return {
          entries: page.map((key) => {
            const e = s.data.get(key)!
            return { key, value: e.v, revision: e.r }
          }),
          more: keys.length > limit
        }
      }, request.committed)
    }

    const batch: KvShardService["batch"] = (request) => {
      const { ops } = request
      const invalid = first<KeyError | InvalidRequest>(
        checkIdempotencyKey(request.idempotencyKey),
        ops.length === 0 ? new InvalidRequest({ reason: "a batch holds at least one write" }) : undefined,
        ops.length > limits.maxBatchOps
          ? new InvalidRequest({ reason: `a batch of ${ops.length} writes exceeds the limit of ${limits.maxBatchOps}` })
          : undefined,
        ...ops.map((o) => checkKey(o.key))
      )
      if (invalid) return Effect.fail(invalid)
      let bytes = 0
      for (const o of ops) {
        bytes += utf8Length(o.key)
        if (o._tag === "Put") {
          const size = checkValue(o.key, o.value)
          if (typeof size !== "number") return Effect.fail(size)
          bytes += size
        }
      }
      if (bytes > limits.maxBatchBytes) {
        return Effect.fail(new InvalidRequest({ reason: `a batch of ${bytes} bytes exceeds the limit of ${limits.maxBatchBytes}` }))
      }
      // Every check has passed: the Action below cannot fail half-way.
      return write("batch", request.idempotencyKey, { ops }, KvModel.BatchResult, (s, next): Either.Either<BatchResult, never> => {
        const revision = next()
        const existed = ops.map((o) => {
          const had = s.data.has(o.key)
          if (o._tag === "Put") s.data.set(o.key, { v: o.value as JsonValue, r: revision })
          else s.data.delete(o.key)
          return had
        })
        return Either.right({ revision, existed })
      })
    }

    return {
      index: options.index,
      name,
      limits,
      stateObject: so,
      get,
      put,
      delete: del,
      compareAndSet,
      update,
      reserve,
      cancelReservation,
      scan,
      batch,
      stats: () => ({
        name,
        keys: so.state.data.size,
        dedupEntries: so.state.dedup.size,
        revision: so.state.revision.get(),
        worker: so.stats()
      }),
      dump: () =>
        Array.from(so.state.data.entries())
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([key, e]) => ({ key, value: e.v, revision: e.r }))
    } satisfies KvShardService
  })

/** The shard as a layer (its StateObject lives as long as the layer). */
export const layer = (
  options: KvShardOptions
): Layer.Layer<KvShard, StateObject.StartError, Dse.Dse | CheckpointStore> => Layer.scoped(KvShard, make(options))
