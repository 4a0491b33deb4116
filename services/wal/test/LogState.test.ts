/**
 * The log's versioned state on its own: what a version's checkpoint delta holds, how a restore
 * rebuilds the log, and what it refuses.
 */
import { describe, expect, it } from "@effect/vitest"
import type { StoredEntry } from "../src/internal/logState"
import { LogState, ProducerTable } from "../src/internal/logState"

const entry = (v: number): StoredEntry => ({ d: { _tag: "Json", value: v }, w: 1, t: 0, n: 1 })

/** Applies deltas to a map, as a checkpoint store does. */
const apply = (store: Map<string, unknown>, delta: ReadonlyArray<readonly [string, unknown]>) => {
  for (const [k, v] of delta) {
    if (v === undefined) store.delete(k)
    else store.set(k, v)
  }
}

describe("LogState", () => {
  it("a version's delta holds exactly the entries appended in it, plus the meta key", () => {
    const log = new LogState()
    for (let i = 0; i < 1000; i++) log.append(entry(i))
    log.takeDelta()
    log.append(entry(1000))
    log.append(entry(1001))
    const delta = log.takeDelta()
    expect(delta.map(([k]) => k).sort()).toEqual(["e/1000", "e/1001", "m"])
    expect(log.hasChanges()).toBe(false)
  })

  it("a truncation is one meta key; reclaiming deletes entries a batch at a time, never at or above start", () => {
    const log = new LogState()
    for (let i = 0; i < 10; i++) log.append(entry(i))
    log.takeDelta()
    log.truncate(8)
    expect(log.takeDelta()).toEqual([["m", { next: 10, start: 8 }]])
    expect(log.reclaim(8, 3)).toBe(3)
    expect(log.takeDelta()).toEqual([["e/0", undefined], ["e/1", undefined], ["e/2", undefined]])
    expect(log.reclaim(100, 100)).toBe(5)
    expect(log.physStart).toBe(8)
    expect(log.get(7)).toBeUndefined()
    expect(log.get(8)).toEqual(entry(8))
  })

  it("restore rebuilds the log from its checkpoint keys (deltas applied in order)", () => {
    const log = new LogState()
    const store = new Map<string, unknown>()
    for (let i = 0; i < 5; i++) log.append(entry(i))
    apply(store, log.takeDelta())
    log.truncate(3)
    log.reclaim(3, 10)
    apply(store, log.takeDelta())
    const restored = new LogState()
    restored.restore(store)
    expect(restored.bounds).toEqual({ start: 3, end: 5 })
    expect(restored.physStart).toBe(3)
    expect([restored.get(3), restored.get(4)]).toEqual([entry(3), entry(4)])
    expect(restored.restores).toBe(1)
    // The restored state is the committed state.
    expect(restored.committed(0)).toEqual({ start: 3, end: 5 })
  })

  it("restore of an empty checkpoint is the empty log", () => {
    const log = new LogState()
    log.restore(new Map())
    expect(log.bounds).toEqual({ start: 0, end: 0 })
  })

  it("restore refuses a checkpoint with a hole or an entry beyond the end (corrupt)", () => {
    const log = new LogState()
    expect(() => log.restore(new Map<string, unknown>([["m", { next: 3, start: 0 }], ["e/0", entry(0)], ["e/2", entry(2)]]))).toThrow(/corrupt/)
    expect(() => log.restore(new Map<string, unknown>([["m", { next: 1, start: 0 }], ["e/0", entry(0)], ["e/5", entry(5)]]))).toThrow(/corrupt/)
    expect(() => log.restore(new Map<string, unknown>([["m", { next: 2, start: 0 }], ["e/1", entry(1)]]))).toThrow(/corrupt/)
  })

  it("commit tracking: the committed bounds are those of the newest version at or below the committed one", () => {
    const log = new LogState()
    log.restore(new Map())
    log.append(entry(0))
    log.record(2)
    log.append(entry(1))
    log.record(2)
    log.append(entry(2))
    log.record(5)
    expect(log.committed(1)).toEqual({ start: 0, end: 0 })
    expect(log.versionHolding(0)).toBe(2)
    expect(log.versionHolding(2)).toBe(5)
    expect(log.committed(4)).toEqual({ start: 0, end: 2 })
    expect(log.versionHolding(1)).toBeUndefined()
    expect(log.committed(9)).toEqual({ start: 0, end: 3 })
  })
})

describe("ProducerTable", () => {
  it("evicts the least recently active producers first, only when expired", () => {
    const t = new ProducerTable()
    t.set("a", { w: [[0, 0, 1, 1]], at: 10 })
    t.set("b", { w: [[0, 1, 1, 1]], at: 20 })
    t.set("a", { w: [[1, 2, 1, 1]], at: 30 })
    expect(t.evictExpired(25, 10)).toBe(1)
    expect(t.get("b")).toBeUndefined()
    expect(t.get("a")).toBeDefined()
    expect(t.takeDelta().map(([k]) => k).sort()).toEqual(["a", "b"])
  })

  it("restore keeps the activity order", () => {
    const t = new ProducerTable()
    t.restore(new Map([["late", { w: [], at: 50 }], ["early", { w: [], at: 5 }]]))
    expect(t.evictExpired(10, 10)).toBe(1)
    expect(t.get("early")).toBeUndefined()
    expect(t.get("late")).toBeDefined()
  })
})
