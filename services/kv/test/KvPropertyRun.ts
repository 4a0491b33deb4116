/**
 * (The machinery of KvProperty.test.ts.)
 *
 * The KV against a Map model, under random operations, lost messages and crashes of shards and of
 * the coordinator.
 *
 * One client runs the operations one after another; each is retried with the same idempotency
 * key(s) until it gets a committed answer (from outside the domain, or an in-domain two-shard
 * transfer that waits for its commit). Meanwhile the schedule crashes and restarts shard processes
 * and the coordinator, delays and drops messages. Since the operations are sequential, the model
 * applies each exactly once in order, and:
 *
 * - every answer the client got equals the model's answer (values, revisions, typed errors): a
 *   write applied twice, lost, or applied from a lost speculation shows up as a wrong revision or
 *   value;
 * - a repeat of an earlier request (same idempotency key) returns exactly the first answer;
 * - at the end each shard holds exactly the model's entries, revision counter and idempotency keys,
 *   and still does after every process crashes at once (everything answered was committed).
 *
 * Time is the TestClock and randomness is seeded: a failing schedule replays exactly
 * (KV_PROPERTY_SEED / KV_PROPERTY_PATH, as fast-check prints them).
 */
import { Dse } from "@dse/core"
import { Cause, Effect, Either, Exit, Fiber, Option, Queue, Random, Schedule, TestClock, TestContext } from "effect"
import * as fc from "fast-check"
import type { KvClientService } from "../src/KvClient"
import type { JsonValue } from "../src/KvModel"
import { shardOf } from "../src/KvRouting"
import { keyOn, setupKv } from "./support"

// -------------------------------------------------------------------------------------------------
// Operations and schedules

export type Op =
  | { readonly _tag: "put"; readonly key: string; readonly value: number }
  | { readonly _tag: "delete"; readonly key: string }
  | { readonly _tag: "cas"; readonly key: string; readonly expected: number | null; readonly value: number }
  | { readonly _tag: "incr"; readonly key: string; readonly delta: number }
  | { readonly _tag: "batch"; readonly writes: ReadonlyArray<readonly [key: string, value: number | null]> }
  | { readonly _tag: "transfer"; readonly from: string; readonly to: string; readonly amount: number; readonly pauseMs: number }
  | { readonly _tag: "read"; readonly key: string }

export type Step =
  /** Issue `op`, then let up to `waitMs` pass while it runs (a crash that follows may hit it mid-way). */
  | { readonly _tag: "op"; readonly op: Op; readonly waitMs: number }
  | { readonly _tag: "repeat"; readonly pick: number }
  | { readonly _tag: "crash"; readonly shard: number; readonly downMs: number }
  | { readonly _tag: "crashCoordinator"; readonly downMs: number }
  | { readonly _tag: "tick"; readonly ms: number }

export interface Schedule_ {
  readonly shards: number
  readonly sealPeriodMs: number
  readonly persistDelayMs: number
  readonly maxDelayMs: number
  readonly loss: number
  readonly seed: number
  readonly steps: ReadonlyArray<Step>
}

/** Two plain keys per shard (so that transfers cross shards). */
const plainKeys = (shards: number): ReadonlyArray<string> =>
  Array.from({ length: shards * 2 }, (_, i) => keyOn(i % shards, shards, `k${i}-`))
/** Keys of one hash tag: one shard, so a batch over them is allowed. */
const TAGGED = ["b{t}0", "b{t}1", "b{t}2"]

export const scheduleArb: fc.Arbitrary<Schedule_> = fc
  .record({
    shards: fc.integer({ min: 2, max: 3 }),
    sealPeriodMs: fc.constantFrom(10, 30),
    persistDelayMs: fc.constantFrom(0, 1, 3, 8),
    maxDelayMs: fc.constantFrom(0, 1, 3),
    loss: fc.constantFrom(0, 0, 0.05),
    seed: fc.integer()
  })
  .chain((base) => {
    const PLAIN = plainKeys(base.shards)
    const plain = fc.constantFrom(...PLAIN)
    const value = fc.integer({ min: 0, max: 9 })
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 3, arbitrary: fc.record({ _tag: fc.constant("put" as const), key: plain, value }) },
      { weight: 1, arbitrary: fc.record({ _tag: fc.constant("delete" as const), key: plain }) },
      { weight: 2, arbitrary: fc.record({ _tag: fc.constant("cas" as const), key: plain, expected: fc.option(value, { nil: null }), value }) },
      { weight: 3, arbitrary: fc.record({ _tag: fc.constant("incr" as const), key: plain, delta: fc.integer({ min: -5, max: 5 }) }) },
      {
        weight: 1,
        arbitrary: fc.record({
          _tag: fc.constant("batch" as const),
          writes: fc.array(fc.tuple(fc.constantFrom(...TAGGED), fc.option(value, { nil: null })), { minLength: 1, maxLength: 3 })
        })
      },
      {
        weight: 3,
        arbitrary: fc.record({
          _tag: fc.constant("transfer" as const),
          from: plain,
          to: plain,
          amount: fc.integer({ min: 1, max: 4 }),
          // A pause before the commit wait leaves the legs speculative longer (sealed by the period).
          pauseMs: fc.integer({ min: 0, max: 20 })
        })
      },
      { weight: 1, arbitrary: fc.record({ _tag: fc.constant("read" as const), key: fc.constantFrom(...PLAIN, ...TAGGED) }) }
    )
    const step: fc.Arbitrary<Step> = fc.oneof(
      { weight: 8, arbitrary: fc.record({ _tag: fc.constant("op" as const), op, waitMs: fc.integer({ min: 0, max: 15 }) }) },
      { weight: 1, arbitrary: fc.record({ _tag: fc.constant("repeat" as const), pick: fc.nat() }) },
      { weight: 2, arbitrary: fc.record({ _tag: fc.constant("crash" as const), shard: fc.integer({ min: 0, max: base.shards - 1 }), downMs: fc.integer({ min: 0, max: 15 }) }) },
      { weight: 1, arbitrary: fc.record({ _tag: fc.constant("crashCoordinator" as const), downMs: fc.integer({ min: 0, max: 15 }) }) },
      { weight: 3, arbitrary: fc.record({ _tag: fc.constant("tick" as const), ms: fc.integer({ min: 1, max: 10 }) }) }
    )
    return fc.record({ steps: fc.array(step, { minLength: 5, maxLength: 35 }) }).map((s) => ({ ...base, ...s }))
  })

// -------------------------------------------------------------------------------------------------
// The model

interface Entry {
  readonly value: JsonValue
  readonly revision: number
}

class Model {
  readonly data = new Map<string, Entry>()
  readonly revisions: Array<number>
  /** Idempotency keys recorded per shard. */
  readonly keys: Array<Set<string>>

  constructor(readonly shards: number) {
    this.revisions = new Array<number>(shards).fill(0)
    this.keys = Array.from({ length: shards }, () => new Set<string>())
  }

  private next(key: string): number {
    const s = shardOf(key, this.shards)
    return ++this.revisions[s]!
  }

  private record(key: string, idem: string): void {
    this.keys[shardOf(key, this.shards)]!.add(idem)
  }

  private entry(key: string) {
    const e = this.data.get(key)
    return e ? Option.some({ value: e.value, revision: e.revision }) : Option.none()
  }

  /** The answer the KV must give to `op` (as the client reports it), applying it. */
  apply(op: Op, id: string): unknown {
    switch (op._tag) {
      case "put": {
        this.record(op.key, id)
        const created = !this.data.has(op.key)
        const revision = this.next(op.key)
        this.data.set(op.key, { value: op.value, revision })
        return { revision, created }
      }
      case "delete": {
        this.record(op.key, id)
        if (!this.data.has(op.key)) return { existed: false, revision: this.revisions[shardOf(op.key, this.shards)] }
        const revision = this.next(op.key)
        this.data.delete(op.key)
        return { existed: true, revision }
      }
      case "cas": {
        this.record(op.key, id)
        const current = this.data.get(op.key)
        const matches = op.expected === null ? current === undefined : current !== undefined && current.value === op.expected
        if (!matches) return { _tag: "Mismatch", current: this.entry(op.key) }
        const revision = this.next(op.key)
        this.data.set(op.key, { value: op.value, revision })
        return { _tag: "Swapped", revision }
      }
      case "incr":
        return this.incr(op.key, op.delta, id)
      case "batch": {
        const [first] = op.writes
        this.record(first![0], id)
        const revision = this.next(first![0])
        const existed = op.writes.map(([key, value]) => {
          const had = this.data.has(key)
          if (value === null) this.data.delete(key)
          else this.data.set(key, { value, revision })
          return had
        })
        return { revision, existed }
      }
      case "transfer": {
        const debit = this.incr(op.from, -op.amount, `${id}-from`)
        if ((debit as { _tag?: string })._tag === "OutOfRange") return "insufficient"
        this.incr(op.to, op.amount, `${id}-to`)
        return "ok"
      }
      case "read":
        return this.entry(op.key)
    }
  }

  private incr(key: string, delta: number, id: string): unknown {
    this.record(key, id)
    const current = (this.data.get(key)?.value as number | undefined) ?? 0
    const result = current + delta
    if (result < 0) return { _tag: "OutOfRange", current, delta }
    const revision = this.next(key)
    this.data.set(key, { value: result, revision })
    return { value: result, revision }
  }
}

// -------------------------------------------------------------------------------------------------
// Running an operation against the KV

const TRANSIENT = new Set(["ShardUnavailable", "RolledBack", "FutureWorldLine", "StaleWorldLine"])

const retrying = <A, E extends { readonly _tag: string }>(effect: Effect.Effect<A, E, Dse.Dse>) =>
  Effect.retry(effect, { schedule: Schedule.spaced("2 millis"), while: (e) => TRANSIENT.has(e._tag) })

/** An outcome error as the model writes it. */
const asOutcome = (e: { readonly _tag: string } & Record<string, unknown>) =>
  e._tag === "OutOfRange" ? { _tag: e._tag, current: e.current, delta: e.delta } : { _tag: e._tag }

const runOp = (kv: KvClientService, op: Op, id: string): Effect.Effect<unknown, unknown, Dse.Dse> => {
  const idem = { idempotencyKey: id }
  const outcome = <A, E extends { readonly _tag: string }>(effect: Effect.Effect<A, E, Dse.Dse>) =>
    Effect.map(Effect.either(retrying(effect)), (r) =>
      Either.isRight(r) ? (r.right as unknown) : asOutcome(r.left as unknown as { _tag: string } & Record<string, unknown>)
    )
  switch (op._tag) {
    case "put":
      return outcome(kv.put(op.key, op.value, idem))
    case "delete":
      return outcome(kv.delete(op.key, idem))
    case "cas":
      return outcome(kv.compareAndSet(op.key, op.expected === null ? { _tag: "Absent" } : { _tag: "Value", value: op.expected }, op.value, idem))
    case "incr":
      return outcome(kv.increment(op.key, undefined, op.delta, { ...idem, min: 0 }))
    case "batch":
      return outcome(
        kv.batch(
          op.writes.map(([key, value]) => (value === null ? { _tag: "Delete" as const, key } : { _tag: "Put" as const, key, value })),
          idem
        )
      )
    case "read":
      return outcome(kv.get(op.key))
    case "transfer":
      // In the domain: two legs on (possibly) two shards, then a commit wait; all retried together.
      return retrying(
        Effect.map(
          Dse.sthread(
            Effect.gen(function* () {
              const debit = yield* Effect.either(kv.increment(op.from, undefined, -op.amount, { idempotencyKey: `${id}-from`, min: 0 }))
              if (Either.isLeft(debit)) {
                if (debit.left._tag !== "OutOfRange") return yield* Effect.fail(debit.left)
                yield* Dse.awaitCommit
                return "insufficient"
              }
              yield* kv.increment(op.to, undefined, op.amount, { idempotencyKey: `${id}-to` })
              if (op.pauseMs > 0) yield* Effect.sleep(`${op.pauseMs} millis`)
              yield* Dse.awaitCommit
              return "ok"
            })
          ),
          ([result]) => result
        )
      )
  }
}

// -------------------------------------------------------------------------------------------------
// One schedule

export interface RunResult {
  readonly violations: ReadonlyArray<string>
  readonly operations: number
  readonly crashes: number
  /** Rollbacks of shards that did not crash (their versions depended on lost work). */
  readonly rollbacks: number
}

const show = (x: unknown) => JSON.stringify(x, (_, v) => (Option.isOption(v) ? (Option.isSome(v) ? { some: v.value } : "none") : v))

export const runSchedule = (schedule: Schedule_): Effect.Effect<RunResult, unknown> =>
  Effect.gen(function* () {
    const { kv, live, procs, cluster, fork, client: clientProcess } = yield* setupKv({
      shards: schedule.shards,
      cluster: {
        sealPeriod: `${schedule.sealPeriodMs} millis`,
        persistDelay: `${schedule.persistDelayMs} millis`,
        faults: { delayMs: [0, schedule.maxDelayMs], requestLoss: schedule.loss, replyLoss: schedule.loss }
      }
    })
    const model = new Model(schedule.shards)
    const violations: Array<string> = []
    const issued: Array<{ readonly op: Op; readonly id: string; readonly answer: unknown }> = []
    const queue = yield* Queue.unbounded<{ readonly op: Op; readonly id: string; readonly repeat: boolean }>()
    let done = 0
    /** The operation the client is running (for debugging a stuck schedule). */
    let current = ""
    // The client: one operation at a time, each until it has a committed answer.
    const client = yield* fork(
      Effect.forever(
        Effect.flatMap(Effect.tap(Queue.take(queue), (x) => Effect.sync(() => { current = `${x.id} ${show(x.op)}` })), ({ op, id, repeat }) =>
          Effect.map(runOp(kv, op, id), (answer) => {
            done++
            const original = issued.find((i) => i.id === id)
            if (repeat) {
              if (show(answer) !== show(original?.answer)) {
                violations.push(`repeat of ${id} (${show(op)}) answered ${show(answer)}, first answer was ${show(original?.answer)}`)
              }
              return
            }
            const expected = model.apply(op, id)
            if (show(answer) !== show(expected)) violations.push(`${id} ${show(op)}: answered ${show(answer)}, model says ${show(expected)}`)
            issued.push({ op, id, answer })
          })
        )
      )
    )
    const restarts: Array<Fiber.RuntimeFiber<void, unknown>> = []
    let crashes = 0
    let offered = 0
    let n = 0
    // Money in every plain key first, so that most transfers move something.
    const prelude: ReadonlyArray<Step> = plainKeys(schedule.shards).map((key) => ({ _tag: "op", op: { _tag: "put", key, value: 50 }, waitMs: 200 }))
    for (const step of [...prelude, ...schedule.steps]) {
      switch (step._tag) {
        case "op":
          offered++
          yield* Queue.offer(queue, { op: step.op, id: `op${n++}`, repeat: false })
          for (let t = 0; t < step.waitMs && done < offered; t++) yield* TestClock.adjust("1 millis")
          break
        case "repeat": {
          // Repeat a write already answered (reads carry no idempotency key).
          const writes = issued.filter((i) => i.op._tag !== "read")
          if (writes.length === 0) break
          const target = writes[step.pick % writes.length]!
          offered++
          yield* Queue.offer(queue, { op: target.op, id: target.id, repeat: true })
          break
        }
        case "crash": {
          const p = procs[step.shard]!
          if (!p.alive()) break
          crashes++
          yield* p.crash
          restarts.push(yield* Effect.fork(Effect.zipRight(Effect.sleep(`${step.downMs} millis`), p.restart)))
          break
        }
        case "crashCoordinator": {
          if (!cluster.coordinatorUp) break
          crashes++
          yield* cluster.crashCoordinator
          restarts.push(yield* Effect.fork(Effect.zipRight(Effect.sleep(`${step.downMs} millis`), cluster.restartCoordinator)))
          break
        }
        case "tick":
          yield* TestClock.adjust(`${step.ms} millis`)
          break
      }
    }

    // Heal: no more loss, every process back, and let the client finish.
    cluster.network.faults = { delayMs: [0, schedule.maxDelayMs] }
    yield* TestClock.adjust("20 millis")
    yield* cluster.restartCoordinator
    const healing = yield* Effect.fork(Effect.forEach(procs, (p) => p.restart, { concurrency: "unbounded", discard: true }))
    for (let i = 0; i < 2000 && (done < offered || healing.unsafePoll() === null || restarts.some((r) => r.unsafePoll() === null)); i++) {
      yield* TestClock.adjust("5 millis")
    }
    if (done < offered) {
      violations.push(`${offered - done} operations still running after healing (stuck)`)
      if (process.env.KV_DEBUG) {
        const { Context } = yield* Effect.promise(() => import("effect"))
        for (const [i, p] of procs.entries()) {
          const rt = Context.get(p.context(), Dse.Dse).runtime as any
          console.log("shard", i, p.alive(), JSON.stringify(live[i]!.stats()), "waiters", Array.from(rt.commitWaiters).map((w: any) => JSON.stringify(w.deps)), "wl", rt.worldLine, JSON.stringify(Array.from(rt.cut)), "failures", rt.failuresSeen().map((f: any) => f.message))
        }
        console.log("coordinator", JSON.stringify(yield* cluster.coordinator.client.status))
        const crt = Context.get(clientProcess.context(), Dse.Dse).runtime as any
        console.log("client waiters", Array.from(crt.commitWaiters).map((w: any) => JSON.stringify(w.deps)), "wl", crt.worldLine, JSON.stringify(Array.from(crt.cut)), "current", current)
      }
    }
    const clientExit = client.unsafePoll()
    if (clientExit && Exit.isFailure(clientExit)) violations.push(`the client died: ${Cause.pretty(clientExit.cause)}`)
    yield* Fiber.interrupt(client)
    yield* TestClock.adjust("50 millis")

    const check = (when: string) => {
      for (let s = 0; s < schedule.shards; s++) {
        const shard = live[s]!
        const want = Array.from(model.data)
          .filter(([key]) => shardOf(key, schedule.shards) === s)
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([key, e]) => ({ key, value: e.value, revision: e.revision }))
        const got = shard.dump()
        if (show(got) !== show(want)) violations.push(`${when}: shard ${s} holds ${show(got)}, model ${show(want)}`)
        const stats = shard.stats()
        if (stats.revision !== model.revisions[s]) violations.push(`${when}: shard ${s} revision ${stats.revision}, model ${model.revisions[s]}`)
        if (stats.dedupEntries !== model.keys[s]!.size) {
          violations.push(`${when}: shard ${s} holds ${stats.dedupEntries} idempotency keys, model ${model.keys[s]!.size}`)
        }
      }
    }
    check("live")
    const rollbacks = live.reduce((sum, shard) => sum + shard.stats().worker.restores, 0)

    // Every process crashes at once: what survives is the committed state, which must be all of it.
    for (const p of procs) yield* p.crash
    yield* cluster.crashCoordinator
    yield* cluster.restartCoordinator
    const again = yield* Effect.fork(Effect.forEach(procs, (p) => p.restart, { concurrency: "unbounded", discard: true }))
    for (let i = 0; i < 400 && again.unsafePoll() === null; i++) yield* TestClock.adjust("5 millis")
    yield* TestClock.adjust("20 millis")
    check("after a crash of everything")
    return { violations, operations: done, crashes, rollbacks }
  }).pipe(Effect.scoped, Effect.withRandom(Random.make(schedule.seed)), Effect.provide(TestContext.TestContext))

