/**
 * One topic partition: a StateObject (worker `broker:<topic>:<partition>`) holding the partition's
 * log, its producer dedup table, its consumer groups (offsets, processor incarnations, the last
 * step of each), the processors' state, and the outbox of step outputs bound for other partitions,
 * all in one `VersionedState.struct`. Every change is one Action, so a checkpoint or a rollback
 * always sees the log, the offsets, the dedup records and the outbox at one version.
 *
 * Rules:
 * - produce: a batch is appended atomically, in order, at the end of the log. With a producer id,
 *   batches are numbered 1, 2, 3, ... per producer: a repeat (sequence number <= the last one) is
 *   answered with the first result and appends nothing; a gap fails with SequenceGap.
 * - every event records the version it was appended in: its dependency. Speculative readers get
 *   events at once, tagged with it; committed readers get an event only once that version has
 *   committed (in order, so a committed reader never sees a gap or an event that a rollback takes back).
 * - register: a processor gets a new incarnation (the registration waits for commit, so an
 *   incarnation number is never handed out twice); every older incarnation is fenced out.
 * - step: one Action that checks the incarnation and that the consumed range starts exactly at the
 *   group's offset, then advances the offset, applies the processor's state updates and writes the
 *   outputs into the outbox; the forwarder (internal/forwarder.ts) delivers them exactly once.
 * - retention: the prefix that every group has consumed, with that consumption committed, and whose
 *   events have committed, is truncated (in the versioned state, so pruning folds it away on disk).
 *
 * Refusals decided on speculative state (SequenceGap, Fenced, AlreadyConsumed, InvalidStep,
 * OffsetOutOfRange from a commit) are released only after that state has committed.
 */
import type { CheckpointStore } from "@dse/core"
import { DependencySet, Dse, Json, RolledBack, StateObject, Sthread, VersionedCell, VersionedMap, VersionedState } from "@dse/core"
import type { Version } from "@dse/core"
import type { Scope } from "effect"
import { Clock, Duration, Effect, Either, FiberRef, Stream } from "effect"
import type { ActionFailure } from "./BrokerErrors"
import {
  AlreadyConsumed,
  EventTooLarge,
  Fenced,
  InvalidRequest,
  InvalidStep,
  OffsetOutOfRange,
  SequenceGap,
  UnknownPartition,
  UnknownTopic
} from "./BrokerErrors"
import type {
  CommitOffsetRequest,
  Event,
  EventBatch,
  EventInput,
  FetchRequest,
  ForwardRequest,
  ForwardResult,
  GetOffsetRequest,
  GroupOffset,
  PartitionInfo,
  ProduceRequest,
  ProduceResult,
  RegisterRequest,
  RegisterResult,
  StepRequest,
  StepResult,
  SubscribeRequest
} from "./BrokerModel"
import * as Forwarder from "./internal/forwarder"
import type { LinkEntry, OutboxEntry, OutboxEvent } from "./internal/forwarder"
import { CommittedOffsets } from "./internal/committedOffsets"
import { isInternal, ProducerTable } from "./internal/producers"
import { Signal } from "./internal/signal"
import * as Topics from "./Topics"

// -------------------------------------------------------------------------------------------------
// Options

export interface PartitionLimits {
  /** Largest event value, as UTF-8 JSON. Default 256 KiB. */
  readonly maxEventBytes: number
  /** Longest event key or state key, in UTF-8 bytes. Default 1 KiB. */
  readonly maxKeyBytes: number
  /** Most events in one produce. Default 1000. */
  readonly maxBatchEvents: number
  /** Most bytes (values) in one produce. Default 4 MiB. */
  readonly maxBatchBytes: number
  /** Most events a fetch returns (its default is min(this, 500)). Default 1000. */
  readonly maxFetchEvents: number
  /** Most bytes (values) a fetch returns; a single larger event is still returned alone. Default 4 MiB. */
  readonly maxFetchBytes: number
  /** Most outputs in one step. Default 10000. */
  readonly maxStepOutputs: number
  /** Most state updates in one step. Default 10000. */
  readonly maxStateUpdates: number
  /** Deepest nesting of a value. Default 64. */
  readonly maxDepth: number
  /** Longest producer id / step id, in UTF-8 bytes. Default 256. */
  readonly maxIdBytes: number
}

export const defaultLimits: PartitionLimits = {
  maxEventBytes: 256 * 1024,
  maxKeyBytes: 1024,
  maxBatchEvents: 1000,
  maxBatchBytes: 4 * 1024 * 1024,
  maxFetchEvents: 1000,
  maxFetchBytes: 4 * 1024 * 1024,
  maxStepOutputs: 10_000,
  maxStateUpdates: 10_000,
  maxDepth: 64,
  maxIdBytes: 256
}

export interface RetentionOptions {
  /** How often the truncation pass runs. Default 1 s. */
  readonly interval: Duration.DurationInput
  /** Most events truncated per pass (one Action). Default 10000. */
  readonly maxEventsPerPass: number
  /** A user producer's dedup record is kept at least this long after its last batch. Default 1 hour. */
  readonly producerRetention: Duration.DurationInput
}

export const defaultRetention: RetentionOptions = {
  interval: Duration.seconds(1),
  maxEventsPerPass: 10_000,
  producerRetention: Duration.hours(1)
}

export interface PartitionOptions {
  readonly topic: string
  readonly partition: number
  /** Every topic of the cluster (step outputs may go to any of them). */
  readonly topics: Topics.Topics
  /** Delivers a Forward message to the partition it names (locally or over the network). */
  readonly send: (request: ForwardRequest) => Effect.Effect<ForwardResult, unknown>
  readonly limits?: Partial<PartitionLimits>
  readonly retention?: Partial<RetentionOptions>
  readonly forwarder?: Partial<Forwarder.ForwarderOptions>
  /** A waiting reader looks again at least this often (a safety net: appends, commits and world-line changes wake it). Default 1 s. */
  readonly pollInterval?: Duration.DurationInput
  /** How long one pull of a subscription waits for events. Default 1 s. */
  readonly subscribeWait?: Duration.DurationInput
}

// -------------------------------------------------------------------------------------------------
// State

/** An event in the log. Short field names: every event is stored in checkpoints. */
interface StoredEvent {
  readonly k?: string
  readonly v: unknown
  /** Timestamp. */
  readonly t: number
  /** The version it was appended in. */
  readonly ver: number
  /** Size of the value (UTF-8 JSON bytes). */
  readonly n: number
}

interface Meta {
  /** First retained offset. */
  readonly start: number
  /** Next offset to write. */
  readonly end: number
}

interface GroupEntry {
  readonly offset: number
  /** Processor incarnation (0: a plain consumer group). */
  readonly inc: number
  /** The group's last step: a repeat of it is answered again instead of refused. */
  readonly step?: { readonly id: string; readonly from: number; readonly to: number }
}

export const makeState = () =>
  VersionedState.struct({
    log: VersionedMap.make<StoredEvent>(),
    meta: VersionedCell.make<Meta>({ start: 0, end: 0 }),
    producers: new ProducerTable(),
    groups: VersionedMap.make<GroupEntry>(),
    /** Processor state: `<processor>:<key>` -> value. */
    pstate: VersionedMap.make<unknown>(),
    /** Outbox links: `<topic>:<partition>` -> sequence numbers assigned and acknowledged. */
    links: VersionedMap.make<LinkEntry>(),
    /** Outbox entries: `<topic>:<partition>#<seq>`. */
    outbox: VersionedMap.make<OutboxEntry>(),
    /** Written by Actions that would otherwise change nothing, in durable mode (see README, libs issues). */
    tick: VersionedCell.make(0)
  })
export type PartitionState = ReturnType<typeof makeState>

// -------------------------------------------------------------------------------------------------
// The service

export type ProduceError = InvalidRequest | EventTooLarge | SequenceGap | ActionFailure
export type ForwardError = InvalidRequest | EventTooLarge | SequenceGap | ActionFailure
export type FetchError = InvalidRequest | OffsetOutOfRange | RolledBack
export type RegisterError = InvalidRequest | ActionFailure
export type StepError = Fenced | AlreadyConsumed | InvalidStep | UnknownTopic | UnknownPartition | EventTooLarge | InvalidRequest | ActionFailure
export type CommitOffsetError = Fenced | OffsetOutOfRange | InvalidRequest | ActionFailure

export interface PartitionService {
  readonly topic: string
  readonly partition: number
  readonly name: string
  readonly stateObject: StateObject.StateObject<PartitionState>
  readonly produce: (request: ProduceRequest) => Effect.Effect<ProduceResult, ProduceError>
  readonly forward: (request: ForwardRequest) => Effect.Effect<ForwardResult, ForwardError>
  readonly fetch: (request: FetchRequest) => Effect.Effect<EventBatch, FetchError>
  readonly subscribe: (request: SubscribeRequest) => Stream.Stream<EventBatch, FetchError>
  readonly register: (request: RegisterRequest) => Effect.Effect<RegisterResult, RegisterError>
  readonly step: (request: StepRequest) => Effect.Effect<StepResult, StepError>
  readonly commitOffset: (request: CommitOffsetRequest) => Effect.Effect<GroupOffset, CommitOffsetError>
  readonly getOffset: (request: GetOffsetRequest) => Effect.Effect<GroupOffset, ActionFailure>
  /** Forgets a group (its offset, incarnation and processor state): it no longer holds retention back. */
  readonly deleteGroup: (group: string) => Effect.Effect<boolean, InvalidRequest | ActionFailure>
  readonly info: Effect.Effect<PartitionInfo, ActionFailure>
  /** Runs one retention pass now; returns how many events it truncated. */
  readonly truncate: Effect.Effect<number, ActionFailure>
  /** The live (speculative) log, for tests and inspection. */
  readonly events: () => ReadonlyArray<Event>
  readonly forwarderStats: () => { readonly sent: number; readonly acks: number; readonly errors: number }
}

const GROUP_NAME = /^[A-Za-z0-9._-]{1,100}$/
const SOURCE_NAME = /^broker:[A-Za-z0-9._-]{1,100}:\d{1,4}$/
const EVICT_BUDGET = 8
const MAX = Number.MAX_SAFE_INTEGER

const linkKey = (topic: string, partition: number) => `${topic}:${partition}`
const outboxKey = (link: string, seq: number) => `${link}#${seq}`

const toEvent = (offset: number, e: StoredEvent): Event =>
  e.k !== undefined
    ? { offset, key: e.k, value: e.v, timestamp: e.t, version: e.ver }
    : { offset, value: e.v, timestamp: e.t, version: e.ver }

/** Starts a partition: its StateObject (restored after a restart), its forwarder and its retention pass. */
export const make = (
  options: PartitionOptions
): Effect.Effect<PartitionService, StateObject.StartError, Dse.Dse | CheckpointStore | Scope.Scope> =>
  Effect.gen(function* () {
    const limits: PartitionLimits = { ...defaultLimits, ...options.limits }
    const retention: RetentionOptions = { ...defaultRetention, ...options.retention }
    const producerRetentionMs = Duration.toMillis(Duration.decode(retention.producerRetention))
    const pollMs = Duration.toMillis(Duration.decode(options.pollInterval ?? Duration.seconds(1)))
    const subscribeWaitMs = Duration.toMillis(Duration.decode(options.subscribeWait ?? Duration.seconds(1)))
    const { topic, partition } = options
    const name = Topics.workerName(topic, partition)
    const dse = yield* Dse.Dse
    const state = makeState()
    const so = yield* StateObject.make({ name, state, kind: "broker" })
    const appended = new Signal()
    const tracker = new CommittedOffsets()
    const withDse = <A, E>(effect: Effect.Effect<A, E, Dse.Dse>): Effect.Effect<A, E> => Effect.provideService(effect, Dse.Dse, dse)

    /** The highest committed version of this partition (ephemeral: everything). */
    const committedVersion = (): number => (dse.mode === "ephemeral" ? MAX : so.stats().committed)
    /** The version the running Action is in (call inside an Action only). */
    const currentVersion = (): number => so.stats().version

    // --- Actions ---------------------------------------------------------------------------------

    /** Runs `effect` in the current sthread, or in a new one outside any (so commit waits work). */
    const ensureThread = <A, E>(effect: Effect.Effect<A, E, Dse.Dse>): Effect.Effect<A, E> =>
      withDse(
        Effect.flatMap(FiberRef.get(Sthread.currentSthread), (thread) =>
          thread ? effect : Effect.map(Dse.sthread(effect), ([a]) => a)
        )
      )

    /**
     * `Dse.awaitCommit`, checked: a commit wait that starts while this process is switching
     * world-lines (between core's failing of lost waiters and its adoption of the new world-line)
     * is not failed by core, and can then be satisfied by the new world-line's cut, whose version
     * numbers restart below the lost ones (see README, "Issues found in libs"). So once the wait
     * ends, judge the dependencies again in the world-line they were taken in.
     */
    const awaitCommitted: Effect.Effect<void, RolledBack, Dse.Dse> = Effect.flatMap(FiberRef.get(Sthread.currentSthread), (thread) => {
      if (!thread) return Effect.void
      const worldLine = thread.worldLine
      const deps = thread.deps.clone()
      return Effect.zipRight(
        Dse.awaitCommit,
        Effect.suspend(() => {
          const runtime = dse.runtime
          if (dse.mode !== "speculative" || worldLine === 0 || worldLine >= runtime.worldLine || runtime.isCoveredIn(deps, worldLine)) {
            return Effect.void
          }
          return Effect.fail(new RolledBack({ worldLine: runtime.worldLine, reason: `what this depended on in world-line ${worldLine} was lost` }))
        })
      )
    })

    /**
     * One write Action whose body decides (Right) or refuses (Left, having changed nothing). A
     * refusal is released once the state it was decided on has committed.
     */
    const write = <A, E>(body: (s: PartitionState) => Either.Either<A, E>): Effect.Effect<A, E | ActionFailure> =>
      ensureThread(
        Effect.flatMap(
          so.action((s) =>
            Effect.sync(() => {
              const result = body(s)
              // Durable mode: core's Action waits for its version to persist even when it changed nothing.
              if (dse.mode === "durable" && !s.hasChanges()) s.tick.set(s.tick.get() + 1)
              return result
            })
          ),
          (result) => (Either.isRight(result) ? Effect.succeed(result.right) : Effect.zipRight(awaitCommitted, Effect.fail(result.left)))
        )
      )

    /** A read: an Action in speculative mode (the reader depends on what it saw), a plain read otherwise. */
    const read = <A>(f: (s: PartitionState) => A): Effect.Effect<A, ActionFailure> =>
      dse.mode === "speculative" ? so.action((s) => Effect.sync(() => f(s))) : Effect.sync(() => f(state))

    const append = (s: PartitionState, events: ReadonlyArray<EventInput>, sizes: ReadonlyArray<number>, now: number): Array<number> => {
      const ver = currentVersion()
      const meta = s.meta.get()
      let end = meta.end
      const offsets: Array<number> = []
      events.forEach((e, i) => {
        const stored: StoredEvent =
          e.key !== undefined
            ? { k: e.key, v: e.value, t: e.timestamp ?? now, ver, n: sizes[i]! }
            : { v: e.value, t: e.timestamp ?? now, ver, n: sizes[i]! }
        s.log.set(String(end), stored)
        offsets.push(end)
        end++
      })
      s.meta.set({ start: meta.start, end })
      return offsets
    }

    // --- checks ----------------------------------------------------------------------------------

    const checkKey = (key: string | undefined, what: string): InvalidRequest | undefined => {
      if (key === undefined) return undefined
      if (typeof key !== "string") return new InvalidRequest({ reason: `${what} must be a string` })
      const size = Json.utf8Length(key)
      if (size > limits.maxKeyBytes) return new InvalidRequest({ reason: `${what} of ${size} bytes exceeds the limit of ${limits.maxKeyBytes}` })
      return undefined
    }

    const checkId = (id: string, what: string): InvalidRequest | undefined => {
      if (typeof id !== "string" || id.length === 0) return new InvalidRequest({ reason: `${what} must be a non-empty string` })
      const size = Json.utf8Length(id)
      if (size > limits.maxIdBytes) return new InvalidRequest({ reason: `${what} of ${size} bytes exceeds the limit of ${limits.maxIdBytes}` })
      return undefined
    }

    /** Checks a value; returns its size or the error. */
    const checkValue = (value: unknown, what: string): number | InvalidRequest | EventTooLarge => {
      const problem = Json.findNonJson(value, limits.maxDepth)
      if (problem) return new InvalidRequest({ reason: `${what}: ${problem.path}: ${problem.reason}` })
      const size = Json.jsonSize(value)
      if (size > limits.maxEventBytes) return new EventTooLarge({ what, size, limit: limits.maxEventBytes })
      return size
    }

    /** Checks a batch of events; returns their sizes or the error. */
    const checkEvents = (
      events: ReadonlyArray<EventInput>,
      maxEvents: number,
      maxBytes: number
    ): ReadonlyArray<number> | InvalidRequest | EventTooLarge => {
      if (!Array.isArray(events) || events.length === 0) return new InvalidRequest({ reason: "a batch holds at least one event" })
      if (events.length > maxEvents) return new InvalidRequest({ reason: `a batch holds at most ${maxEvents} events, got ${events.length}` })
      const sizes: Array<number> = []
      let total = 0
      for (let i = 0; i < events.length; i++) {
        const e = events[i]!
        const bad = checkKey(e.key, `key of event ${i}`)
        if (bad) return bad
        if (e.timestamp !== undefined && !Number.isFinite(e.timestamp)) {
          return new InvalidRequest({ reason: `timestamp of event ${i} is not a finite number` })
        }
        const size = checkValue(e.value, `value of event ${i}`)
        if (typeof size !== "number") return size
        sizes.push(size)
        total += size
      }
      if (total > maxBytes) return new EventTooLarge({ what: "batch", size: total, limit: maxBytes })
      return sizes
    }

    // --- produce ---------------------------------------------------------------------------------

    const produce = (request: ProduceRequest): Effect.Effect<ProduceResult, ProduceError> => {
      const { producerId, seq } = request
      if (producerId !== undefined) {
        const bad = checkId(producerId, "producer id")
        if (bad) return Effect.fail(bad)
        if (isInternal(producerId)) return Effect.fail(new InvalidRequest({ reason: `producer ids starting with "@" are reserved` }))
        if (seq === undefined || !Number.isSafeInteger(seq) || seq < 1) {
          return Effect.fail(new InvalidRequest({ reason: "a producer id needs a sequence number (1, 2, 3, ...)" }))
        }
      } else if (seq !== undefined) {
        return Effect.fail(new InvalidRequest({ reason: "a sequence number needs a producer id" }))
      }
      const sizes = checkEvents(request.events, limits.maxBatchEvents, limits.maxBatchBytes)
      if (!Array.isArray(sizes)) return Effect.fail(sizes as InvalidRequest | EventTooLarge)
      return Effect.flatMap(Clock.currentTimeMillis, (now) =>
        write((s): Either.Either<ProduceResult, SequenceGap> => {
          if (producerId !== undefined) {
            const entry = s.producers.get(producerId)
            if (entry !== undefined) {
              if (seq! <= entry.seq) {
                return Either.right({ topic, partition, offsets: seq === entry.seq ? entry.offsets : [], duplicate: true })
              }
              if (seq !== entry.seq + 1) return Either.left(new SequenceGap({ producerId, expected: entry.seq + 1, received: seq! }))
            }
          }
          const offsets = append(s, request.events, sizes, now)
          if (producerId !== undefined) s.producers.set(producerId, { seq: seq!, offsets, at: s.producers.stamp(now) })
          s.producers.evictUpTo(now - producerRetentionMs, EVICT_BUDGET)
          return Either.right({ topic, partition, offsets, duplicate: false })
        })
      ).pipe(Effect.tap(() => appended.notify()))
    }

    const forward = (request: ForwardRequest): Effect.Effect<ForwardResult, ForwardError> => {
      if (typeof request.source !== "string" || !SOURCE_NAME.test(request.source)) {
        return Effect.fail(new InvalidRequest({ reason: `forward from ${JSON.stringify(request.source)}: not a partition` }))
      }
      const batches = request.batches
      if (!Array.isArray(batches) || batches.length === 0) return Effect.fail(new InvalidRequest({ reason: "a forward holds at least one batch" }))
      const sizes: Array<ReadonlyArray<number>> = []
      for (let i = 0; i < batches.length; i++) {
        if (i > 0 && batches[i]!.seq !== batches[i - 1]!.seq + 1) {
          return Effect.fail(new InvalidRequest({ reason: "forwarded batches must have consecutive sequence numbers" }))
        }
        const checked = checkEvents(batches[i]!.events, limits.maxStepOutputs, MAX)
        if (!Array.isArray(checked)) return Effect.fail(checked as InvalidRequest | EventTooLarge)
        sizes.push(checked)
      }
      const producerId = `@${request.source}`
      return Effect.flatMap(Clock.currentTimeMillis, (now) =>
        write((s): Either.Either<ForwardResult, SequenceGap> => {
          let last = s.producers.get(producerId)?.seq ?? 0
          const first = batches[0]!.seq
          if (first > last + 1) return Either.left(new SequenceGap({ producerId, expected: last + 1, received: first }))
          let count = 0
          batches.forEach((b, i) => {
            if (b.seq <= last) return
            append(s, b.events, sizes[i]!, now)
            last = b.seq
            count++
          })
          if (count > 0) s.producers.set(producerId, { seq: last, offsets: [], at: s.producers.stamp(now) })
          return Either.right({ appended: count, last })
        })
      ).pipe(Effect.tap(() => appended.notify()))
    }

    // --- read ------------------------------------------------------------------------------------

    interface Read {
      readonly batch: EventBatch
      /** Set when the next event exists but is not deliverable yet: the version to wait for. */
      readonly pending: number | undefined
    }

    const readBatch = (from: number, committedOnly: boolean, max: number): Read | OffsetOutOfRange => {
      const meta = state.meta.get()
      if (from < meta.start || from > meta.end) return new OffsetOutOfRange({ offset: from, start: meta.start, end: meta.end })
      const st = so.stats()
      const committed = dse.mode === "ephemeral" ? MAX : st.committed
      const limit = committedOnly ? committed : MAX
      const events: Array<Event> = []
      let bytes = 0
      let pending: number | undefined
      for (let o = from; o < meta.end && events.length < max; o++) {
        const e = state.log.get(String(o))
        if (e === undefined) break
        if (e.ver > limit) {
          // Wait for this event's version: versions commit in order, so it is the first to deliver.
          pending = e.ver
          break
        }
        if (events.length > 0 && bytes + e.n > limits.maxFetchBytes) break
        events.push(toEvent(o, e))
        bytes += e.n
      }
      const next = from + events.length
      return {
        batch: {
          topic,
          partition,
          worker: so.id,
          worldLine: st.worldLine,
          committed: committed === MAX ? st.version : committed,
          events,
          next,
          start: meta.start,
          end: meta.end
        },
        pending
      }
    }

    const fetch = (request: FetchRequest): Effect.Effect<EventBatch, FetchError> =>
      Effect.gen(function* () {
        const { from } = request
        if (!Number.isSafeInteger(from) || from < 0) return yield* new InvalidRequest({ reason: `bad offset ${from}` })
        const max = Math.max(1, Math.min(request.maxEvents ?? Math.min(500, limits.maxFetchEvents), limits.maxFetchEvents))
        // Durable mode sends nothing before it is persisted (= committed): every read is committed.
        const committedOnly = request.mode === "committed" || dse.mode === "durable"
        const started = yield* Clock.currentTimeMillis
        const deadline = started + (request.waitMs ?? 0)
        for (;;) {
          const ticket = appended.next()
          if (request.mode === "speculative" && request.worldLine !== undefined && dse.mode === "speculative") {
            const worldLine = so.stats().worldLine
            if (worldLine !== request.worldLine) {
              return yield* new RolledBack({
                worldLine,
                reason: `partition ${name} moved from world-line ${request.worldLine} to ${worldLine}: events read speculatively may be gone`
              })
            }
          }
          const result = readBatch(from, committedOnly, max)
          if (result instanceof OffsetOutOfRange) return yield* Effect.fail(result)
          const now = yield* Clock.currentTimeMillis
          if (result.batch.events.length > 0 || now >= deadline) {
            if (!committedOnly && dse.mode === "speculative" && result.batch.events.length > 0) {
              // The reply carries the events' dependency (and a caller outside the domain waits for it).
              const newest = result.batch.events[result.batch.events.length - 1]!.version
              const thread = yield* FiberRef.get(Sthread.currentSthread)
              if (thread && newest > result.batch.committed) thread.deps.add(so.id, newest as Version)
            }
            return result.batch
          }
          const wait = Duration.millis(Math.max(1, Math.min(deadline - now, pollMs)))
          if (result.pending !== undefined && dse.mode === "speculative") {
            const thread = new Sthread.Sthread(result.batch.worldLine, DependencySet.of([so.id, result.pending as Version]))
            yield* withDse(Dse.awaitCommitOf(thread)).pipe(Effect.timeout(wait), Effect.ignore)
            // The wait can end at once without this partition's committed version moving: while this
            // process switches world-lines it fails (RolledBack) or succeeds (the new world-line's
            // recovery cut covers the version) before the partition has adopted the new world-line.
            // Reading again at once then spins on microtasks only, starving the timers and I/O (the
            // sqlite store's replies) that the adoption needs: a livelock (README, "Known issues").
            // So wait for a real change: an append, or this partition's world-line change (the
            // watcher below notifies `appended`), bounded by `wait`.
            if (so.stats().committed < result.pending) yield* ticket.pipe(Effect.timeout(wait), Effect.ignore)
          } else {
            yield* ticket.pipe(Effect.timeout(wait), Effect.ignore)
          }
        }
      })

    const subscribe = (request: SubscribeRequest): Stream.Stream<EventBatch, FetchError> =>
      Stream.unwrap(
        Effect.sync(() => {
          let from = request.from
          let worldLine = request.worldLine
          const pull = Effect.suspend(() =>
            fetch({
              topic,
              partition,
              from,
              mode: request.mode,
              waitMs: subscribeWaitMs,
              ...(request.maxEvents !== undefined ? { maxEvents: request.maxEvents } : {}),
              ...(worldLine !== undefined ? { worldLine } : {})
            })
          ).pipe(
            Effect.tap((batch) =>
              Effect.sync(() => {
                from = batch.next
                if (request.mode === "speculative" && worldLine === undefined) worldLine = batch.worldLine
              })
            )
          )
          return Stream.repeatEffect(pull).pipe(Stream.filter((batch) => batch.events.length > 0))
        })
      )

    // --- groups and processors -------------------------------------------------------------------

    const checkGroup = (group: string, what: string): InvalidRequest | undefined =>
      typeof group === "string" && GROUP_NAME.test(group)
        ? undefined
        : new InvalidRequest({ reason: `${what} ${JSON.stringify(group)}: letters, digits, ".", "_", "-" (1..100)` })

    const snapshotOf = (s: PartitionState, processor: string): Array<readonly [string, unknown]> => {
      const prefix = `${processor}:`
      const out: Array<readonly [string, unknown]> = []
      for (const [k, v] of s.pstate) if (k.startsWith(prefix)) out.push([k.slice(prefix.length), v])
      return out
    }

    const register = (request: RegisterRequest): Effect.Effect<RegisterResult, RegisterError> => {
      const bad = checkGroup(request.processor, "processor")
      if (bad) return Effect.fail(bad)
      const once = Dse.sthread(
        Effect.gen(function* () {
          const result = yield* so.action((s) =>
            Effect.sync(() => {
              const meta = s.meta.get()
              const group = s.groups.get(request.processor)
              const incarnation = (group?.inc ?? 0) + 1
              const offset = group ? Math.max(group.offset, meta.start) : request.startFrom === "latest" ? meta.end : meta.start
              s.groups.set(request.processor, { offset, inc: incarnation })
              if (!group || group.offset !== offset) {
                tracker.record(so.stats().restores, request.processor, currentVersion(), group?.offset ?? meta.start, offset)
              }
              return { incarnation, offset, state: snapshotOf(s, request.processor), worker: so.id }
            })
          )
          // An incarnation is handed out only once it has committed: a rollback can never give it twice.
          yield* awaitCommitted
          return { ...result, worldLine: so.stats().worldLine }
        })
      )
      return withDse(once).pipe(
        Effect.map(([result]) => result),
        Effect.retry({ times: 4, while: (e) => e._tag === "RolledBack" })
      )
    }

    const step = (request: StepRequest): Effect.Effect<StepResult, StepError> => {
      const { processor } = request
      const invalid = (reason: string) => Effect.fail(new InvalidStep({ processor, reason }))
      const bad = checkGroup(processor, "processor") ?? checkId(request.stepId, "step id")
      if (bad) return Effect.fail(bad)
      if (!Number.isSafeInteger(request.from) || !Number.isSafeInteger(request.to) || request.from < 0 || request.to < request.from) {
        return invalid(`bad range [${request.from}, ${request.to})`)
      }
      if (request.outputs.length > limits.maxStepOutputs) return invalid(`at most ${limits.maxStepOutputs} outputs per step`)
      if (request.state.length > limits.maxStateUpdates) return invalid(`at most ${limits.maxStateUpdates} state updates per step`)
      const sizes: Array<number> = []
      for (let i = 0; i < request.outputs.length; i++) {
        const o = request.outputs[i]!
        const t = options.topics.get(o.topic)
        if (!t) return Effect.fail(new UnknownTopic({ topic: o.topic }))
        if (!Number.isInteger(o.partition) || o.partition < 0 || o.partition >= t.partitions) {
          return Effect.fail(new UnknownPartition({ topic: o.topic, partition: o.partition, partitions: t.partitions }))
        }
        const badKey = checkKey(o.key, `key of output ${i}`)
        if (badKey) return Effect.fail(badKey)
        const size = checkValue(o.value, `value of output ${i}`)
        if (typeof size !== "number") return Effect.fail(size)
        sizes.push(size)
      }
      for (let i = 0; i < request.state.length; i++) {
        const u = request.state[i]!
        const badKey = checkKey(u.key, `state key ${i}`)
        if (badKey) return Effect.fail(badKey)
        if (u._tag === "Set") {
          const size = checkValue(u.value, `state value ${JSON.stringify(u.key)}`)
          if (typeof size !== "number") return Effect.fail(size)
        }
      }
      return Effect.flatMap(Clock.currentTimeMillis, (now) =>
        write((s): Either.Either<StepResult, Fenced | AlreadyConsumed | InvalidStep> => {
          const group = s.groups.get(processor)
          if (!group || group.inc !== request.incarnation) {
            return Either.left(new Fenced({ processor, incarnation: request.incarnation, current: group?.inc ?? 0 }))
          }
          if (group.step !== undefined && group.step.id === request.stepId) {
            if (group.step.from === request.from && group.step.to === request.to) {
              return Either.right({ offset: group.offset, duplicate: true, outputs: request.outputs.length })
            }
            return Either.left(new InvalidStep({ processor, reason: `step id ${request.stepId} was used for another range` }))
          }
          if (request.from < group.offset) return Either.left(new AlreadyConsumed({ processor, from: request.from, offset: group.offset }))
          if (request.from > group.offset) {
            return Either.left(
              new InvalidStep({ processor, reason: `the step starts at ${request.from} but the group's offset is ${group.offset}: it would skip events` })
            )
          }
          const meta = s.meta.get()
          if (request.to > meta.end) {
            return Either.left(new InvalidStep({ processor, reason: `the step consumes up to ${request.to} but the partition ends at ${meta.end}` }))
          }
          const ver = currentVersion()
          s.groups.set(processor, { offset: request.to, inc: group.inc, step: { id: request.stepId, from: request.from, to: request.to } })
          if (request.to !== group.offset) tracker.record(so.stats().restores, processor, ver, group.offset, request.to)
          const prefix = `${processor}:`
          for (const u of request.state) {
            if (u._tag === "Set") s.pstate.set(prefix + u.key, u.value)
            else s.pstate.delete(prefix + u.key)
          }
          const byTarget = new Map<string, { topic: string; partition: number; events: Array<OutboxEvent> }>()
          for (const o of request.outputs) {
            const key = linkKey(o.topic, o.partition)
            let target = byTarget.get(key)
            if (!target) {
              target = { topic: o.topic, partition: o.partition, events: [] }
              byTarget.set(key, target)
            }
            target.events.push(o.key !== undefined ? { key: o.key, value: o.value, timestamp: now } : { value: o.value, timestamp: now })
          }
          for (const [key, target] of byTarget) {
            const link = s.links.get(key) ?? { topic: target.topic, partition: target.partition, next: 1, acked: 1 }
            s.outbox.set(outboxKey(key, link.next), { seq: link.next, ver, events: target.events })
            s.links.set(key, { ...link, next: link.next + 1 })
          }
          return Either.right({ offset: request.to, duplicate: false, outputs: request.outputs.length })
        })
      ).pipe(Effect.tap(() => forwarder.wake()))
    }

    const commitOffset = (request: CommitOffsetRequest): Effect.Effect<GroupOffset, CommitOffsetError> => {
      const bad = checkGroup(request.group, "group")
      if (bad) return Effect.fail(bad)
      if (!Number.isSafeInteger(request.offset) || request.offset < 0) return Effect.fail(new InvalidRequest({ reason: `bad offset ${request.offset}` }))
      return write((s): Either.Either<GroupOffset, Fenced | OffsetOutOfRange> => {
        const group = s.groups.get(request.group)
        const current = group?.inc ?? 0
        if ((current > 0 || request.incarnation !== undefined) && request.incarnation !== current) {
          return Either.left(new Fenced({ processor: request.group, incarnation: request.incarnation ?? 0, current }))
        }
        const meta = s.meta.get()
        if (request.offset < meta.start || request.offset > meta.end) {
          return Either.left(new OffsetOutOfRange({ offset: request.offset, start: meta.start, end: meta.end }))
        }
        if (group?.offset !== request.offset) {
          s.groups.set(request.group, group ? { ...group, offset: request.offset } : { offset: request.offset, inc: 0 })
          // A new group holds everything retained until its creation commits.
          tracker.record(so.stats().restores, request.group, currentVersion(), group?.offset ?? meta.start, request.offset)
        }
        return Either.right({ group: request.group, offset: request.offset, incarnation: current })
      })
    }

    const getOffset = (request: GetOffsetRequest): Effect.Effect<GroupOffset, ActionFailure> =>
      read((s) => {
        const group = s.groups.get(request.group)
        return { group: request.group, offset: group ? group.offset : null, incarnation: group?.inc ?? 0 }
      })

    const deleteGroup = (group: string): Effect.Effect<boolean, InvalidRequest | ActionFailure> => {
      const bad = checkGroup(group, "group")
      if (bad) return Effect.fail(bad)
      return write((s) => {
        const existed = s.groups.delete(group)
        const prefix = `${group}:`
        for (const k of Array.from(s.pstate.keys())) if (k.startsWith(prefix)) s.pstate.delete(k)
        tracker.forget(group)
        return Either.right(existed)
      })
    }

    // --- retention -------------------------------------------------------------------------------

    /** The end of the committed prefix: versions grow with offsets, so a binary search finds it. */
    const committedEnd = (s: PartitionState, committed: number): number => {
      const meta = s.meta.get()
      let lo = meta.start
      let hi = meta.end
      while (lo < hi) {
        const mid = Math.floor((lo + hi) / 2)
        const e = s.log.get(String(mid))
        if (e !== undefined && e.ver <= committed) lo = mid + 1
        else hi = mid
      }
      return lo
    }

    const truncate: Effect.Effect<number, ActionFailure> = Effect.suspend(() => {
      if (state.groups.size === 0) return Effect.succeed(0)
      const st = so.stats()
      const committed = committedVersion()
      const meta = state.meta.get()
      let low = committedEnd(state, committed)
      for (const [group, entry] of state.groups) low = Math.min(low, tracker.committed(st.restores, group, entry.offset, committed))
      const target = Math.min(low, meta.start + retention.maxEventsPerPass)
      if (target <= meta.start) return Effect.succeed(0)
      return write((s) => {
        const m = s.meta.get()
        const to = Math.min(target, m.end)
        if (to <= m.start) return Either.right(0)
        for (let o = m.start; o < to; o++) s.log.delete(String(o))
        s.meta.set({ start: to, end: m.end })
        return Either.right(to - m.start)
      })
    })

    const info: Effect.Effect<PartitionInfo, ActionFailure> = read((s) => {
      const st = so.stats()
      const committed = committedVersion()
      const meta = s.meta.get()
      return {
        topic,
        partition,
        worker: so.id,
        name,
        worldLine: st.worldLine,
        version: st.version,
        committedVersion: committed === MAX ? st.version : committed,
        start: meta.start,
        end: meta.end,
        committedEnd: committedEnd(s, committed),
        groups: Array.from(s.groups, ([group, g]) => ({ group, offset: g.offset, incarnation: g.inc })),
        producers: s.producers.size,
        outbox: s.outbox.size,
        stateEntries: s.pstate.size
      }
    })

    // --- background work -------------------------------------------------------------------------

    const forwarder = Forwarder.make(
      {
        name,
        id: () => so.id,
        worldLine: () => so.stats().worldLine,
        committedVersion,
        sendableVersion: () => (dse.mode === "durable" ? so.stats().persisted : MAX),
        links: () => state.links.entries(),
        entry: (target, seq) => state.outbox.get(outboxKey(target, seq)),
        send: options.send,
        commitStatus: (deps, worldLine) => {
          if (dse.mode !== "speculative") return "committed"
          const runtime = dse.runtime
          if (worldLine === runtime.worldLine) return runtime.isCovered(deps) ? "committed" : "pending"
          return runtime.isCoveredIn(deps, worldLine) ? "committed" : "lost"
        },
        ack: (acks) =>
          write((s) => {
            for (const [target, upTo] of acks) {
              const link = s.links.get(target)
              if (!link) continue
              const to = Math.min(upTo, link.next)
              if (to <= link.acked) continue
              for (let seq = link.acked; seq < to; seq++) s.outbox.delete(outboxKey(target, seq))
              s.links.set(target, { ...link, acked: to })
            }
            return Either.right(undefined)
          })
      },
      { ...Forwarder.defaultOptions, ...options.forwarder }
    )
    yield* Effect.forkScoped(withDse(forwarder.run))
    // World-line changes wake speculative readers (to fail them) and the forwarder (to send again).
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.gen(function* () {
          const before = so.stats().worldLine
          yield* dse.runtime.awaitWorldLine(Math.max(before, dse.worldLine()) + 1)
          if (so.stats().worldLine !== before) {
            appended.notify()
            forwarder.wake()
          }
        })
      )
    )
    yield* Effect.forkScoped(
      Effect.forever(Effect.zipRight(Effect.sleep(retention.interval), Effect.ignore(truncate)))
    )

    return {
      topic,
      partition,
      name,
      stateObject: so,
      produce,
      forward,
      fetch,
      subscribe,
      register,
      step,
      commitOffset,
      getOffset,
      deleteGroup,
      info,
      truncate,
      events: () => {
        const meta = state.meta.get()
        const out: Array<Event> = []
        for (let o = meta.start; o < meta.end; o++) {
          const e = state.log.get(String(o))
          if (e) out.push(toEvent(o, e))
        }
        return out
      },
      forwarderStats: forwarder.stats
    } satisfies PartitionService
  })
