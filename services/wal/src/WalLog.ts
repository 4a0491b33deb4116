/**
 * One write-ahead log: a StateObject (worker `wal` by default) whose state is the log's entries,
 * its bounds and its producer table, in one `VersionedState.struct` (see internal/logState.ts for
 * the checkpoint layout). Every change is one Action.
 *
 * Operations:
 * - `append` (one entry or a batch): one Action, consecutive LSNs, all or nothing. With a producer
 *   `(id, seq)` the append is deduplicated: a retry of a sequence number the log still remembers
 *   returns the original LSNs and appends nothing; the producer table lives in the same versioned
 *   state as the entries, so a rollback takes both back together.
 * - `scan(from, to?, limit, mode)`: a page of entries. `speculative` reads run as an Action in the
 *   caller's sthread, which then depends on what it saw. `committed` reads return only the
 *   committed prefix, and never wait for anything: the log tracks, per uncommitted version, its
 *   bounds after that version, and the committed bounds are those of the newest version at or
 *   below its committed version in the cluster's cut (see README "Committed reads"). `waitMs`
 *   turns a scan into a long-poll.
 * - `tail(from, mode)`: a Stream of new entries as they are appended (speculative) or as they
 *   commit (committed). A speculative tail whose sthread saw an entry that a rollback removed fails
 *   with `RolledBack` (the follower's sthread is lost); the follower resubscribes.
 * - `truncate(upTo)`: deletes the entries below `upTo`, which must be within the committed prefix
 *   (TruncateBeyondCommitted otherwise). Entries are reclaimed physically once the truncation
 *   commits.
 *
 * A call made outside any sthread is outside the DSE domain (SPEC 3.6): writes run in a new sthread
 * and return only after they commit; reads are committed reads.
 *
 * Rules every operation follows (as in the KV): input checks first (an invalid request fails
 * before any Action and changes nothing); outcome errors decided on speculative state are released
 * only after that state commits.
 */
import type { CheckpointStore, Version } from "@dse/core"
import { DependencySet, Dse, RolledBack, StateObject, Sthread, VersionedState } from "@dse/core"
import type { FutureWorldLine, StateObjectFailed } from "@dse/core"
import type { Scope } from "effect"
import { Chunk, Clock, Context, Duration, Effect, Either, FiberRef, Layer, Stream } from "effect"
import type { AppendError, ScanError, TruncateError } from "./WalErrors"
import {
  BatchTooLarge,
  EntryTooLarge,
  InvalidRequest,
  LsnTruncated,
  NotJson,
  ProducerTableFull,
  SequenceConflict,
  SequenceGap,
  SequenceTooOld,
  TruncateBeyondCommitted
} from "./WalErrors"
import type {
  AppendRequest,
  AppendResult,
  EntryData,
  JsonValue,
  ReadMode,
  ScanRequest,
  ScanResult,
  TailRequest,
  TruncateRequest,
  TruncateResult,
  WalEntry,
  WalInfo
} from "./WalModel"
import { Json } from "@dse/core"
import type { Bounds, StoredEntry } from "./internal/logState"
import { LogState, ProducerTable } from "./internal/logState"

const { findNonJson, jsonSize, utf8Length } = Json

// -------------------------------------------------------------------------------------------------
// Options

/**
 * The defaults fit the transport's default frame limit (1 MiB, @dse/transport `maxFrameBytes`): the
 * largest append request and the largest scan page stay below it. To raise them, raise
 * `maxFrameBytes` on the server and on every client too.
 */
export interface WalLimits {
  /** Largest entry: bytes, or UTF-8 bytes of a JSON value's text. Default 256 KiB. */
  readonly maxEntryBytes: number
  /** Most entries in one append. Default 1000. */
  readonly maxBatchEntries: number
  /** Most bytes (sum of entry sizes) in one append. Default 768 KiB. */
  readonly maxBatchBytes: number
  /** Deepest nesting of a JSON entry. Default 64. */
  readonly maxJsonDepth: number
  /** Most entries one scan returns (and largest tail batch). Default 10,000. */
  readonly maxScanEntries: number
  /**
   * Most bytes one scan page holds, counting each entry's size plus `ENTRY_OVERHEAD_BYTES` for its
   * metadata (at least one entry is always returned). Default 768 KiB.
   */
  readonly maxScanBytes: number
  /** Longest long-poll wait of a scan. Default 60 s. */
  readonly maxWaitMs: number
  /** Longest producer id, in UTF-8 bytes. Default 256. */
  readonly maxProducerIdBytes: number
}

export const defaultLimits: WalLimits = {
  maxEntryBytes: 256 * 1024,
  maxBatchEntries: 1000,
  maxBatchBytes: 768 * 1024,
  maxJsonDepth: 64,
  maxScanEntries: 10_000,
  maxScanBytes: 768 * 1024,
  maxWaitMs: 60_000,
  maxProducerIdBytes: 256
}

export interface ProducerOptions {
  /**
   * A producer's record is kept at least this long after its last append; after that it may be
   * evicted, and a retry from it would be taken for a new producer. Default 1 hour.
   */
  readonly retention: Duration.DurationInput
  /** Most producers kept; beyond it (all inside retention) appends with a new producer fail with ProducerTableFull. Default 100,000. */
  readonly maxProducers: number
  /** Sequence numbers remembered per producer (retries of older ones fail with SequenceTooOld). Default 16. */
  readonly window: number
}

export const defaultProducerOptions: ProducerOptions = {
  retention: Duration.hours(1),
  maxProducers: 100_000,
  window: 16
}

export interface WalLogOptions {
  /** The worker name. Default "wal". */
  readonly name?: string
  readonly limits?: Partial<WalLimits>
  readonly producers?: Partial<ProducerOptions>
  /**
   * How often an idle speculative tail checks whether a world-line change lost its sthread (a loss
   * of this log's own entries wakes it at once). Default 200 ms.
   */
  readonly tailHeartbeat?: Duration.DurationInput
  /** Truncated entries deleted per Action. Default 4096. */
  readonly reclaimBatch?: number
  /** How often a backlog of truncated entries is reclaimed when no append does it. Default 1 s. */
  readonly reclaimInterval?: Duration.DurationInput
}

/** What one entry's metadata (LSN, world-line, time, producer, tags) costs in a scan page, at most about. */
export const ENTRY_OVERHEAD_BYTES = 96

/** Default worker name. */
export const DEFAULT_NAME = "wal"
/** Default page size of a scan, and batch of a tail. */
export const DEFAULT_SCAN_LIMIT = 100

/** Expired producers evicted per append, at most. */
const EVICT_BUDGET = 8

// -------------------------------------------------------------------------------------------------
// State

export const makeState = () =>
  VersionedState.struct({
    log: new LogState(),
    producers: new ProducerTable()
  })
export type WalState = ReturnType<typeof makeState>

// -------------------------------------------------------------------------------------------------
// The service

/** What an Action of the log can fail with. */
export type WalFailure = RolledBack | FutureWorldLine | StateObjectFailed

export interface WalLogService {
  readonly name: string
  readonly limits: WalLimits
  readonly stateObject: StateObject.StateObject<WalState>
  readonly append: (request: AppendRequest) => Effect.Effect<AppendResult, AppendError | WalFailure>
  readonly scan: (request: ScanRequest) => Effect.Effect<ScanResult, ScanError | WalFailure>
  readonly tail: (request: TailRequest) => Stream.Stream<WalEntry, ScanError | WalFailure>
  readonly truncate: (request: TruncateRequest) => Effect.Effect<TruncateResult, TruncateError | WalFailure>
  readonly info: Effect.Effect<WalInfo>
  /** The speculative contents (every entry in `[start, end)`): for tests and inspection. */
  readonly dump: () => ReadonlyArray<WalEntry>
}

export class WalLog extends Context.Tag("@dse/wal/WalLog")<WalLog, WalLogService>() {}

const isSafeNat = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0

const toWalEntry = (lsn: number, e: StoredEntry): WalEntry => ({
  lsn,
  data: e.d,
  worldLine: e.w,
  appendedAt: e.t,
  ...(e.p !== undefined ? { producer: { id: e.p, seq: e.s! } } : {})
})

/** Starts a log: its StateObject (restored from its checkpoints after a restart). */
export const make = (
  options: WalLogOptions = {}
): Effect.Effect<WalLogService, StateObject.StartError, Dse.Dse | CheckpointStore | Scope.Scope> =>
  Effect.gen(function* () {
    const limits: WalLimits = { ...defaultLimits, ...options.limits }
    const producerOptions: ProducerOptions = { ...defaultProducerOptions, ...options.producers }
    const retentionMs = Duration.toMillis(Duration.decode(producerOptions.retention))
    const heartbeat = Duration.decode(options.tailHeartbeat ?? Duration.millis(200))
    const reclaimBatch = options.reclaimBatch ?? 4096
    const reclaimInterval = Duration.decode(options.reclaimInterval ?? Duration.seconds(1))
    const name = options.name ?? DEFAULT_NAME
    const dse = yield* Dse.Dse
    const state = makeState()
    const log = state.log
    const so = yield* StateObject.make({ name, state, kind: "wal" })
    const speculative = dse.mode === "speculative"

    const withDse = <A, E>(effect: Effect.Effect<A, E, Dse.Dse>): Effect.Effect<A, E> =>
      Effect.provideService(effect, Dse.Dse, dse)
    const currentThread = FiberRef.get(Sthread.currentSthread)

    /** The committed bounds. Durable mode: committed = persisted. Ephemeral: everything is. */
    const committedBounds = (committedVersion = so.stats().committed): Bounds =>
      dse.mode === "ephemeral" ? log.commitAll() : log.committed(committedVersion)

    /** A failure decided on (possibly speculative) state: released once that state commits. */
    const releaseAfterCommit = <E>(error: E): Effect.Effect<never, E | RolledBack> =>
      Effect.zipRight(withDse(Dse.awaitCommit), Effect.fail(error))

    /** Outside any sthread a write is from outside the domain: run it in a new sthread, return after commit. */
    const atBoundary = <A, E>(op: Effect.Effect<A, E>): Effect.Effect<A, E | RolledBack> =>
      Effect.flatMap(currentThread, (thread) =>
        thread
          ? op
          : Effect.map(withDse(Dse.sthread(Effect.flatMap(op, (a) => Effect.as(Dse.awaitCommit, a)))), ([a]) => a)
      )

    /** An Action that changes the log. Durable mode: it must persist something (see README "Known issues"). */
    const write = <A>(body: () => A): Effect.Effect<A, WalFailure> =>
      so.action(() =>
        Effect.sync(() => {
          const a = body()
          if (dse.mode === "durable" && !state.hasChanges()) log.touch()
          return a
        })
      )

    const reclaim = (committedStart: number) => {
      if (log.physStart < committedStart) log.reclaim(committedStart, reclaimBatch)
    }

    // --- input checks -----------------------------------------------------------------------------

    const checkProducer = (producer: AppendRequest["producer"]): InvalidRequest | undefined => {
      if (producer === undefined) return undefined
      if (typeof producer.id !== "string" || producer.id.length === 0) {
        return new InvalidRequest({ reason: "a producer id is a non-empty string" })
      }
      const size = utf8Length(producer.id)
      if (size > limits.maxProducerIdBytes) {
        return new InvalidRequest({ reason: `producer id of ${size} bytes exceeds the limit of ${limits.maxProducerIdBytes}` })
      }
      if (!isSafeNat(producer.seq)) {
        return new InvalidRequest({ reason: `a sequence number is a non-negative integer, got ${producer.seq}` })
      }
      return undefined
    }

    /** Checks and copies a batch (a caller's later mutation must not change the log). */
    const checkEntries = (
      entries: AppendRequest["entries"]
    ): Either.Either<{ readonly data: Array<EntryData>; readonly sizes: Array<number> }, AppendError> => {
      if (!Array.isArray(entries) || entries.length === 0) {
        return Either.left(new InvalidRequest({ reason: "an append holds at least one entry" }))
      }
      if (entries.length > limits.maxBatchEntries) {
        return Either.left(
          new BatchTooLarge({ entries: entries.length, bytes: 0, maxEntries: limits.maxBatchEntries, maxBytes: limits.maxBatchBytes })
        )
      }
      const data: Array<EntryData> = []
      const sizes: Array<number> = []
      let total = 0
      for (let index = 0; index < entries.length; index++) {
        const entry = entries[index]!
        let size: number
        if (entry?._tag === "Bytes") {
          if (!(entry.bytes instanceof Uint8Array)) {
            return Either.left(new InvalidRequest({ reason: `entry ${index}: bytes must be a Uint8Array` }))
          }
          size = entry.bytes.byteLength
          if (size > limits.maxEntryBytes) return Either.left(new EntryTooLarge({ index, size, limit: limits.maxEntryBytes }))
          data.push({ _tag: "Bytes", bytes: new Uint8Array(entry.bytes) })
        } else if (entry?._tag === "Json") {
          const problem = findNonJson(entry.value, limits.maxJsonDepth)
          if (problem) return Either.left(new NotJson({ index, path: problem.path, reason: problem.reason }))
          size = jsonSize(entry.value)
          if (size > limits.maxEntryBytes) return Either.left(new EntryTooLarge({ index, size, limit: limits.maxEntryBytes }))
          data.push({ _tag: "Json", value: structuredClone(entry.value) as JsonValue })
        } else {
          return Either.left(new InvalidRequest({ reason: `entry ${index} is neither { _tag: "Bytes" } nor { _tag: "Json" }` }))
        }
        sizes.push(size)
        total += size
      }
      if (total > limits.maxBatchBytes) {
        return Either.left(
          new BatchTooLarge({ entries: entries.length, bytes: total, maxEntries: limits.maxBatchEntries, maxBytes: limits.maxBatchBytes })
        )
      }
      return Either.right({ data, sizes })
    }

    const checkLimit = (limit: number | undefined, what: string): number | InvalidRequest => {
      const n = limit ?? DEFAULT_SCAN_LIMIT
      return Number.isSafeInteger(n) && n >= 1 && n <= limits.maxScanEntries
        ? n
        : new InvalidRequest({ reason: `${what} is an integer in [1, ${limits.maxScanEntries}], got ${n}` })
    }

    // --- append -----------------------------------------------------------------------------------

    type Outcome = SequenceGap | SequenceTooOld | SequenceConflict | ProducerTableFull

    const append: WalLogService["append"] = (request) => {
      const invalid = checkProducer(request.producer)
      if (invalid) return Effect.fail(invalid)
      const checked = checkEntries(request.entries)
      if (Either.isLeft(checked)) return Effect.fail(checked.left)
      const { data, sizes } = checked.right
      const producer = request.producer
      const count = data.length
      const bytes = sizes.reduce((a, b) => a + b, 0)
      return atBoundary(
        // Whole milliseconds (a test clock can stand between two).
        Effect.flatMap(Effect.map(Clock.currentTimeMillis, Math.floor), (now) =>
          Effect.flatMap(
            write((): Either.Either<AppendResult, Outcome> => {
              const producers = state.producers
              producers.evictExpired(now - retentionMs, EVICT_BUDGET)
              const record = producer ? producers.get(producer.id) : undefined
              if (producer) {
                if (record) {
                  const last = record.w[record.w.length - 1]![0]
                  if (producer.seq <= last) {
                    const seen = record.w.find(([seq]) => seq === producer.seq)
                    if (!seen) {
                      return Either.left(new SequenceTooOld({ producer: producer.id, received: producer.seq, oldest: record.w[0]![0] }))
                    }
                    // A cheap check that the retry is the same append (the entries are not compared).
                    if (seen[2] !== count || seen[3] !== bytes) {
                      return Either.left(
                        new SequenceConflict({
                          producer: producer.id,
                          seq: producer.seq,
                          reason: `it appended ${seen[2]} entries of ${seen[3]} bytes, the retry has ${count} of ${bytes}`
                        })
                      )
                    }
                    return Either.right({ first: seen[1], count, duplicate: true })
                  }
                  if (producer.seq !== last + 1) {
                    return Either.left(new SequenceGap({ producer: producer.id, expected: last + 1, received: producer.seq }))
                  }
                } else if (producers.size >= producerOptions.maxProducers) {
                  return Either.left(new ProducerTableFull({ size: producers.size, limit: producerOptions.maxProducers }))
                }
              }
              const stats = so.stats()
              const first = log.next
              for (let i = 0; i < count; i++) {
                log.append({
                  d: data[i]!,
                  w: stats.worldLine,
                  t: now,
                  n: sizes[i]!,
                  ...(producer ? { p: producer.id, s: producer.seq } : {})
                })
              }
              if (producer) {
                const window = [...(record?.w ?? []), [producer.seq, first, count, bytes] as const].slice(-producerOptions.window)
                producers.set(producer.id, { w: window, at: now })
              }
              log.record(stats.version)
              reclaim(committedBounds(stats.committed).start)
              return Either.right({ first, count, duplicate: false })
            }),
            (result) => {
              log.signal.notify()
              return Either.isRight(result) ? Effect.succeed(result.right) : releaseAfterCommit(result.left)
            }
          )
        )
      )
    }

    // --- reads ------------------------------------------------------------------------------------

    /**
     * The view a read takes. Outside the speculative mode, and outside any sthread (outside the DSE
     * domain), reads are committed; in durable mode committed = persisted.
     */
    const resolveMode = (requested: ReadMode | undefined, thread: Sthread.Sthread | undefined): ReadMode =>
      !speculative || requested === "committed" || thread === undefined ? "committed" : "speculative"

    const readPage = (
      view: Bounds,
      from: number,
      to: number | undefined,
      limit: number,
      maxBytes: number
    ): Either.Either<ScanResult, LsnTruncated> => {
      if (from < view.start) return Either.left(new LsnTruncated({ lsn: from, start: view.start }))
      const hi = Math.min(to ?? view.end, view.end)
      const entries: Array<WalEntry> = []
      let bytes = 0
      for (let lsn = from; lsn < hi && entries.length < limit; lsn++) {
        const e = log.get(lsn)!
        const size = e.n + ENTRY_OVERHEAD_BYTES + (e.p?.length ?? 0)
        if (entries.length > 0 && bytes + size > maxBytes) break
        entries.push(toWalEntry(lsn, e))
        bytes += size
      }
      return Either.right({ entries, next: from + entries.length, start: view.start, end: view.end })
    }

    const scanOnce = (
      mode: ReadMode,
      from: number,
      to: number | undefined,
      limit: number,
      maxBytes: number
    ): Effect.Effect<ScanResult, LsnTruncated | WalFailure> =>
      mode === "committed"
        ? Effect.suspend(() => readPage(committedBounds(), from, to, limit, maxBytes))
        : Effect.flatMap(
            so.action(() => Effect.sync(() => readPage(log.bounds, from, to, limit, maxBytes))),
            (result) => (Either.isRight(result) ? Effect.succeed(result.right) : releaseAfterCommit(result.left))
          )

    /**
     * Waits until an entry at `from` may be readable in the speculative view, or until something
     * happened that the caller's sthread must be checked against (a restore, a world-line change):
     * the next read, an Action in that sthread, then fails with RolledBack if the sthread is lost.
     */
    const waitSpeculative = (from: number): Effect.Effect<void> =>
      Effect.gen(function* () {
        const thread = yield* currentThread
        const restores = log.restores
        for (;;) {
          const wake = log.signal.subscribe()
          if (log.next > from || log.restores !== restores) return
          if (thread && thread.worldLine !== 0 && thread.worldLine !== so.stats().worldLine) return
          yield* Effect.timeoutOption(wake, heartbeat)
        }
      })

    /** Waits until the entry at `from` has committed. */
    const waitCommitted = (from: number): Effect.Effect<void> =>
      Effect.gen(function* () {
        for (;;) {
          const wake = log.signal.subscribe()
          const stats = so.stats()
          if (committedBounds(stats.committed).end > from) return
          const version = speculative && log.next > from ? log.versionHolding(from) : undefined
          if (version !== undefined) {
            // A commit wait is also a request to seal it now (SPEC 3.5). RolledBack: look again.
            const thread = new Sthread.Sthread(stats.worldLine, DependencySet.of([so.id, version as Version]))
            yield* Effect.ignore(withDse(Dse.awaitCommitOf(thread)))
            // The wait ends at once, without our committed version moving, while this process
            // switches world-lines (RolledBack, or covered by the new recovery cut before this log
            // has adopted it). Looking again at once would spin on microtasks and starve the timers
            // and store replies the switch needs (the broker's livelock): wait for a real change.
            if (so.stats().committed === stats.committed) yield* Effect.timeoutOption(wake, heartbeat)
            continue
          }
          yield* Effect.timeoutOption(wake, heartbeat)
        }
      })

    const waitAvailable = (mode: ReadMode, from: number) =>
      mode === "committed" ? waitCommitted(from) : waitSpeculative(from)

    const scan: WalLogService["scan"] = (request) => {
      const { from, to } = request
      const limit = checkLimit(request.limit, "a scan limit")
      const maxBytes = request.maxBytes ?? limits.maxScanBytes
      const waitMs = request.waitMs ?? 0
      const invalid: InvalidRequest | undefined =
        typeof limit !== "number"
          ? limit
          : !isSafeNat(from)
            ? new InvalidRequest({ reason: `from is a non-negative integer LSN, got ${from}` })
            : to !== undefined && (!isSafeNat(to) || to < from)
              ? new InvalidRequest({ reason: `to is an integer LSN at or after from (${from}), got ${to}` })
              : !Number.isSafeInteger(maxBytes) || maxBytes < 1
                ? new InvalidRequest({ reason: `maxBytes is a positive integer, got ${maxBytes}` })
                : !isSafeNat(waitMs) || waitMs > limits.maxWaitMs
                  ? new InvalidRequest({ reason: `waitMs is an integer in [0, ${limits.maxWaitMs}], got ${waitMs}` })
                  : undefined
      if (invalid) return Effect.fail(invalid)
      const pageLimit = limit as number
      const bytes = Math.min(maxBytes, limits.maxScanBytes)
      return Effect.flatMap(currentThread, (thread) => {
        const mode = resolveMode(request.mode, thread)
        const once = scanOnce(mode, from, to, pageLimit, bytes)
        if (waitMs === 0) return once
        return Effect.flatMap(once, (page) =>
          page.entries.length > 0 || (to !== undefined && from >= to)
            ? Effect.succeed(page)
            : Effect.zipRight(Effect.timeoutOption(waitAvailable(mode, from), Duration.millis(waitMs)), once)
        )
      })
    }

    const tail: WalLogService["tail"] = (request) => {
      const { from } = request
      const batch = checkLimit(request.batchSize, "a tail batch size")
      if (typeof batch !== "number") return Stream.fail(batch)
      if (!isSafeNat(from)) return Stream.fail(new InvalidRequest({ reason: `from is a non-negative integer LSN, got ${from}` }))
      return Stream.unwrap(
        Effect.map(currentThread, (thread) => {
          const mode = resolveMode(request.mode, thread)
          let pos = from
          const next: Effect.Effect<Chunk.Chunk<WalEntry>, LsnTruncated | WalFailure> = Effect.suspend(() =>
            Effect.flatMap(scanOnce(mode, pos, undefined, batch, limits.maxScanBytes), (page) => {
              if (page.entries.length === 0) return Effect.as(waitAvailable(mode, pos), Chunk.empty<WalEntry>())
              pos = page.next
              return Effect.succeed(Chunk.unsafeFromArray(page.entries as Array<WalEntry>))
            })
          )
          return Stream.repeatEffectChunk(next)
        })
      )
    }

    // --- truncate ---------------------------------------------------------------------------------

    const truncate: WalLogService["truncate"] = (request) => {
      const { upTo } = request
      if (!isSafeNat(upTo)) return Effect.fail(new InvalidRequest({ reason: `upTo is a non-negative integer LSN, got ${upTo}` }))
      return atBoundary(
        Effect.flatMap(
          write((): Either.Either<TruncateResult, TruncateBeyondCommitted> => {
            const stats = so.stats()
            const committed = committedBounds(stats.committed)
            // Decided on committed state: the error can be released at once.
            if (upTo > committed.end) return Either.left(new TruncateBeyondCommitted({ upTo, committedEnd: committed.end }))
            if (upTo <= log.start) return Either.right({ start: log.start, changed: false })
            log.truncate(upTo)
            log.record(stats.version)
            reclaim(committed.start)
            return Either.right({ start: upTo, changed: true })
          }),
          (result) => (Either.isRight(result) ? Effect.succeed(result.right) : Effect.fail(result.left))
        )
      )
    }

    // --- background reclaim -----------------------------------------------------------------------

    yield* Effect.forkScoped(
      Effect.forever(
        Effect.zipRight(
          Effect.sleep(reclaimInterval),
          Effect.suspend(() => {
            if (log.physStart >= committedBounds().start) return Effect.void
            return Effect.ignore(so.action(() => Effect.sync(() => reclaim(committedBounds().start))))
          })
        )
      )
    )

    const info: Effect.Effect<WalInfo> = Effect.sync(() => {
      const stats = so.stats()
      const committed = committedBounds(stats.committed)
      return {
        name,
        worldLine: stats.worldLine,
        start: log.start,
        end: log.next,
        committedStart: committed.start,
        committedEnd: committed.end,
        held: log.held,
        producers: state.producers.size,
        version: stats.version,
        committedVersion: stats.committed
      }
    })

    return {
      name,
      limits,
      stateObject: so,
      append,
      scan,
      tail,
      truncate,
      info,
      dump: () => {
        const out: Array<WalEntry> = []
        for (let lsn = log.start; lsn < log.next; lsn++) out.push(toWalEntry(lsn, log.get(lsn)!))
        return out
      }
    } satisfies WalLogService
  })

/** The log as a layer (its StateObject lives as long as the layer). */
export const layer = (options: WalLogOptions = {}): Layer.Layer<WalLog, StateObject.StartError, Dse.Dse | CheckpointStore> =>
  Layer.scoped(WalLog, make(options))

