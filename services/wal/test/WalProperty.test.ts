/**
 * The property test of the WAL: several producers append batches with producer ids and sequence
 * numbers (some from outside the domain, some inside sthreads that wait for commit), retrying every
 * transient failure with the same (id, seq) and the same entries, while the log's process and the
 * coordinator crash at random points (including with checkpoints in flight) and messages are lost
 * and reordered. After healing, every entry acknowledged as committed is present, in order, exactly
 * once, at the LSNs its acknowledgement named; nothing else is in the log; and the same holds after
 * everything crashes at once.
 *
 * Two followers run meanwhile: a committed tail (outside any sthread), every entry of which must be
 * in the final log, unchanged, at its LSN (a committed reader never sees an entry that is later
 * rolled back); and a speculative tail in an sthread, resubscribed from 0 in a new sthread whenever
 * it fails: a subscription that saw an entry that is not in the final log must have ended with
 * RolledBack (a follower never continues past a rolled-back entry).
 *
 * Time is the TestClock and randomness is seeded: a failing schedule replays with
 * DSE_PROPERTY_SEED=<seed> DSE_PROPERTY_PATH=<path>; DSE_PROPERTY_RUNS=N changes the number of runs.
 */
import { describe, expect, it } from "@effect/vitest"
import { Dse } from "@dse/core"
import { Cause, Duration, Effect, Fiber, Random, Schedule, Stream, TestClock, TestContext } from "effect"
import * as fc from "fast-check"
import type { AppendResult, WalEntry } from "../src/WalModel"
import { setupWal } from "./support/cluster"

type Step =
  | { readonly _tag: "crashWal"; readonly downMs: number }
  | { readonly _tag: "crashCoordinator"; readonly downMs: number }
  | { readonly _tag: "tick"; readonly ms: number }

interface Plan {
  readonly producers: ReadonlyArray<{ readonly inSthread: boolean; readonly batches: ReadonlyArray<number> }>
  readonly persistDelayMs: number
  readonly maxDelayMs: number
  readonly loss: number
  readonly seed: number
  readonly steps: ReadonlyArray<Step>
}

const planArb: fc.Arbitrary<Plan> = fc.record({
  producers: fc.array(
    fc.record({ inSthread: fc.boolean(), batches: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 6 }) }),
    { minLength: 1, maxLength: 3 }
  ),
  persistDelayMs: fc.constantFrom(0, 1, 3),
  maxDelayMs: fc.constantFrom(0, 1, 3),
  loss: fc.constantFrom(0, 0, 0.1),
  seed: fc.integer(),
  steps: fc.array(
    fc.oneof(
      { weight: 3, arbitrary: fc.record({ _tag: fc.constant("crashWal" as const), downMs: fc.integer({ min: 0, max: 15 }) }) },
      { weight: 1, arbitrary: fc.record({ _tag: fc.constant("crashCoordinator" as const), downMs: fc.integer({ min: 0, max: 15 }) }) },
      { weight: 4, arbitrary: fc.record({ _tag: fc.constant("tick" as const), ms: fc.integer({ min: 1, max: 10 }) }) }
    ),
    { maxLength: 16 }
  )
})

interface Ack {
  readonly id: string
  readonly seq: number
  readonly result: AppendResult
  readonly values: ReadonlyArray<unknown>
}

const RETRIABLE = new Set(["WalUnavailable", "RolledBack", "FutureWorldLine", "StaleWorldLine"])

interface RunResult {
  readonly violations: ReadonlyArray<string>
  readonly appends: number
  readonly crashes: number
}

/** Checks the committed log against the acknowledgements. */
const check = (entries: ReadonlyArray<WalEntry>, acks: ReadonlyArray<Ack>, where: string): Array<string> => {
  const violations: Array<string> = []
  const byLsn = new Map(entries.map((e) => [e.lsn, e]))
  const claimed = new Map<number, string>()
  for (const ack of acks) {
    const { first, count } = ack.result
    if (count !== ack.values.length) violations.push(`${where}: ${ack.id}#${ack.seq} acknowledged ${count} entries, sent ${ack.values.length}`)
    for (let i = 0; i < count; i++) {
      const lsn = first + i
      const e = byLsn.get(lsn)
      const what = `${ack.id}#${ack.seq}[${i}]`
      if (claimed.has(lsn)) violations.push(`${where}: LSN ${lsn} acknowledged to both ${claimed.get(lsn)} and ${what}`)
      claimed.set(lsn, what)
      if (!e) {
        violations.push(`${where}: ${what} acknowledged at LSN ${lsn}, which is not in the committed log`)
        continue
      }
      if (JSON.stringify(e.data) !== JSON.stringify({ _tag: "Json", value: ack.values[i] })) {
        violations.push(`${where}: LSN ${lsn} holds ${JSON.stringify(e.data)}, ${what} was acknowledged there`)
      }
      if (e.producer?.id !== ack.id || e.producer?.seq !== ack.seq) violations.push(`${where}: LSN ${lsn} has producer ${JSON.stringify(e.producer)}, expected ${what}`)
    }
  }
  // Exactly once: nothing in the log that no acknowledgement explains (a duplicate, an orphan).
  for (const e of entries) if (!claimed.has(e.lsn)) violations.push(`${where}: LSN ${e.lsn} (${JSON.stringify(e.data)}) was never acknowledged`)
  // In order: LSNs consecutive from the start, and each producer's appends in sequence order.
  entries.forEach((e, i) => {
    if (e.lsn !== i) violations.push(`${where}: entry ${i} has LSN ${e.lsn}`)
  })
  const lastFirst = new Map<string, number>()
  for (const ack of [...acks].sort((a, b) => a.seq - b.seq)) {
    const prev = lastFirst.get(ack.id)
    if (prev !== undefined && ack.result.first <= prev) violations.push(`${where}: ${ack.id}#${ack.seq} is at ${ack.result.first}, before its predecessor at ${prev}`)
    lastFirst.set(ack.id, ack.result.first)
  }
  return violations
}

const runPlan = (plan: Plan): Effect.Effect<RunResult, unknown> =>
  Effect.gen(function* () {
    const { cluster, wal, proc, fork, runInLog, log } = yield* setupWal({
      cluster: {
        faults: { delayMs: [0, plan.maxDelayMs], requestLoss: plan.loss, replyLoss: plan.loss },
        persistDelay: `${plan.persistDelayMs} millis`
      }
    })
    const acks: Array<Ack> = []
    const violations: Array<string> = []
    let appends = 0
    const retry = Schedule.spaced(Duration.millis(2))

    const producer = (index: number, spec: Plan["producers"][number]) =>
      Effect.gen(function* () {
        const id = `p${index}`
        for (let seq = 0; seq < spec.batches.length; seq++) {
          const values = Array.from({ length: spec.batches[seq]! }, (_, i) => ({ p: id, seq, i }))
          const append = wal.appendBatch(values, { producer: { id, seq } })
          const attempt = spec.inSthread
            ? Effect.map(Dse.sthread(Effect.tap(append, () => Dse.awaitCommit)), ([r]) => r)
            : append
          const traced = process.env.DSE_PROPERTY_DEBUG
            ? Effect.gen(function* () {
                const t0 = yield* Effect.clockWith((c) => c.currentTimeMillis)
                console.log(`${id}#${seq} attempt at ${t0}`)
                const r = yield* Effect.either(attempt)
                const t1 = yield* Effect.clockWith((c) => c.currentTimeMillis)
                console.log(`${id}#${seq} -> ${JSON.stringify(r)} at ${t1}`)
                return yield* r
              })
            : attempt
          const result = yield* Effect.either(
            Effect.retry(traced, { schedule: retry, while: (e) => RETRIABLE.has((e as { _tag: string })._tag) })
          )
          if (result._tag === "Left") {
            violations.push(`${id}#${seq} failed for good: ${JSON.stringify(result.left)}`)
            return
          }
          appends++
          acks.push({ id, seq, result: result.right, values })
        }
      })

    // The committed follower: resumes from its position after a transport failure.
    const committedSeen: Array<WalEntry> = []
    const committedFollower = yield* fork(
      Effect.gen(function* () {
        let pos = 0
        for (;;) {
          const r = yield* Effect.either(
            Stream.runForEach(wal.tail(pos, { mode: "committed" }), (e) =>
              Effect.sync(() => {
                committedSeen.push(e)
                pos = e.lsn + 1
              })
            )
          )
          if (r._tag === "Left" && r.left._tag !== "WalUnavailable") {
            violations.push(`the committed follower failed: ${JSON.stringify(r.left)}`)
            return
          }
          yield* Effect.sleep("5 millis")
        }
      })
    )
    // The speculative follower: a new sthread and a new subscription from 0 after each failure.
    const subscriptions: Array<{ readonly seen: Array<WalEntry>; end?: string }> = []
    const speculativeFollower = yield* fork(
      Effect.gen(function* () {
        for (;;) {
          const sub: { readonly seen: Array<WalEntry>; end?: string } = { seen: [] }
          subscriptions.push(sub)
          const r = yield* Effect.either(
            Dse.sthread(Stream.runForEach(wal.tail(0, { mode: "speculative" }), (e) => Effect.sync(() => sub.seen.push(e))))
          )
          sub.end = r._tag === "Left" ? r.left._tag : "ended"
          yield* Effect.sleep("5 millis")
        }
      })
    )

    const fibers: Array<Fiber.RuntimeFiber<void>> = []
    for (const [i, spec] of plan.producers.entries()) fibers.push(yield* fork(producer(i, spec)))
    const restarts: Array<Fiber.RuntimeFiber<void, unknown>> = []
    let crashes = 0
    for (const step of plan.steps) {
      switch (step._tag) {
        case "crashWal":
          if (!proc.alive()) break
          crashes++
          yield* proc.crash
          restarts.push(yield* Effect.fork(Effect.zipRight(Effect.sleep(`${step.downMs} millis`), proc.restart)))
          break
        case "crashCoordinator":
          if (!cluster.coordinatorUp) break
          crashes++
          yield* cluster.crashCoordinator
          restarts.push(yield* Effect.fork(Effect.zipRight(Effect.sleep(`${step.downMs} millis`), cluster.restartCoordinator)))
          break
        case "tick":
          yield* TestClock.adjust(`${step.ms} millis`)
          break
      }
    }

    // Heal: no more loss, every restart done, run to quiescence.
    cluster.network.faults = { delayMs: [0, plan.maxDelayMs] }
    yield* TestClock.adjust("20 millis")
    yield* cluster.restartCoordinator
    restarts.push(yield* Effect.fork(proc.restart))
    for (let i = 0; i < 200 && restarts.some((f) => f.unsafePoll() === null); i++) yield* TestClock.adjust("5 millis")
    for (let i = 0; i < 1000 && fibers.some((f) => f.unsafePoll() === null); i++) yield* TestClock.adjust("10 millis")
    const stuck = fibers.filter((f) => f.unsafePoll() === null).length
    if (stuck > 0) violations.push(`${stuck} producers still running after healing`)
    if (stuck > 0 && process.env.DSE_PROPERTY_DEBUG) {
      const dse = (yield* Effect.provide(Dse.Dse, proc.context())) as Dse.DseService
      console.log("wal", JSON.stringify(yield* log().info), dse.worldLine(), JSON.stringify(Array.from(dse.cut())), (dse.runtime as any).commitWaiters)
      console.log("coordinator", JSON.stringify(yield* cluster.coordinator.client.status))
      console.log("acks", JSON.stringify(acks.map((a) => [a.id, a.seq, a.result])))
    }
    for (const f of fibers) {
      const exit = f.unsafePoll()
      if (exit && exit._tag === "Failure" && !Cause.isInterruptedOnly(exit.cause)) violations.push(`a producer died: ${Cause.pretty(exit.cause)}`)
    }

    const committedLog = () =>
      runInLog(
        Effect.gen(function* () {
          const out: Array<WalEntry> = []
          let from = 0
          for (;;) {
            const page = yield* log().scan({ from, mode: "committed", limit: 1000 })
            out.push(...page.entries)
            if (page.entries.length === 0) return out
            from = page.next
          }
        })
      )
    const final = yield* committedLog()
    violations.push(...check(final, acks, "live"))

    // The followers: let the committed one catch up, then compare what both saw with the final log.
    for (let i = 0; i < 200 && committedSeen.length < final.length; i++) yield* TestClock.adjust("10 millis")
    for (const follower of [committedFollower, speculativeFollower]) {
      const exit = yield* Fiber.interrupt(follower)
      if (exit._tag === "Failure" && !Cause.isInterruptedOnly(exit.cause)) violations.push(`a follower died: ${Cause.pretty(exit.cause)}`)
    }
    const same = (a: WalEntry, b: WalEntry | undefined) =>
      b !== undefined && JSON.stringify([a.lsn, a.data, a.worldLine, a.producer]) === JSON.stringify([b.lsn, b.data, b.worldLine, b.producer])
    committedSeen.forEach((e, i) => {
      if (e.lsn !== i) violations.push(`the committed follower's entry ${i} has LSN ${e.lsn}`)
      if (!same(e, final[e.lsn])) violations.push(`the committed follower saw ${JSON.stringify(e)}, which is not in the final log`)
    })
    if (committedSeen.length !== final.length) violations.push(`the committed follower saw ${committedSeen.length} of ${final.length} entries`)
    for (const [n, sub] of subscriptions.entries()) {
      const lost = sub.seen.find((e) => !same(e, final[e.lsn]))
      if (lost && sub.end !== "RolledBack" && sub.end !== "WalUnavailable") {
        violations.push(`speculative subscription ${n} saw rolled-back ${JSON.stringify(lost)} and ended with ${sub.end ?? "nothing (still following)"}`)
      }
    }

    // Crash everything at once: what survives is the committed log, the same one.
    yield* proc.crash
    yield* cluster.crashCoordinator
    yield* cluster.restartCoordinator
    yield* proc.restart
    yield* TestClock.adjust("20 millis")
    violations.push(...check(yield* committedLog(), acks, "after full restart"))
    for (const f of fibers) yield* Fiber.interrupt(f)
    return { violations, appends, crashes }
  }).pipe(Effect.scoped, Effect.withRandom(Random.make(plan.seed)), Effect.provide(TestContext.TestContext))

const runs = Number(process.env.DSE_PROPERTY_RUNS ?? 100)
const seed = process.env.DSE_PROPERTY_SEED !== undefined ? Number(process.env.DSE_PROPERTY_SEED) : undefined
const path = process.env.DSE_PROPERTY_PATH

describe("WAL under random crashes (property)", () => {
  it(`${runs} random schedules: every entry acknowledged as committed is present, in order, exactly once`, async () => {
    let totalAppends = 0
    let totalCrashes = 0
    await fc.assert(
      fc.asyncProperty(planArb, async (plan) => {
        const result = await Effect.runPromise(runPlan(plan))
        totalAppends += result.appends
        totalCrashes += result.crashes
        if (result.violations.length > 0) throw new Error(`violations:\n  ${result.violations.slice(0, 10).join("\n  ")}`)
      }),
      { numRuns: runs, ...(seed !== undefined ? { seed } : {}), ...(path !== undefined ? { path } : {}), endOnFailure: true }
    )
    console.log(`property: ${runs} schedules, ${totalAppends} acknowledged appends, ${totalCrashes} crashes`)
    expect(totalAppends).toBeGreaterThan(0)
    expect(totalCrashes).toBeGreaterThan(0)
  }, 600_000)

  // Found by the property in CI (fast-check seed -499997052, path 6). The coordinator is down when
  // the log crashes (the plan's second WAL crash finds it still down), so the log restarts, rolling
  // back the entry at LSN 1 that the speculative tail saw, only once the coordinator is back, about
  // 100 ms later; meanwhile the tail's long-poll retries WalUnavailable. It used to hear of the loss
  // only at its next try that reached the restarted log (up to 20 ms after its own process learnt
  // of the world-line change), after the check below.
  it("a speculative tail retrying a crashed log fails with RolledBack once its process hears of the rollback (coordinator crash, then a WAL crash)", async () => {
    const plan: Plan = {
      producers: [
        { inSthread: true, batches: [1] },
        { inSthread: true, batches: [1] }
      ],
      persistDelayMs: 3,
      maxDelayMs: 1,
      loss: 0,
      seed: 2147483619,
      steps: [
        { _tag: "crashCoordinator", downMs: 15 },
        { _tag: "tick", ms: 6 },
        { _tag: "tick", ms: 4 },
        { _tag: "crashWal", downMs: 2 },
        { _tag: "crashWal", downMs: 13 }
      ]
    }
    const result = await Effect.runPromise(runPlan(plan))
    expect(result.violations).toEqual([])
  })
})
