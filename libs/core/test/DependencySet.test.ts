import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import type { Dependency } from "../src/DependencySet"
import { DependencySet } from "../src/DependencySet"
import type { Version, WorkerId } from "../src/Ids"

const w = (n: number) => n as WorkerId
const v = (n: number) => n as Version
const dep = (worker: number, version: number): Dependency => [w(worker), v(version)]
const sorted = (set: DependencySet) => set.toArray().slice().sort((x, y) => x[0] - y[0])
const cutOf = (entries: ReadonlyArray<readonly [number, number]>) => {
  const cut = new Map(entries.map(([a, b]) => [w(a), v(b)]))
  return (worker: WorkerId): Version | undefined => cut.get(worker)
}

describe("DependencySet", () => {
  it.effect("keeps only the maximum version per worker", () =>
    Effect.sync(() => {
      const set = DependencySet.of(dep(1, 3), dep(2, 5), dep(1, 7), dep(1, 4), dep(2, 2))
      expect(sorted(set)).toEqual([dep(1, 7), dep(2, 5)])
      expect(set.size).toBe(2)
      expect(set.get(w(1))).toBe(7)
      expect(set.get(w(3))).toBeUndefined()
    })
  )

  it.effect("keeps the maximum per worker for any insertion order (property)", () =>
    Effect.sync(() => {
      fc.assert(
        fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 50 }))), (pairs) => {
          const set = DependencySet.fromIterable(pairs.map(([a, b]) => dep(a, b)))
          const expected = new Map<number, number>()
          for (const [a, b] of pairs) expected.set(a, Math.max(expected.get(a) ?? 0, b))
          expect(sorted(set)).toEqual(Array.from(expected).sort((x, y) => x[0] - y[0]))
        })
      )
    })
  )

  it.effect("add returns whether the set grew (new worker or higher version)", () =>
    Effect.sync(() => {
      const set = DependencySet.empty()
      expect(set.add(w(1), v(3))).toBe(true) // new worker
      expect(set.add(w(1), v(3))).toBe(false) // same version
      expect(set.add(w(1), v(2))).toBe(false) // lower version
      expect(set.add(w(1), v(4))).toBe(true) // higher version
      expect(set.add(w(2), v(1))).toBe(true) // another worker
      expect(sorted(set)).toEqual([dep(1, 4), dep(2, 1)])
    })
  )

  it.effect("version 0 (and below) is ignored: depending on nothing is no dependency", () =>
    Effect.sync(() => {
      const set = DependencySet.empty()
      expect(set.add(w(1), v(0))).toBe(false)
      expect(set.add(w(2), v(-1))).toBe(false)
      expect(set.size).toBe(0)
      expect(DependencySet.of(dep(3, 0)).size).toBe(0)
      set.add(w(1), v(2))
      expect(set.add(w(1), v(0))).toBe(false)
      expect(set.get(w(1))).toBe(2)
    })
  )

  it.effect("addAll merges by maximum and returns whether anything grew", () =>
    Effect.sync(() => {
      const set = DependencySet.of(dep(1, 5), dep(2, 5))
      expect(set.addAll([dep(1, 3), dep(2, 5)])).toBe(false)
      expect(sorted(set)).toEqual([dep(1, 5), dep(2, 5)])
      expect(set.addAll(DependencySet.of(dep(1, 2), dep(2, 9), dep(3, 1)))).toBe(true)
      expect(sorted(set)).toEqual([dep(1, 5), dep(2, 9), dep(3, 1)])
      expect(set.addAll([])).toBe(false)
    })
  )

  it.effect("isCoveredBy: every dependency at or below the cut; a worker missing from the cut covers nothing", () =>
    Effect.sync(() => {
      const set = DependencySet.of(dep(1, 3), dep(2, 5))
      expect(set.isCoveredBy(cutOf([[1, 3], [2, 5]]))).toBe(true)
      expect(set.isCoveredBy(cutOf([[1, 9], [2, 9], [3, 1]]))).toBe(true)
      expect(set.isCoveredBy(cutOf([[1, 3], [2, 4]]))).toBe(false)
      expect(set.isCoveredBy(cutOf([[1, 3]]))).toBe(false)
      expect(DependencySet.empty().isCoveredBy(cutOf([]))).toBe(true)
    })
  )

  it.effect("uncoveredBy lists exactly the dependencies the cut does not cover", () =>
    Effect.sync(() => {
      const set = DependencySet.of(dep(1, 3), dep(2, 5), dep(3, 1))
      expect(set.uncoveredBy(cutOf([[1, 3], [2, 4]])).sort((x, y) => x[0] - y[0])).toEqual([dep(2, 5), dep(3, 1)])
      expect(set.uncoveredBy(cutOf([[1, 3], [2, 5], [3, 1]]))).toEqual([])
    })
  )

  it.effect("uncoveredBy is empty exactly when isCoveredBy holds (property)", () =>
    Effect.sync(() => {
      const pairs = fc.array(fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 10 })))
      fc.assert(
        fc.property(pairs, pairs, (deps, cut) => {
          const set = DependencySet.fromIterable(deps.map(([a, b]) => dep(a, b)))
          const at = cutOf(cut)
          expect(set.uncoveredBy(at).length === 0).toBe(set.isCoveredBy(at))
        })
      )
    })
  )

  it.effect("clone is independent of the original in both directions", () =>
    Effect.sync(() => {
      const original = DependencySet.of(dep(1, 3))
      const copy = original.clone()
      copy.add(w(1), v(8))
      copy.add(w(2), v(1))
      original.add(w(3), v(4))
      expect(sorted(original)).toEqual([dep(1, 3), dep(3, 4)])
      expect(sorted(copy)).toEqual([dep(1, 8), dep(2, 1)])
    })
  )

  it.effect("maxVersion is the highest version named (0 when empty)", () =>
    Effect.sync(() => {
      expect(DependencySet.empty().maxVersion()).toBe(0)
      expect(DependencySet.of(dep(1, 3), dep(2, 11), dep(3, 7)).maxVersion()).toBe(11)
    })
  )
})
