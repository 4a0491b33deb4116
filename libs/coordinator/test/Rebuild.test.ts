/**
 * Coordinator restart (SPEC 3.8), as a property: after random reports (some of them lost, anywhere
 * in a worker's chain), the coordinator crashes; a new one on the same store rebuilds the graph from what each worker
 * resends (its unpruned checkpoints above the committed version it knows, which may lag) while
 * commits pause. The rebuilt cut is never below the cut committed before the crash, and equals
 * the cut of everything persisted. Workers that crashed too (fresh restarts) wait for the rebuild
 * and get that cut as recovery cut. Before the crash, a lost report holds back its worker's later
 * reports: the cut is that of the reports whose whole chain below them arrived.
 */
import type { CheckpointReport } from "@dse/core"
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { Effect, Fiber, Option } from "effect"
import { byId, inbox, request, settle, start, tags } from "./support/harness"
import * as Store from "./support/MemoryClusterStateStore"
import { naiveFixpoint } from "./support/reference"
import type { Report } from "./support/reference"

interface Scenario {
  readonly workers: number
  /** Each worker's persisted versions, ascending, with deps (all durable). */
  readonly versions: ReadonlyArray<ReadonlyArray<{ readonly version: number; readonly deps: Array<[number, number]> }>>
  /** Interleaving of the reports (worker index per step). */
  readonly order: ReadonlyArray<number>
  /** Per step of `order`: whether that report was lost (a gap that `prev` exposes). */
  readonly lost: ReadonlyArray<boolean>
  /** Per worker: which published cut it last heard of (lag), and whether it crashed too. */
  readonly heard: ReadonlyArray<number>
  readonly crashed: ReadonlyArray<boolean>
  readonly attachOrder: ReadonlyArray<number>
}

const scenario: fc.Arbitrary<Scenario> = fc.integer({ min: 2, max: 4 }).chain((n) =>
  fc
    .array(
      fc.array(
        fc.record({
          jump: fc.integer({ min: 1, max: 2 }),
          deps: fc.array(fc.tuple(fc.integer({ min: 1, max: n }), fc.integer({ min: 1, max: 10 })), { maxLength: 2 })
        }),
        { maxLength: 7 }
      ),
      { minLength: n, maxLength: n }
    )
    .chain((chains) => {
      const versions = chains.map((c) => {
        let v = 0
        return c.map((x) => ({ version: (v += x.jump), deps: x.deps }))
      })
      const labels = versions.flatMap((c, i) => c.map(() => i))
      return fc.record({
        workers: fc.constant(n),
        versions: fc.constant(versions),
        order: fc.shuffledSubarray(labels, { minLength: labels.length }),
        lost: fc.array(
          fc.nat(3).map((x) => x === 0),
          { minLength: labels.length, maxLength: labels.length }
        ),
        heard: fc.array(fc.nat(), { minLength: n, maxLength: n }),
        crashed: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
        attachOrder: fc.shuffledSubarray(
          Array.from({ length: n }, (_, i) => i),
          { minLength: n }
        )
      })
    })
)

const run = (s: Scenario) =>
  Effect.scoped(
    Effect.gen(function* () {
      const store = Store.make()
      const first = yield* start(store)
      const names = Array.from({ length: s.workers }, (_, i) => `w${i + 1}`)
      for (const name of names) yield* first.register(request(name))
      const next = s.versions.map(() => 0)
      const cuts: Array<Record<number, number>> = [byId((yield* first.status).cut)]
      const reports: Array<Report> = []
      // Per worker, how many of its first versions all arrived (its chain as the coordinator has it).
      const arrived = s.versions.map(() => 0)
      const lostAt = s.versions.map(() => Infinity)
      for (let i = 0; i < s.order.length; i++) {
        const w = s.order[i]!
        const index = next[w]!++
        const v = s.versions[w]![index]!
        reports.push({ worker: w + 1, version: v.version, deps: v.deps })
        if (s.lost[i]) {
          lostAt[w] = Math.min(lostAt[w]!, index)
          continue
        }
        const prev = index === 0 ? 0 : s.versions[w]![index - 1]!.version
        const r: CheckpointReport = { worker: w + 1, worldLine: 1, version: v.version, prev, deps: v.deps }
        yield* first.report(r)
        arrived[w] = Math.min(index + 1, lostAt[w]!)
        const chained = s.versions.flatMap((c, x) => c.slice(0, arrived[x]).map((y) => ({ worker: x + 1, ...y })))
        const cut = byId((yield* first.status).cut)
        const expected: Record<number, number> = Object.fromEntries(naiveFixpoint(new Map(), chained))
        for (let x = 1; x <= s.workers; x++) expected[x] ??= 0
        expect(cut, "only reports whose whole chain arrived count").toEqual(expected)
        cuts.push(cut)
      }
      const before = cuts.at(-1)!
      yield* first.shutdown

      const second = yield* start(store)
      const events = yield* inbox(second)
      const waiting: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
      const registrations: Array<Effect.Effect<unknown, unknown>> = []
      for (let k = 0; k < s.attachOrder.length; k++) {
        const w = s.attachOrder[k]!
        const hint = cuts[s.heard[w]! % cuts.length]![w + 1] ?? 0
        const checkpoints = s.versions[w]!.filter((v) => v.version > hint).map((v) => ({ worldLine: 1, ...v }))
        const req = request(names[w]!, { worldLine: s.crashed[w] ? 0 : 1, committed: hint, checkpoints })
        if (k === s.attachOrder.length - 1) {
          // Until now: no commits published, and crashed workers still wait.
          expect((yield* second.status).rebuilding).toBe(true)
          expect(tags(yield* events.drain)).toEqual(["CutAdvanced"])
          for (const f of waiting) expect(Option.isNone(yield* Fiber.poll(f))).toBe(true)
        }
        if (s.crashed[w]) waiting.push(yield* Effect.fork(second.register(req)))
        else registrations.push(second.register(req))
        if (!s.crashed[w]) yield* registrations.at(-1)!
      }
      yield* settle
      const results = []
      for (const f of waiting) results.push(yield* Fiber.join(f))
      const status = yield* second.status
      expect(status.rebuilding).toBe(false)
      const rebuilt = byId(status.cut)
      const expected = Object.fromEntries(
        [...naiveFixpoint(new Map(), reports)].map(([w, v]) => [w, v])
      )
      for (let w = 1; w <= s.workers; w++) expected[w] ??= 0
      for (const [w, v] of Object.entries(before)) expect(rebuilt[Number(w)]!, `worker ${w}`).toBeGreaterThanOrEqual(v)
      expect(rebuilt).toEqual(expected)
      if (waiting.length > 0) {
        expect(status.worldLine).toBe(2)
        for (const r of results) expect(byId((r as { recoveryCut: Array<[number, number]> }).recoveryCut)).toEqual(rebuilt)
      } else {
        expect(status.worldLine).toBe(1)
        expect((yield* events.drain).map((e) => e._tag)).toEqual(["CutAdvanced"])
      }
    })
  )

describe("rebuild after a coordinator restart", () => {
  it("never goes below the pre-crash committed cut, and pauses commits until every member is back", async () => {
    await fc.assert(
      fc.asyncProperty(scenario, (s) => Effect.runPromise(run(s))),
      { numRuns: 150 }
    )
  })
})
