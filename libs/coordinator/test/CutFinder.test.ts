/**
 * CutFinder: the rules of the committed cut (SPEC 3.5) checked directly, against reference models
 * (brute force on tiny instances, the plain fixpoint on larger ones), and for its cost.
 */
import { workerId } from "@dse/core"
import type { Dependency, Version, WorkerId } from "@dse/core"
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { CutFinder } from "../src/CutFinder"
import type { Report } from "./support/reference"
import { bruteForce, naiveFixpoint } from "./support/reference"

const w = workerId
const d = (worker: number, version: number): Dependency => [w(worker), version as Version]
const plain = (finder: CutFinder) => Object.fromEntries([...finder.cut()].map(([k, v]) => [k, v]))
const asMap = (cut: ReadonlyMap<WorkerId, Version>) => new Map([...cut].map(([k, v]) => [k as number, v as number]))

describe("CutFinder rules", () => {
  it("a report at or below the cut is ignored, and a repeated report is idempotent", () => {
    const f = CutFinder.make(new Map([[w(1), 3 as Version]]))
    expect(f.report(w(1), 2, [d(2, 9)])).toBe(false)
    expect(f.report(w(1), 3, [])).toBe(false)
    expect(f.pending(w(1))).toBe(0)
    expect(f.report(w(1), 5, [d(2, 1)])).toBe(false)
    expect(f.report(w(1), 5, [])).toBe(false) // the second copy changes nothing, not even the deps
    expect(f.pending(w(1))).toBe(1)
    expect(f.report(w(2), 1, [])).toBe(true)
    expect(plain(f)).toEqual({ 1: 5, 2: 1 })
    expect(f.report(w(2), 1, [])).toBe(false)
    expect(f.stats().ignored).toBe(4)
  })

  it("committed versions leave the graph", () => {
    const f = CutFinder.make()
    for (let v = 1; v <= 1000; v++) f.report(w(1), v, v > 1 ? [d(2, v - 1)] : [])
    expect(f.stats().pending).toBe(999)
    for (let v = 1; v <= 1000; v++) f.report(w(2), v, [])
    expect(plain(f)).toEqual({ 1: 1000, 2: 1000 })
    expect(f.stats().pending).toBe(0)
    expect(f.pending(w(1))).toBe(0)
    expect(f.persisted(w(1))).toBe(1000)
  })

  it("persisted, pending and pendingVersions describe what waits", () => {
    const f = CutFinder.make()
    f.report(w(1), 1, [])
    f.report(w(1), 4, [d(2, 2)])
    f.report(w(1), 6, [])
    expect(f.at(w(1))).toBe(1)
    expect(f.persisted(w(1))).toBe(6)
    expect(f.persisted(w(2))).toBe(0)
    expect(f.pending(w(1))).toBe(2)
    expect(f.pendingVersions(w(1))).toEqual([
      { version: 4, deps: [d(2, 2)] },
      { version: 6, deps: [] }
    ])
    expect(f.isCommitted(w(1), 1)).toBe(true)
    expect(f.isCommitted(w(1), 4)).toBe(false)
  })

  it("raise commits a hinted version and unblocks what waited on it", () => {
    const f = CutFinder.make()
    f.report(w(1), 1, [d(2, 3)])
    f.report(w(1), 2, [])
    expect(f.raise(w(2), 3)).toBe(true)
    expect(plain(f)).toEqual({ 1: 2, 2: 3 })
    expect(f.raise(w(2), 2)).toBe(false)
    // A raise drops the worker's versions at or below it, without checking their deps.
    f.report(w(3), 1, [d(4, 1)])
    f.report(w(3), 2, [d(4, 1)])
    expect(f.raise(w(3), 1)).toBe(true)
    expect(f.at(w(3))).toBe(1)
    expect(f.pending(w(3))).toBe(1)
  })

  it("a lost report resent late takes its place in its worker's chain", () => {
    const f = CutFinder.make()
    f.report(w(1), 1, [d(2, 1)])
    f.report(w(1), 3, [])
    f.report(w(1), 2, [d(3, 1)])
    expect(f.pendingVersions(w(1)).map((p) => p.version)).toEqual([1, 2, 3])
    expect(f.report(w(2), 1, [])).toBe(true)
    expect(plain(f)).toEqual({ 1: 1, 2: 1 })
    expect(f.report(w(3), 1, [])).toBe(true)
    expect(plain(f)).toEqual({ 1: 3, 2: 1, 3: 1 })
  })

  it("blocker names an unreported version that a blocked version needs", () => {
    const f = CutFinder.make()
    f.report(w(1), 1, [d(2, 2)])
    expect(f.blocker(w(1), 1)).toEqual(d(2, 2))
    expect(f.blocker(w(1), 7)).toEqual(d(1, 7))
    f.report(w(2), 2, [d(3, 5)])
    expect(f.blocker(w(1), 1)).toEqual(d(3, 5))
    expect(f.blocker(w(2), 1)).toEqual(d(3, 5))
    f.report(w(3), 5, [])
    expect(f.blocker(w(1), 1)).toBeUndefined()
    expect(plain(f)).toEqual({ 1: 1, 2: 2, 3: 5 })
  })

  it("a dependency on the worker's own later version commits with it (a cycle)", () => {
    const f = CutFinder.make()
    expect(f.report(w(1), 1, [d(1, 2)])).toBe(false)
    expect(f.report(w(1), 2, [])).toBe(true)
    expect(plain(f)).toEqual({ 1: 2 })
  })

  it("cost stays linear while one worker is silent and others keep reporting (no rescans of the blocked graph)", () => {
    const f = CutFinder.make()
    const n = 5000
    // y waits for silent z; x is independent and commits each report; y also reads x's next version.
    for (let v = 1; v <= n; v++) {
      f.report(w(2), v, v === 1 ? [d(3, 1)] : [d(1, v)])
      expect(f.report(w(1), v, [])).toBe(true)
    }
    expect(f.at(w(1))).toBe(n)
    expect(f.pending(w(2))).toBe(n)
    const stats = f.stats()
    expect(stats.scanned).toBeLessThan(10 * 2 * n)
    expect(stats.full).toBe(0)
    // When z arrives, everything commits at once.
    expect(f.report(w(3), 1, [])).toBe(true)
    expect(plain(f)).toEqual({ 1: n, 2: n, 3: 1 })
    expect(f.stats().pending).toBe(0)
  })

  it("cost per report stays constant under random traffic that follows the Lamport rule, with a slow worker", () => {
    const f = CutFinder.make()
    const workers = 8
    const current = Array.from({ length: workers + 1 }, () => 1)
    const deps = Array.from({ length: workers + 1 }, () => new Map<number, number>())
    const backlog: Array<[number, number, Array<Dependency>]> = [] // the slow worker's reports, delayed
    let seed = 7
    const random = (k: number) => {
      seed = (seed * 48271) % 2147483647
      return seed % k
    }
    let reports = 0
    const seal = (x: number) => {
      const r: [number, number, Array<Dependency>] = [x, current[x]!, [...deps[x]!].map(([y, u]) => d(y, u))]
      deps[x]!.clear()
      reports++
      if (x === 1) backlog.push(r)
      else f.report(w(r[0]), r[1], r[2])
      // The slow worker's reports arrive 50 seals late.
      while (backlog.length > 50) {
        const [bx, bv, bd] = backlog.shift()!
        f.report(w(bx), bv, bd)
      }
    }
    for (let i = 0; i < 40_000; i++) {
      const x = 1 + random(workers)
      const y = 1 + random(workers)
      if (random(4) === 0) {
        seal(x)
        current[x]!++
      } else if (x !== y) {
        // x receives a message from y's current version; a higher version makes x seal and jump.
        deps[x]!.set(y, Math.max(deps[x]!.get(y) ?? 0, current[y]!))
        if (current[y]! > current[x]!) {
          seal(x)
          current[x] = current[y]!
        }
      }
    }
    const stats = f.stats()
    expect(reports).toBeGreaterThan(10_000)
    expect(f.at(w(2))).toBeGreaterThan(1000)
    // About 6 versions scanned per report here, the same for 10x the steps or 20x the lag.
    expect(stats.scanned / reports).toBeLessThan(10)
  })
})

// ---------------------------------------------------------------------------------------------
// Random instances: each worker's reports arrive in increasing order (numbers may jump), workers
// interleave at random, deps point anywhere (cycles, future versions, a worker that never reports).

interface Instance {
  readonly base: Map<number, number>
  readonly reports: Array<Report>
}

const instance = (maxWorkers: number, maxVersions: number, maxDeps: number, duplicates: boolean) =>
  fc.integer({ min: 1, max: maxWorkers }).chain((n) =>
    fc
      .record({
        base: fc.array(fc.option(fc.nat(2), { nil: undefined }), { minLength: n, maxLength: n }),
        chains: fc.array(
          fc.array(
            fc.record({
              jump: fc.integer({ min: 1, max: 3 }),
              deps: fc.array(
                fc.tuple(fc.integer({ min: 1, max: n + 1 }), fc.integer({ min: 1, max: 3 * maxVersions + 2 })),
                { maxLength: maxDeps }
              )
            }),
            { maxLength: maxVersions }
          ),
          { minLength: n, maxLength: n }
        ),
        seed: fc.integer()
      })
      .chain(({ base, chains, seed }) => {
        const labels = chains.flatMap((c, i) => c.map(() => i))
        return fc.shuffledSubarray(labels, { minLength: labels.length }).chain((order) =>
          fc.array(fc.nat(Math.max(0, labels.length - 1)), { maxLength: duplicates ? 4 : 0 }).map((dups) => {
            const baseMap = new Map<number, number>()
            base.forEach((b, i) => {
              if (b !== undefined) baseMap.set(i + 1, b)
            })
            const versions = chains.map((c, i) => {
              let v = baseMap.get(i + 1) ?? 0
              return c.map((x) => ({ version: (v += x.jump), deps: x.deps }))
            })
            const next = chains.map(() => 0)
            const reports: Array<Report> = order.map((i) => {
              const x = versions[i]![next[i]!++]!
              return { worker: i + 1, version: x.version, deps: x.deps }
            })
            // Repeats of earlier reports, placed later: must change nothing.
            for (const at of dups) {
              if (at >= reports.length) continue
              const r = reports[at]!
              const place = Math.min(reports.length, at + 1 + (seed & 7))
              reports.splice(place, 0, r)
            }
            return { base: baseMap, reports } satisfies Instance
          })
        )
      })
  )

const replay = (
  inst: Instance,
  reference: (base: ReadonlyMap<number, number>, reports: ReadonlyArray<Report>) => Map<number, number>
) => {
  const f = CutFinder.make(new Map([...inst.base].map(([k, v]) => [w(k), v as Version])))
  let previous = asMap(f.cut())
  inst.reports.forEach((r, i) => {
    const changed = f.report(
      w(r.worker),
      r.version,
      r.deps.map(([x, u]) => d(x, u))
    )
    const cut = asMap(f.cut())
    const expected = reference(inst.base, inst.reports.slice(0, i + 1))
    expect(cut, `after report ${i}`).toEqual(expected)
    for (const [k, v] of previous) expect(cut.get(k)!, "the cut never goes back").toBeGreaterThanOrEqual(v)
    expect(changed).toBe([...cut].some(([k, v]) => v > (previous.get(k) ?? 0)))
    previous = cut
  })
  return f
}

describe("CutFinder properties", () => {
  it("random reports give the brute-force cut after every report, monotonically", () => {
    fc.assert(
      fc.property(instance(4, 4, 2, true), (inst) => {
        replay(inst, bruteForce)
      }),
      { numRuns: 400 }
    )
  })

  it("larger random instances agree with the plain fixpoint after every report", () => {
    fc.assert(
      fc.property(instance(6, 14, 3, true), (inst) => {
        replay(inst, naiveFixpoint)
      }),
      { numRuns: 200 }
    )
  })

  it("sound committed hints (raise) interleaved with reports leave the final cut unchanged", () => {
    fc.assert(
      fc.property(
        instance(5, 8, 2, false),
        fc.array(fc.tuple(fc.nat(), fc.nat(), fc.double({ min: 0, max: 1, noNaN: true })), { maxLength: 6 }),
        (inst, raises) => {
          const final = naiveFixpoint(inst.base, inst.reports)
          const workers = [...final.keys()]
          const f = CutFinder.make(new Map([...inst.base].map(([k, v]) => [w(k), v as Version])))
          const plan = new Map<number, Array<[number, number]>>()
          for (const [at, which, frac] of raises) {
            if (workers.length === 0) break
            const worker = workers[which % workers.length]!
            const hint = Math.floor(final.get(worker)! * frac)
            const slot = at % (inst.reports.length + 1)
            plan.set(slot, [...(plan.get(slot) ?? []), [worker, hint]])
          }
          let previous = asMap(f.cut())
          const step = (i: number) => {
            for (const [worker, hint] of plan.get(i) ?? []) f.raise(w(worker), hint)
            const cut = asMap(f.cut())
            for (const [k, v] of previous) expect(cut.get(k)!).toBeGreaterThanOrEqual(v)
            previous = cut
          }
          inst.reports.forEach((r, i) => {
            step(i)
            f.report(
              w(r.worker),
              r.version,
              r.deps.map(([x, u]) => d(x, u))
            )
          })
          step(inst.reports.length)
          expect(asMap(f.cut())).toEqual(final)
        }
      ),
      { numRuns: 300 }
    )
  })
})
