import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import type { Delta, StateValue } from "../src/CheckpointStore"
import { VersionedCell, VersionedMap } from "../src/VersionedState"
import * as VersionedState from "../src/VersionedState"

const byKey = (delta: Delta) => delta.slice().sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))

/** Applies deltas in order over an empty state (what a store does when it restores). */
const fold = (deltas: ReadonlyArray<Delta>): Map<string, StateValue> => {
  const entries = new Map<string, StateValue>()
  for (const delta of deltas) for (const [k, v] of delta) v === undefined ? entries.delete(k) : entries.set(k, v)
  return entries
}

describe("VersionedMap", () => {
  it.effect("the delta holds exactly the changed keys, deletes as undefined", () =>
    Effect.sync(() => {
      const m = VersionedMap.make<number>()
      m.set("kept", 0).set("gone", 0).set("changed", 0)
      m.takeDelta()
      m.set("changed", 1)
      m.delete("gone")
      m.set("new", 2)
      m.delete("never-there") // not a change
      expect(m.hasChanges()).toBe(true)
      expect(byKey(m.takeDelta())).toEqual([
        ["changed", 1],
        ["gone", undefined],
        ["new", 2]
      ])
    })
  )

  it.effect("a key set several times in one version appears once, with its last value", () =>
    Effect.sync(() => {
      const m = VersionedMap.make<number>()
      m.set("k", 1).set("k", 2).set("k", 3)
      expect(m.takeDelta()).toEqual([["k", 3]])
    })
  )

  it.effect("takeDelta starts a new change set", () =>
    Effect.sync(() => {
      const m = VersionedMap.make<number>()
      m.set("a", 1)
      expect(m.takeDelta()).toEqual([["a", 1]])
      expect(m.hasChanges()).toBe(false)
      expect(m.takeDelta()).toEqual([])
      m.set("b", 2)
      expect(m.takeDelta()).toEqual([["b", 2]])
    })
  )

  it.effect("restore replaces the whole content and forgets pending changes", () =>
    Effect.sync(() => {
      const m = VersionedMap.make<number>()
      m.set("old", 1).set("pending", 2)
      m.restore(new Map<string, StateValue>([["restored", 7]]))
      expect(Array.from(m)).toEqual([["restored", 7]])
      expect(m.get("old")).toBeUndefined()
      expect(m.hasChanges()).toBe(false)
      expect(m.takeDelta()).toEqual([])
    })
  )
})

describe("VersionedCell", () => {
  it.effect("a change becomes the whole value under the empty key; no change, no delta", () =>
    Effect.sync(() => {
      const c = VersionedCell.make({ n: 0 })
      expect(c.hasChanges()).toBe(false)
      expect(c.takeDelta()).toEqual([])
      expect(c.update((x) => ({ n: x.n + 1 }))).toEqual({ n: 1 })
      expect(c.hasChanges()).toBe(true)
      expect(c.takeDelta()).toEqual([["", { n: 1 }]])
      expect(c.hasChanges()).toBe(false)
      expect(c.takeDelta()).toEqual([])
    })
  )

  it.effect("restore sets the stored value, or the initial one when nothing is stored, and forgets pending changes", () =>
    Effect.sync(() => {
      const c = VersionedCell.make(10)
      c.set(11)
      c.restore(new Map<string, StateValue>([["", 42]]))
      expect(c.get()).toBe(42)
      expect(c.hasChanges()).toBe(false)
      c.set(43)
      c.restore(new Map())
      expect(c.get()).toBe(10)
      expect(c.takeDelta()).toEqual([])
    })
  )
})

describe("VersionedState.struct", () => {
  it.effect("prefixes each part's keys with its name", () =>
    Effect.sync(() => {
      const s = VersionedState.struct({ data: VersionedMap.make<number>(), count: VersionedCell.make(0) })
      expect(s.hasChanges()).toBe(false)
      s.data.set("x", 1)
      s.count.set(5)
      expect(s.hasChanges()).toBe(true)
      expect(byKey(s.takeDelta())).toEqual([
        ["count/", 5],
        ["data/x", 1]
      ])
      expect(s.hasChanges()).toBe(false)
    })
  )

  it.effect("routes restored entries back to their parts (keys may contain '/')", () =>
    Effect.sync(() => {
      const s = VersionedState.struct({ data: VersionedMap.make<number>(), seen: VersionedMap.make<boolean>(), count: VersionedCell.make(0) })
      s.data.set("stale", 1)
      s.restore(
        new Map<string, StateValue>([
          ["data/a", 1],
          ["data/b/c", 2],
          ["seen/r1", true],
          ["count/", 9],
          ["unknown/x", 3]
        ])
      )
      expect(Array.from(s.data)).toEqual([
        ["a", 1],
        ["b/c", 2]
      ])
      expect(Array.from(s.seen)).toEqual([["r1", true]])
      expect(s.count.get()).toBe(9)
      expect(s.hasChanges()).toBe(false)
    })
  )

  it.effect("rejects a part name containing '/'", () =>
    Effect.sync(() => {
      expect(() => VersionedState.struct({ "a/b": VersionedMap.make<number>() })).toThrow(/must not contain/)
    })
  )
})

type Op =
  | { readonly op: "set"; readonly key: string; readonly value: number }
  | { readonly op: "delete"; readonly key: string }
  | { readonly op: "cell"; readonly value: number }
  | { readonly op: "seal" }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant("set" as const), key: fc.constantFrom("a", "b", "c", "d/e", ""), value: fc.integer() }),
  fc.record({ op: fc.constant("delete" as const), key: fc.constantFrom("a", "b", "c", "d/e", "") }),
  fc.record({ op: fc.constant("cell" as const), value: fc.integer() }),
  fc.record({ op: fc.constant("seal" as const) })
)

describe("replaying deltas", () => {
  it.effect("replaying a VersionedMap's deltas over an empty state reproduces it (property)", () =>
    Effect.sync(() => {
      fc.assert(
        fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
          const m = VersionedMap.make<number>()
          const deltas: Array<Delta> = []
          for (const o of ops) {
            if (o.op === "set") m.set(o.key, o.value)
            else if (o.op === "delete") m.delete(o.key)
            else if (o.op === "seal") deltas.push(m.takeDelta())
          }
          deltas.push(m.takeDelta())
          expect(fold(deltas)).toEqual(new Map(m))
          const restored = VersionedMap.make<number>()
          restored.restore(fold(deltas))
          expect(new Map(restored)).toEqual(new Map(m))
        }),
        { numRuns: 500 }
      )
    })
  )

  it.effect("replaying a struct's deltas over an empty state reproduces every part (property)", () =>
    Effect.sync(() => {
      fc.assert(
        fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
          const live = VersionedState.struct({ map: VersionedMap.make<number>(), cell: VersionedCell.make(-1) })
          const deltas: Array<Delta> = []
          for (const o of ops) {
            if (o.op === "set") live.map.set(o.key, o.value)
            else if (o.op === "delete") live.map.delete(o.key)
            else if (o.op === "cell") live.cell.set(o.value)
            else deltas.push(live.takeDelta())
          }
          deltas.push(live.takeDelta())
          const replayed = VersionedState.struct({ map: VersionedMap.make<number>(), cell: VersionedCell.make(-1) })
          replayed.restore(fold(deltas))
          expect(new Map(replayed.map)).toEqual(new Map(live.map))
          expect(replayed.cell.get()).toBe(live.cell.get())
        }),
        { numRuns: 500 }
      )
    })
  )
})
