/**
 * ReportGate: gap detection in front of the CutFinder (README, "Reports, gaps and version jumps").
 * Each rule directly, then a property: under loss, reordering and duplication, the cut after every
 * report is the cut of the reports whose whole chain below them has arrived, and a re-attach with
 * the full chain gives the cut of everything.
 */
import { workerId } from "@dse/core"
import type { Dependency, Version } from "@dse/core"
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { CutFinder } from "../src/CutFinder"
import { ReportGate } from "../src/internal/reportGate"
import { naiveFixpoint } from "./support/reference"
import type { Report } from "./support/reference"

const w = workerId
const d = (worker: number, version: number): Dependency => [w(worker), version as Version]
const gate = (limit?: number) => new ReportGate(CutFinder.make(), limit)
const plain = (g: ReportGate) => Object.fromEntries([...g.finder.cut()].map(([k, v]) => [k, v]))

describe("ReportGate rules", () => {
  it("a report whose predecessor is missing is held and does not count", () => {
    const g = gate()
    expect(g.offer(w(1), 2, 1, [])).toEqual({ changed: false, accepted: [] })
    expect(g.offer(w(1), 3, 2, [])).toEqual({ changed: false, accepted: [] })
    expect(g.finder.persisted(w(1))).toBe(0)
    expect(g.heldVersions(w(1))).toEqual([
      { version: 2, prev: 1 },
      { version: 3, prev: 2 }
    ])
    expect(g.stats()).toMatchObject({ held: 2, gaps: 2 })
  })

  it("the missing predecessor connects the held reports, in order", () => {
    const g = gate()
    g.offer(w(1), 3, 2, [d(2, 1)])
    g.offer(w(1), 2, 1, [])
    const out = g.offer(w(1), 1, 0, [])
    expect(out.accepted.map((a) => [a.version, a.before])).toEqual([
      [1, 0],
      [2, 1],
      [3, 2]
    ])
    expect(plain(g)).toEqual({ 1: 2 }) // 3 waits for 2:1
    expect(g.stats()).toMatchObject({ held: 0, replayed: 2 })
  })

  it("a version jump with the right prev is accepted (Lamport)", () => {
    const g = gate()
    expect(g.offer(w(1), 5, 0, []).changed).toBe(true)
    expect(g.offer(w(1), 12, 5, []).changed).toBe(true)
    expect(plain(g)).toEqual({ 1: 12 })
  })

  it("reports at or below the tail are ignored, and so are malformed ones", () => {
    const g = gate()
    g.offer(w(1), 1, 0, [d(2, 1)])
    expect(g.offer(w(1), 1, 0, []).accepted).toEqual([]) // duplicate
    expect(g.offer(w(1), 3, 3, []).accepted).toEqual([]) // prev not below version
    expect(g.offer(w(1), 2.5, 1, []).accepted).toEqual([])
    expect(g.finder.pendingVersions(w(1))).toEqual([{ version: 1, deps: [d(2, 1)] }])
    expect(g.heldCount(w(1))).toBe(0)
  })

  it("a prev below the cut is accepted: the first checkpoint after a restore to the cut", () => {
    const g = new ReportGate(CutFinder.make(new Map([[w(1), 4 as Version]])))
    expect(g.offer(w(1), 6, 2, []).changed).toBe(true)
    expect(plain(g)).toEqual({ 1: 6 })
  })

  it("a committed hint connects held reports, and forgets those it passes", () => {
    const g = gate()
    g.offer(w(1), 2, 1, [])
    g.offer(w(1), 4, 3, [])
    g.offer(w(1), 5, 4, [])
    const out = g.raise(w(1), 3)
    expect(out.accepted.map((a) => a.version)).toEqual([4, 5])
    expect(plain(g)).toEqual({ 1: 5 })
    expect(g.heldCount(w(1))).toBe(0)
  })

  it("the held reports are bounded per worker, the oldest dropped; a re-attach's chain repairs it", () => {
    const g = gate(3)
    for (let v = 2; v <= 6; v++) g.offer(w(1), v, v - 1, [])
    expect(g.heldVersions(w(1)).map((h) => h.version)).toEqual([4, 5, 6])
    expect(g.stats()).toMatchObject({ held: 3, dropped: 2 })
    g.offer(w(1), 1, 0, [])
    expect(plain(g)).toEqual({ 1: 1 }) // 2 and 3 were dropped: 4 still has no predecessor
    // The worker re-attaches with every checkpoint above what it knows committed.
    g.raise(w(1), 0)
    const out = g.chain(w(1), 0, [1, 2, 3, 4].map((version) => ({ version, deps: [] })))
    expect(out.accepted.map((a) => a.version)).toEqual([2, 3, 4, 5, 6])
    expect(plain(g)).toEqual({ 1: 6 })
  })

  it("a chain's excluded checkpoints still name their successor's predecessor", () => {
    const g = gate()
    const checkpoints = [
      { version: 1, deps: [], ok: false },
      { version: 2, deps: [], ok: true }
    ]
    expect(g.chain(w(1), 0, checkpoints, (cp) => cp.ok).accepted).toEqual([])
    expect(g.heldVersions(w(1))).toEqual([{ version: 2, prev: 1 }])
  })
})

interface Scenario {
  readonly workers: number
  readonly chains: ReadonlyArray<ReadonlyArray<{ readonly version: number; readonly deps: ReadonlyArray<[number, number]> }>>
  /** Deliveries: (worker index, chain index), shuffled; some missing (lost), some repeated. */
  readonly deliveries: ReadonlyArray<readonly [number, number]>
}

const scenario: fc.Arbitrary<Scenario> = fc.integer({ min: 2, max: 4 }).chain((n) =>
  fc
    .array(
      fc.array(
        fc.record({
          jump: fc.integer({ min: 1, max: 3 }),
          deps: fc.array(fc.tuple(fc.integer({ min: 1, max: n }), fc.integer({ min: 1, max: 14 })), { maxLength: 2 })
        }),
        { maxLength: 7 }
      ),
      { minLength: n, maxLength: n }
    )
    .chain((raw) => {
      const chains = raw.map((c) => {
        let v = 0
        return c.map((x) => ({ version: (v += x.jump), deps: x.deps }))
      })
      const all = chains.flatMap((c, i) => c.map((_, k) => [i, k] as const))
      return fc
        .array(fc.integer({ min: 0, max: 5 }), { minLength: all.length, maxLength: all.length })
        .chain((copies) => {
          // 0: lost, 1..4: once, 5: twice.
          const sent = all.flatMap((x, i) => (copies[i] === 0 ? [] : copies[i] === 5 ? [x, x] : [x]))
          return fc.shuffledSubarray(sent, { minLength: sent.length }).map((deliveries) => ({
            workers: n,
            chains,
            deliveries
          }))
        })
    })
)

const expectedCut = (s: Scenario, upTo: ReadonlyArray<number>): Record<number, number> => {
  const reports: Array<Report> = s.chains.flatMap((c, i) => c.slice(0, upTo[i]).map((r) => ({ worker: i + 1, ...r })))
  const cut: Record<number, number> = Object.fromEntries(naiveFixpoint(new Map(), reports))
  for (let x = 1; x <= s.workers; x++) cut[x] ??= 0
  return cut
}

const run = (s: Scenario) => {
  const g = gate()
  const all = () => {
    const cut: Record<number, number> = {}
    for (let x = 1; x <= s.workers; x++) cut[x] = g.finder.at(w(x))
    return cut
  }
  const seen = s.chains.map((c) => c.map(() => false))
  let last = all()
  for (const [i, k] of s.deliveries) {
    const r = s.chains[i]![k]!
    g.offer(w(i + 1), r.version, k === 0 ? 0 : s.chains[i]![k - 1]!.version, r.deps)
    seen[i]![k] = true
    const connected = seen.map((c) => {
      const gap = c.indexOf(false)
      return gap === -1 ? c.length : gap
    })
    const cut = all()
    expect(cut).toEqual(expectedCut(s, connected))
    for (let x = 1; x <= s.workers; x++) expect(cut[x]!).toBeGreaterThanOrEqual(last[x]!)
    last = cut
  }
  // Every worker re-attaches: its committed version, then its chain above it.
  for (let i = 0; i < s.workers; i++) {
    const committed = g.finder.at(w(i + 1))
    g.raise(w(i + 1), committed)
    g.chain(w(i + 1), committed, s.chains[i]!.filter((r) => r.version > committed))
  }
  expect(all()).toEqual(expectedCut(s, s.chains.map((c) => c.length)))
  expect(g.stats().held).toBe(0)
}

describe("ReportGate properties", () => {
  it("under loss, reordering and duplicates, only reports whose whole chain arrived count; a re-attach completes it", () => {
    fc.assert(fc.property(scenario, run), { numRuns: 500 })
  })
})
