import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import type { Dependency } from "../src/DependencySet"
import { DependencySet } from "../src/DependencySet"
import type { Header } from "../src/Header"
import type { Version, WorkerId, WorldLine } from "../src/Ids"
import * as Sthread from "../src/Sthread"

const dep = (worker: number, version: number): Dependency => [worker as WorkerId, version as Version]
const sorted = (set: DependencySet) => set.toArray().slice().sort((x, y) => x[0] - y[0])

describe("Sthread", () => {
  it.effect("header() is undefined for world-line 0 (an outside session that has seen no world-line)", () =>
    Effect.sync(() => {
      const outside = new Sthread.Sthread(0, DependencySet.of(dep(1, 2)))
      expect(outside.header()).toBeUndefined()
    })
  )

  it.effect("header() of an sthread in a world-line carries that world-line and its dependencies, no source", () =>
    Effect.sync(() => {
      const thread = new Sthread.Sthread(3, DependencySet.of(dep(1, 2), dep(4, 9)))
      const header = thread.header()
      expect(header).toBeDefined()
      expect(header!.worldLine).toBe(3)
      expect(header!.source).toBeUndefined()
      expect(sorted(header!.deps)).toEqual([dep(1, 2), dep(4, 9)])
    })
  )

  it.effect("absorb takes the reply's dependencies, its source, and a newer world-line", () =>
    Effect.sync(() => {
      const thread = new Sthread.Sthread(0, DependencySet.of(dep(1, 5)))
      const reply: Header = {
        worldLine: 2 as WorldLine,
        source: [3 as WorkerId, 7 as Version],
        deps: DependencySet.of(dep(1, 3), dep(2, 4))
      }
      thread.absorb(reply)
      expect(thread.worldLine).toBe(2)
      expect(sorted(thread.deps)).toEqual([dep(1, 5), dep(2, 4), dep(3, 7)])
    })
  )

  it.effect("absorb never moves the world-line backwards", () =>
    Effect.sync(() => {
      const thread = new Sthread.Sthread(4)
      thread.absorb({ worldLine: 2 as WorldLine, deps: DependencySet.of(dep(1, 1)) })
      expect(thread.worldLine).toBe(4)
      expect(sorted(thread.deps)).toEqual([dep(1, 1)])
    })
  )

  it.effect("detach runs the effect in an independent copy of the current sthread", () =>
    Effect.gen(function* () {
      const parent = new Sthread.Sthread(2, DependencySet.of(dep(1, 1)))
      const [seen, child] = yield* Sthread.within(
        Sthread.detach(
          Effect.map(Sthread.current, (current) => {
            const thread = Option.getOrThrow(current)
            thread.deps.add(5 as WorkerId, 6 as Version)
            return thread
          })
        ),
        parent
      )
      expect(seen).toBe(child)
      expect(child).not.toBe(parent)
      expect(child.worldLine).toBe(2)
      expect(sorted(child.deps)).toEqual([dep(1, 1), dep(5, 6)])
      // The parent did not see what the child absorbed.
      expect(sorted(parent.deps)).toEqual([dep(1, 1)])
      // ...nor does the child see what the parent absorbs afterwards.
      parent.deps.add(7 as WorkerId, 1 as Version)
      expect(child.deps.get(7 as WorkerId)).toBeUndefined()
    })
  )

  it.effect("merge folds a detached sthread back into the current one (dependencies and world-line)", () =>
    Effect.gen(function* () {
      const parent = new Sthread.Sthread(2, DependencySet.of(dep(1, 4)))
      const child = new Sthread.Sthread(3, DependencySet.of(dep(1, 2), dep(5, 6)))
      yield* Sthread.within(Sthread.merge(child), parent)
      expect(parent.worldLine).toBe(3)
      expect(sorted(parent.deps)).toEqual([dep(1, 4), dep(5, 6)])
    })
  )

  it.effect("detach and merge round trip through the ambient sthread", () =>
    Effect.gen(function* () {
      const parent = new Sthread.Sthread(1)
      yield* Sthread.within(
        Effect.gen(function* () {
          const [, child] = yield* Sthread.detach(
            Effect.flatMap(Sthread.current, (t) => Effect.sync(() => Option.getOrThrow(t).deps.add(9 as WorkerId, 2 as Version)))
          )
          expect(parent.deps.size).toBe(0)
          yield* Sthread.merge(child)
        }),
        parent
      )
      expect(sorted(parent.deps)).toEqual([dep(9, 2)])
    })
  )

  it.effect("compact replaces the absorbed entries by (worker, version)", () =>
    Effect.sync(() => {
      const thread = new Sthread.Sthread(1, DependencySet.of(dep(1, 3), dep(2, 5), dep(4, 1)))
      thread.compact([dep(1, 3), dep(2, 5)], 7 as WorkerId, 9 as Version)
      expect(sorted(thread.deps)).toEqual([dep(4, 1), dep(7, 9)])
    })
  )

  it.effect("compact keeps entries that changed since they were absorbed", () =>
    Effect.sync(() => {
      const thread = new Sthread.Sthread(1, DependencySet.of(dep(1, 3), dep(2, 5)))
      // Meanwhile (a concurrent fiber of the same sthread) learnt a later version of worker 2.
      thread.deps.add(2 as WorkerId, 8 as Version)
      thread.compact([dep(1, 3), dep(2, 5)], 7 as WorkerId, 9 as Version)
      expect(sorted(thread.deps)).toEqual([dep(2, 8), dep(7, 9)])
    })
  )
})
