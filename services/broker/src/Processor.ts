/**
 * The processor library: write a stream processor as `(event, state) => Effect<outputs>` and let
 * the library do the rest.
 *
 *   const stage = Processor.make({
 *     name: "totals",                     // the consumer group; its incarnations fence each other
 *     input: "orders",
 *     output: "totals",
 *     handler: (event, state) => Effect.sync(() => {
 *       const total = (state.get(event.key!) ?? 0) + event.value.amount
 *       state.set(event.key!, total)
 *       return { key: event.key, value: total }
 *     })
 *   })
 *   yield* Processor.run(stage)           // runs until fenced out or the handler fails
 *
 * For every input partition the library registers (a new incarnation, the group's offset and the
 * processor's state on that partition), subscribes speculatively from the offset, runs the handler
 * on each batch of events inside an sthread that depends on them, and sends one step per batch
 * (consumed range, outputs, state changes) that the partition applies in one Action. After a
 * rollback (the subscription or a step fails with RolledBack), a lost connection, or a refused step,
 * it registers again and resumes from the offset the partition holds, so events whose speculative
 * consumption was lost are processed again; dedup (the step is one Action, outputs are sent once
 * per step by the partition's outbox) makes each event affect the outputs exactly once.
 *
 * The handler may run more than once for an event (after a rollback) and must not have outside side
 * effects except through `Dse.external`. Its state is per key, JSON values, held by the broker in
 * the input partition's versioned state (so it rolls back together with the offsets).
 */
import { DependencySet, Sthread } from "@dse/core"
import type { Version } from "@dse/core"
import { Cause, Duration, Effect, Schedule, Stream } from "effect"
import type { EventTooLarge, Fenced, UnknownPartition, UnknownTopic } from "./BrokerErrors"
import { InvalidRequest } from "./BrokerErrors"
import type { BrokerClientService } from "./BrokerClient"
import { BrokerClient } from "./BrokerClient"
import type { EventBatch, RegisterResult, StartFrom, StateUpdate, StepOutput } from "./BrokerModel"
import * as Topics from "./Topics"

export interface ProcessorEvent<A = unknown> {
  readonly topic: string
  readonly partition: number
  readonly offset: number
  readonly key: string | undefined
  readonly value: A
  readonly timestamp: number
}

/** An output of the handler. `topic` defaults to the processor's `output`; the partition to the key's. */
export interface Output {
  readonly topic?: string
  readonly key?: string
  readonly value: unknown
  readonly partition?: number
}

export type HandlerResult = void | undefined | Output | ReadonlyArray<Output>

/** The processor's state on the partition of the event, by key (JSON values). */
export interface StateAccess<S> {
  readonly get: (key: string) => S | undefined
  readonly set: (key: string, value: S) => void
  readonly delete: (key: string) => void
}

export interface StepInfo {
  readonly processor: string
  readonly partition: number
  readonly incarnation: number
  readonly from: number
  readonly to: number
  readonly outputs: number
  readonly duplicate: boolean
}

export interface ProcessorOptions<S, E, R> {
  /** The processor's name: its consumer group on the input topic. */
  readonly name: string
  readonly input: string
  /** Where outputs without a topic go. */
  readonly output?: string
  /** The input partitions this instance processes (default: all). */
  readonly partitions?: ReadonlyArray<number>
  readonly handler: (event: ProcessorEvent, state: StateAccess<S>) => Effect.Effect<HandlerResult, E, R>
  /** Most events per step. Default 100. */
  readonly maxBatch?: number
  /** Where a new group starts. Default earliest. */
  readonly startFrom?: StartFrom
  /** Pause before registering again after a failure. Default 20 ms. */
  readonly retryDelay?: Duration.DurationInput
  /** Called after every step the partition accepted (for metrics and tests). */
  readonly onStep?: (info: StepInfo) => void
  /** Called when the processor starts over on a partition, or a registration fails and is retried (for metrics and logs). */
  readonly onRestart?: (partition: number, reason: string) => void
}

/** A processor definition (what `run` and `Pipeline.make` take). */
export interface Processor<S, E, R> {
  readonly _tag: "Processor"
  readonly options: ProcessorOptions<S, E, R>
}

/** Failures that end a processor: it was fenced out by a newer instance, or its configuration or outputs are wrong. */
export type ProcessorError = Fenced | UnknownTopic | UnknownPartition | InvalidRequest | EventTooLarge

export const make = <S = unknown, E = never, R = never>(options: ProcessorOptions<S, E, R>): Processor<S, E, R> => ({
  _tag: "Processor",
  options
})

/** Errors after which the processor registers again and resumes from the partition's offset. */
const RESTART_TAGS = new Set([
  "RolledBack",
  "StaleWorldLine",
  "FutureWorldLine",
  "StateObjectFailed",
  "BrokerUnavailable",
  "AlreadyConsumed",
  "InvalidStep",
  "OffsetOutOfRange",
  "NotHosted",
  "UnknownWorker",
  "MalformedHeader",
  "Restart"
])

const tagOf = (e: unknown): string | undefined =>
  typeof e === "object" && e !== null && "_tag" in e && typeof e._tag === "string" ? e._tag : undefined

const isRestart = (e: unknown): boolean => {
  const tag = tagOf(e)
  // Fenced by an older incarnation than ours: our registration did not survive (start over); by a newer one: we are out.
  if (tag === "Fenced") return (e as { readonly current: number; readonly incarnation: number }).current < (e as { readonly incarnation: number }).incarnation
  return RESTART_TAGS.has(tag ?? "")
}

/** Our local view diverged from the partition's (a defensive check): start over. */
class Restart {
  readonly _tag = "Restart"
  constructor(readonly reason: string) {}
}

const describe = (e: unknown): string => {
  const message = typeof e === "object" && e !== null && "message" in e ? String(e.message) : ""
  return message.length > 0 ? message : (tagOf(e) ?? String(e))
}

const normalize = (result: HandlerResult): ReadonlyArray<Output> =>
  result === undefined || result === null ? [] : Array.isArray(result) ? (result as ReadonlyArray<Output>) : [result as Output]

/**
 * Runs the processor until it is fenced out by a newer instance, its handler fails, or it is
 * interrupted. Partitions are processed concurrently, each in order.
 */
export const run = <S, E, R>(
  processor: Processor<S, E, R> | ProcessorOptions<S, E, R>
): Effect.Effect<never, E | ProcessorError, R | BrokerClient> =>
  Effect.flatMap(BrokerClient, (client) => runWith(client, "_tag" in processor ? processor.options : processor))

export const runWith = <S, E, R>(client: BrokerClientService, options: ProcessorOptions<S, E, R>): Effect.Effect<never, E | ProcessorError, R> =>
  Effect.gen(function* () {
    const inputPartitions = yield* client.partitions(options.input)
    if (options.output !== undefined) yield* client.partitions(options.output)
    const partitions = options.partitions ?? Array.from({ length: inputPartitions }, (_, i) => i)
    for (const p of partitions) {
      if (!Number.isInteger(p) || p < 0 || p >= inputPartitions) {
        return yield* Effect.fail(new InvalidRequest({ reason: `processor ${options.name}: topic ${options.input} has no partition ${p}` }))
      }
    }
    return yield* Effect.forEach(partitions, (p) => runPartition(client, options, p), { concurrency: "unbounded", discard: true }).pipe(
      Effect.zipRight(Effect.never)
    )
  })

const runPartition = <S, E, R>(
  client: BrokerClientService,
  options: ProcessorOptions<S, E, R>,
  partition: number
): Effect.Effect<never, E | ProcessorError, R> => {
  const retry = Duration.decode(options.retryDelay ?? Duration.millis(20))
  const maxBatch = options.maxBatch ?? 100
  const { name, input } = options

  // Outside any sthread: the registration is answered once committed.
  const register: Effect.Effect<RegisterResult, ProcessorError> = Effect.locally(
    client.register({ topic: input, partition, processor: name, ...(options.startFrom !== undefined ? { startFrom: options.startFrom } : {}) }),
    Sthread.currentSthread,
    undefined
  ).pipe(
    Effect.tapError((e) => Effect.sync(() => isRestart(e) && options.onRestart?.(partition, `registration failed: ${describe(e)}`))),
    Effect.retry({ while: isRestart, schedule: Schedule.spaced(retry) })
  ) as Effect.Effect<RegisterResult, ProcessorError>

  const resolve = (o: Output, event: { readonly offset: number }, index: number): Effect.Effect<StepOutput, ProcessorError> => {
    const topic = o.topic ?? options.output
    if (topic === undefined) {
      return Effect.fail(new InvalidRequest({ reason: `processor ${name}: an output names no topic and the processor has no default output` }))
    }
    return Effect.flatMap(client.partitions(topic), (n) => {
      const p =
        o.partition ?? (o.key !== undefined ? Topics.partitionOf(o.key, n) : Topics.hash(`${input}:${partition}:${event.offset}:${index}`) % n)
      return Effect.succeed(o.key !== undefined ? { topic, partition: p, key: o.key, value: o.value } : { topic, partition: p, value: o.value })
    })
  }

  /** One incarnation: register, then consume and step until something fails. */
  const incarnation = Effect.gen(function* () {
    const reg = yield* register
    const cache = new Map<string, S>(reg.state as ReadonlyArray<readonly [string, S]>)
    let offset = reg.offset
    let steps = 0

    const processBatch = (batch: EventBatch): Effect.Effect<void, unknown, R> => {
      const events = batch.events
      if (events.length === 0) return Effect.void
      if (events[0]!.offset !== offset) {
        return Effect.fail(new Restart(`batch starts at ${events[0]!.offset}, expected ${offset}`))
      }
      let maxVersion = 0
      for (const e of events) if (e.version > maxVersion) maxVersion = e.version
      // The step depends on the events it consumed (their partition version, in their world-line).
      const thread = new Sthread.Sthread(
        batch.worldLine,
        maxVersion > batch.committed ? DependencySet.of([batch.worker as never, maxVersion as Version]) : DependencySet.empty()
      )
      const overlay = new Map<string, { readonly value: S } | undefined>()
      const state: StateAccess<S> = {
        get: (key) => (overlay.has(key) ? overlay.get(key)?.value : cache.get(key)),
        set: (key, value) => {
          overlay.set(key, { value })
        },
        delete: (key) => {
          overlay.set(key, undefined)
        }
      }
      const body = Effect.gen(function* () {
        const outputs: Array<StepOutput> = []
        for (const e of events) {
          const result = yield* options.handler(
            { topic: input, partition, offset: e.offset, key: e.key, value: e.value, timestamp: e.timestamp },
            state
          )
          const list = normalize(result)
          for (let i = 0; i < list.length; i++) outputs.push(yield* resolve(list[i]!, e, i))
        }
        const updates: Array<StateUpdate> = Array.from(overlay, ([key, v]) =>
          v === undefined ? { _tag: "Delete" as const, key } : { _tag: "Set" as const, key, value: v.value }
        )
        const to = batch.next
        const stepId = `${reg.incarnation}.${++steps}`
        const result = yield* client
          .step({ topic: input, partition, processor: name, incarnation: reg.incarnation, stepId, from: offset, to, outputs, state: updates })
          .pipe(
            // A lost reply: send the same step again (the partition answers a repeat without applying it twice).
            Effect.retry({ while: (e) => tagOf(e) === "BrokerUnavailable", times: 5, schedule: Schedule.spaced(retry) })
          )
        for (const [key, v] of overlay) {
          if (v === undefined) cache.delete(key)
          else cache.set(key, v.value)
        }
        const from = offset
        offset = to
        options.onStep?.({
          processor: name,
          partition,
          incarnation: reg.incarnation,
          from,
          to,
          outputs: outputs.length,
          duplicate: result.duplicate
        })
      })
      return Sthread.within(body, thread)
    }

    const subscription = client.subscribe({
      topic: input,
      partition,
      from: offset,
      mode: "speculative",
      maxEvents: maxBatch,
      worldLine: reg.worldLine
    })
    yield* Stream.runForEach(subscription, processBatch)
    return yield* Effect.fail(new Restart("the subscription ended"))
  })

  const loop: Effect.Effect<never, E | ProcessorError, R> = Effect.forever(
    Effect.catchAllCause(incarnation as Effect.Effect<never, unknown, R>, (cause) => {
      const failure = Cause.failureOption(cause)
      if (failure._tag === "Some" && isRestart(failure.value)) {
        const reason = failure.value instanceof Restart ? failure.value.reason : describe(failure.value)
        options.onRestart?.(partition, reason)
        return Effect.sleep(retry)
      }
      return Effect.failCause(cause as Cause.Cause<E | ProcessorError>)
    })
  ) as Effect.Effect<never, E | ProcessorError, R>
  return loop
}
