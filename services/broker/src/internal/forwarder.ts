/**
 * The outbox forwarder of a partition (the DARQ-style half of a processor step).
 *
 * A step is ONE Action on the consumer's partition: it advances the group's offset, updates the
 * processor's state and writes the step's outputs into this partition's outbox, numbered per target
 * partition (1, 2, 3, ...). The forwarder then sends each target its outbox entries, in order, as a
 * Forward message from an sthread that depends on the version the entries were written in. The
 * target appends them in an Action that absorbs that dependency and deduplicates by
 * (source partition, sequence number). So:
 *
 * - if the step is lost in a rollback, so is every append that depends on it (the target's version
 *   depends on the lost version and is restored too), and stale messages are fenced by world-line;
 * - if the target loses an append (it crashed before commit), the entry is still in the outbox and
 *   is sent again after the world-line change; the target's dedup table skips what it kept;
 * - an entry leaves the outbox only after its append has committed (an `ack` Action here).
 *
 * The forwarder's bookkeeping (what was sent) is in memory: after a world-line change, a restart, or
 * any error, it starts again from the acknowledged point, and dedup makes the repeats harmless.
 */
import type { DependencySet as DependencySetType } from "@dse/core"
import { DependencySet, Sthread } from "@dse/core"
import type { Dse } from "@dse/core"
import type { Version, WorkerId } from "@dse/core"
import type { Scope } from "effect"
import { Cause, Clock, Duration, Effect } from "effect"
import type { ForwardRequest, ForwardResult } from "../BrokerModel"
import { SequenceGap } from "../BrokerErrors"
import { Signal } from "./signal"

export interface OutboxEvent {
  readonly key?: string | undefined
  readonly value: unknown
  readonly timestamp: number
}

export interface OutboxEntry {
  readonly seq: number
  /** The version of the step that wrote it. */
  readonly ver: number
  readonly events: ReadonlyArray<OutboxEvent>
}

export interface LinkEntry {
  readonly topic: string
  readonly partition: number
  /** Next sequence number to assign; 1 + the last one written. */
  readonly next: number
  /** Every entry below it has committed at the target and left the outbox. */
  readonly acked: number
}

export interface ForwarderHost {
  readonly name: string
  readonly id: () => WorkerId
  readonly worldLine: () => number
  readonly committedVersion: () => number
  /** Entries written in a version above this are not sent yet (durable mode: not persisted yet). */
  readonly sendableVersion: () => number
  readonly links: () => Iterable<readonly [string, LinkEntry]>
  readonly entry: (target: string, seq: number) => OutboxEntry | undefined
  readonly send: (request: ForwardRequest) => Effect.Effect<ForwardResult, unknown>
  /**
   * Whether `deps` (taken in `worldLine`) committed, without asking anyone to seal: acknowledging
   * must not force the pace of checkpoints (a commit wait would seal at once).
   */
  readonly commitStatus: (deps: DependencySetType, worldLine: number) => "committed" | "pending" | "lost"
  /** One Action: for each target, drop entries below `upTo` and record it as acknowledged. */
  readonly ack: (acks: ReadonlyMap<string, number>) => Effect.Effect<void, unknown>
}

export interface ForwarderOptions {
  /** Outbox entries per Forward message. Default 64. */
  readonly maxBatches: number
  /** Events per Forward message (a single larger entry is still sent alone). Default 1000. */
  readonly maxEvents: number
  /** Pause before sending again to a target after an error. Default 20 ms. */
  readonly retryDelay: Duration.DurationInput
  /** How often sent entries are checked for commit (and acknowledged). Default 50 ms. */
  readonly ackInterval: Duration.DurationInput
}

export const defaultOptions: ForwarderOptions = {
  maxBatches: 64,
  maxEvents: 1000,
  retryDelay: Duration.millis(20),
  ackInterval: Duration.millis(50)
}

export interface Forwarder {
  /** New outbox entries, a world-line change, or anything else worth a look. */
  readonly wake: () => void
  /** Runs until interrupted. */
  readonly run: Effect.Effect<never, never, Dse.Dse>
  readonly stats: () => { readonly sent: number; readonly acks: number; readonly errors: number }
}

export const make = (host: ForwarderHost, options: ForwarderOptions): Forwarder => {
  const signal = new Signal()
  const ackSignal = new Signal()
  /** Sent batches whose commit (and so acknowledgement) is awaited. */
  let awaiting: Array<{ readonly target: string; readonly upTo: number; readonly thread: Sthread.Sthread }> = []
  /** Next sequence number to send, per target (in memory: reset on world-line change and errors). */
  const sent = new Map<string, number>()
  const inFlight = new Set<string>()
  /** Targets in back-off after an error, until this time (ms, Effect clock). */
  const backoff = new Map<string, number>()
  const pendingAcks = new Map<string, number>()
  const retry = Duration.decode(options.retryDelay)
  const retryMs = Duration.toMillis(retry)
  let worldLine = host.worldLine()
  let sentCount = 0
  let ackCount = 0
  let errors = 0

  const sendBatch = (
    target: string,
    link: LinkEntry,
    entries: ReadonlyArray<OutboxEntry>
  ): Effect.Effect<void, never, Dse.Dse> => {
    const last = entries[entries.length - 1]!.seq
    let maxVer = 0
    for (const e of entries) if (e.ver > maxVer) maxVer = e.ver
    const deps: DependencySetType =
      maxVer > host.committedVersion() ? DependencySet.of([host.id(), maxVer as Version]) : DependencySet.empty()
    const thread = new Sthread.Sthread(host.worldLine(), deps)
    const request: ForwardRequest = {
      topic: link.topic,
      partition: link.partition,
      source: host.name,
      batches: entries.map((e) => ({ seq: e.seq, events: e.events.map(toInput) }))
    }
    return Sthread.within(host.send(request), thread).pipe(
      Effect.matchCauseEffect({
        onSuccess: () =>
          Effect.gen(function* () {
            sentCount += entries.length
            if ((sent.get(target) ?? 0) < last + 1) sent.set(target, last + 1)
            // The entries may leave the outbox once the append (and the step) committed.
            awaiting.push({ target, upTo: last + 1, thread })
            ackSignal.notify()
          }),
        onFailure: (cause) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) =>
            Effect.sync(() => {
              errors++
              const failure = Cause.failureOption(cause)
              const error = failure._tag === "Some" ? failure.value : undefined
              if (error instanceof SequenceGap && error.expected >= link.acked && error.expected <= link.next) {
                // The target holds less than we thought (it rolled back): resend from what it expects.
                sent.set(target, error.expected)
              } else {
                sent.delete(target)
                backoff.set(target, now + retryMs)
              }
            })
          )
      }),
      Effect.ensuring(
        Effect.sync(() => {
          inFlight.delete(target)
          signal.notify()
        })
      )
    )
  }

  /** Starts a send to every target that has unsent entries and none in flight; true when work remains. */
  const pump = (scope: Scope.Scope): Effect.Effect<boolean, never, Dse.Dse> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const wl = host.worldLine()
      if (wl !== worldLine) {
        worldLine = wl
        sent.clear()
      }
      const sendable = host.sendableVersion()
      let pending = false
      const starts: Array<Effect.Effect<void, never, Dse.Dse>> = []
      for (const [target, link] of host.links()) {
        const from = Math.max(link.acked, sent.get(target) ?? link.acked)
        if (from >= link.next) continue
        pending = true
        if (inFlight.has(target)) continue
        const until = backoff.get(target)
        if (until !== undefined) {
          if (until > now) continue
          backoff.delete(target)
        }
        const entries: Array<OutboxEntry> = []
        let events = 0
        for (let seq = from; seq < link.next && entries.length < options.maxBatches; seq++) {
          const entry = host.entry(target, seq)
          if (!entry || entry.ver > sendable) break
          if (entries.length > 0 && events + entry.events.length > options.maxEvents) break
          entries.push(entry)
          events += entry.events.length
        }
        if (entries.length === 0) continue
        inFlight.add(target)
        starts.push(sendBatch(target, link, entries))
      }
      return Effect.as(Effect.forEach(starts, (s) => Effect.forkIn(s, scope), { discard: true }), pending)
    })

  const forwardLoop = (scope: Scope.Scope): Effect.Effect<never, never, Dse.Dse> =>
    Effect.forever(
      Effect.gen(function* () {
        const ticket = signal.next()
        const pending = yield* pump(scope)
        // Work that is pending but not in flight waits for a back-off or for persistence: look again
        // soon. Otherwise sleep until woken (a step, a completed send, an ack, a world-line change).
        if (pending && inFlight.size === 0) yield* Effect.timeout(ticket, retry).pipe(Effect.ignore)
        else yield* ticket
      })
    )

  const ackLoop: Effect.Effect<never, never, Dse.Dse> = Effect.forever(
    Effect.gen(function* () {
      if (awaiting.length === 0 && pendingAcks.size === 0) {
        yield* ackSignal.next()
        return
      }
      yield* Effect.sleep(options.ackInterval)
      if (awaiting.length > 0) {
        const still: typeof awaiting = []
        for (const a of awaiting) {
          const status = host.commitStatus(a.thread.deps, a.thread.worldLine)
          if (status === "committed") {
            if ((pendingAcks.get(a.target) ?? 0) < a.upTo) pendingAcks.set(a.target, a.upTo)
          } else if (status === "pending") {
            still.push(a)
          } else {
            // Lost in a failure: send again from the acknowledged point (the target deduplicates).
            sent.delete(a.target)
            signal.notify()
          }
        }
        awaiting = still
      }
      if (pendingAcks.size === 0) return
      const acks = new Map(pendingAcks)
      pendingAcks.clear()
      const result = yield* Effect.either(host.ack(acks))
      if (result._tag === "Left") {
        for (const [t, s] of acks) if ((pendingAcks.get(t) ?? 0) < s) pendingAcks.set(t, s)
        return
      }
      ackCount++
      signal.notify()
    })
  )

  return {
    wake: () => signal.notify(),
    run: Effect.scoped(
      Effect.gen(function* () {
        const scope = yield* Effect.scope
        yield* Effect.forkIn(ackLoop, scope)
        return yield* forwardLoop(scope)
      })
    ),
    stats: () => ({ sent: sentCount, acks: ackCount, errors })
  }
}

const toInput = (e: OutboxEvent) =>
  e.key !== undefined ? { key: e.key, value: e.value, timestamp: e.timestamp } : { value: e.value, timestamp: e.timestamp }
