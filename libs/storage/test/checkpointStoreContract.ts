/**
 * The rules every CheckpointStore keeps (core/CheckpointStore.ts), run against each implementation.
 */
import type { CheckpointStore, Delta, Dependency } from "@dse/core"
import { workerId, worldLine } from "@dse/core"
import { describe, expect, it as vitest } from "@effect/vitest"
import type { Context, Scope } from "effect"
import { Effect } from "effect"
import { entriesOf, meta, persistRange, v } from "./helpers"

export type MakeStore = Effect.Effect<Context.Tag.Service<typeof CheckpointStore>, unknown, Scope.Scope>

export const checkpointStoreContract = (name: string, makeStore: MakeStore, options: { readonly live?: boolean } = {}) =>
  describe(`${name} (CheckpointStore rules)`, () => {
    // Live clock for stores that sleep; TestClock would never wake them.
    const it = options.live === true ? { scoped: vitest.scopedLive } : { scoped: vitest.scoped }
    const openWorker = (worker = "w1") => Effect.flatMap(makeStore, (store) => store.open(worker))

    it.scoped("persist then restore round-trips values, deletions and Uint8Array", () =>
      Effect.gen(function* () {
        const store = yield* openWorker()
        const bytes = new Uint8Array([0, 1, 2, 255])
        yield* store.persist(meta(1), [["a", 1], ["b", { nested: [1, "x", null, true] }], ["c", bytes], ["d", "gone"]])
        yield* store.persist(meta(2), [["d", undefined], ["e", new Map([["m", 1]])], ["n", null]])
        const s1 = yield* store.restore(v(1))
        expect(s1.version).toBe(1)
        expect(entriesOf(s1)).toEqual({ a: 1, b: { nested: [1, "x", null, true] }, c: bytes, d: "gone" })
        const s2 = yield* store.restore(v(2))
        expect(entriesOf(s2)).toEqual({ a: 1, b: { nested: [1, "x", null, true] }, c: bytes, e: new Map([["m", 1]]), n: null })
        expect(s2.entries.has("d")).toBe(false)
        expect(s2.entries.get("c")).toBeInstanceOf(Uint8Array)
      }))

    it.scoped("restore(0) of a new store is the empty state", () =>
      Effect.gen(function* () {
        const store = yield* openWorker()
        const state = yield* store.restore(v(0))
        expect(state.version).toBe(0)
        expect(state.entries.size).toBe(0)
        expect(yield* store.list).toEqual({ base: 0, worldLine: 0, checkpoints: [] })
      }))

    it.scoped("restore yields the state of every unpruned version", () =>
      Effect.gen(function* () {
        const store = yield* openWorker()
        yield* persistRange(store, 1, 6)
        yield* store.prune(v(2))
        for (let i = 2; i <= 6; i++) {
          const state = yield* store.restore(v(i))
          const expected: Record<string, number> = { k: i }
          for (let j = 1; j <= i; j++) expected[`k${j}`] = j
          expect(entriesOf(state)).toEqual(expected)
        }
      }))

    it.scoped("a delta naming a key twice keeps its last value", () =>
      Effect.gen(function* () {
        const store = yield* openWorker()
        yield* store.persist(meta(1), [["a", 1], ["a", 2], ["b", 1], ["b", undefined]])
        expect(entriesOf(yield* store.restore(v(1)))).toEqual({ a: 2 })
      }))

    it.scoped("restore of a pruned version fails with CheckpointStoreError", () =>
      Effect.gen(function* () {
        const store = yield* openWorker()
        yield* persistRange(store, 1, 3)
        yield* store.prune(v(2))
        const error = yield* Effect.flip(store.restore(v(1)))
        expect(error._tag).toBe("CheckpointStoreError")
        expect(error.reason).toContain("pruned")
      }))

    it.scoped("restore of an unknown version fails with CheckpointStoreError", () =>
      Effect.gen(function* () {
        const store = yield* openWorker()
        yield* store.persist(meta(1), [["a", 1]])
        yield* store.persist(meta(5), [["a", 5]]) // versions may skip (Lamport jumps)
        for (const unknown of [3, 6, 1.5, -1]) {
          const error = yield* Effect.flip(store.restore(v(unknown)))
          expect(error._tag).toBe("CheckpointStoreError")
        }
        expect(entriesOf(yield* store.restore(v(5)))).toEqual({ a: 5 })
      }))

    it.scoped("persist refuses a version that is not above the latest", () =>
      Effect.gen(function* () {
        const store = yield* openWorker()
        yield* persistRange(store, 1, 3)
        for (const stale of [3, 2, 0]) {
          const error = yield* Effect.flip(store.persist(meta(stale), [["k", "stale"]]))
          expect(error._tag).toBe("CheckpointStoreError")
        }
        expect((yield* store.restore(v(3))).entries.get("k")).toBe(3)
        expect((yield* store.list).checkpoints.map((c) => c.version)).toEqual([1, 2, 3])
      }))

    it.scoped("discardAfter deletes every checkpoint above the version", () =>
      Effect.gen(function* () {
        const store = yield* openWorker()
        yield* persistRange(store, 1, 5)
        yield* store.discardAfter(v(2))
        expect((yield* store.list).checkpoints.map((c) => c.version)).toEqual([1, 2])
        expect((yield* store.stats).checkpoints).toBe(2)
        expect((yield* Effect.flip(store.restore(v(3))))._tag).toBe("CheckpointStoreError")
        // The lost versions can be written again, in a new world-line.
        yield* store.persist(meta(3, [], 2), [["k", "again"]])
        const state = yield* store.restore(v(3))
        expect(entriesOf(state)).toEqual({ k: "again", k1: 1, k2: 2 })
        expect((yield* store.list).checkpoints.at(-1)).toEqual({ worldLine: 2, version: 3, deps: [] })
      }))

    it.scoped("discardAfter below the base fails with CheckpointStoreError", () =>
      Effect.gen(function* () {
        const store = yield* openWorker()
        yield* persistRange(store, 1, 3)
        yield* store.prune(v(2))
        expect((yield* Effect.flip(store.discardAfter(v(1))))._tag).toBe("CheckpointStoreError")
        yield* store.discardAfter(v(2))
        expect(yield* store.list).toEqual({ base: 2, worldLine: 0, checkpoints: [] })
      }))

    it.scoped("prune folds the checkpoints up to the committed version into the base and deletes them", () =>
      Effect.gen(function* () {
        const store = yield* openWorker()
        yield* store.persist(meta(1), [["a", 1], ["b", 1], ["gone", 1]])
        yield* store.persist(meta(2), [["a", 2], ["gone", undefined]])
        yield* store.persist(meta(3), [["b", 3], ["c", 3]])
        yield* store.persist(meta(4), [["a", 4]])
        expect((yield* store.stats).checkpoints).toBe(4)
        yield* store.prune(v(3))
        expect(yield* store.list).toEqual({ base: 3, worldLine: 0, checkpoints: [{ worldLine: 1, version: 4, deps: [] }] })
        expect((yield* store.stats).checkpoints).toBe(1)
        expect(entriesOf(yield* store.restore(v(3)))).toEqual({ a: 2, b: 3, c: 3 })
        expect(entriesOf(yield* store.restore(v(4)))).toEqual({ a: 4, b: 3, c: 3 })
        yield* store.prune(v(4))
        expect(yield* store.list).toEqual({ base: 4, worldLine: 0, checkpoints: [] })
        expect(entriesOf(yield* store.restore(v(4)))).toEqual({ a: 4, b: 3, c: 3 })
        yield* store.persist(meta(5), [["c", undefined]])
        expect(entriesOf(yield* store.restore(v(5)))).toEqual({ a: 4, b: 3 })
      }))

    it.scoped("prune at or below the base is a no-op", () =>
      Effect.gen(function* () {
        const store = yield* openWorker()
        yield* persistRange(store, 1, 3)
        yield* store.prune(v(2))
        yield* store.prune(v(2))
        yield* store.prune(v(1))
        yield* store.prune(v(0))
        expect(yield* store.list).toEqual({ base: 2, worldLine: 0, checkpoints: [{ worldLine: 1, version: 3, deps: [] }] })
      }))

    it.scoped("prune to an unknown version fails with CheckpointStoreError and changes nothing", () =>
      Effect.gen(function* () {
        const store = yield* openWorker()
        yield* store.persist(meta(1), [["a", 1]])
        yield* store.persist(meta(3), [["a", 3]])
        for (const unknown of [2, 4]) {
          expect((yield* Effect.flip(store.prune(v(unknown))))._tag).toBe("CheckpointStoreError")
        }
        expect((yield* store.list).base).toBe(0)
        expect((yield* store.stats).checkpoints).toBe(2)
      }))

    it.scoped("list returns the base and the metadata of unpruned checkpoints, oldest first", () =>
      Effect.gen(function* () {
        const store = yield* openWorker()
        const deps: ReadonlyArray<Dependency> = [[workerId(2), v(7)], [workerId(3), v(1)]]
        yield* store.persist(meta(1), [["a", 1]])
        yield* store.persist(meta(2, deps, 1), [])
        yield* store.persist(meta(4, [[workerId(2), v(9)]], 2), [["a", 4]])
        yield* store.prune(v(1))
        expect(yield* store.list).toEqual({
          base: 1,
          worldLine: 0,
          checkpoints: [
            { worldLine: 1, version: 2, deps: [[2, 7], [3, 1]] },
            { worldLine: 2, version: 4, deps: [[2, 9]] }
          ]
        })
      }))

    it.scoped("adoptWorldLine records the world-line that list returns", () =>
      Effect.gen(function* () {
        const store = yield* openWorker()
        yield* persistRange(store, 1, 3)
        yield* store.adoptWorldLine(worldLine(2))
        expect((yield* store.list).worldLine).toBe(2)
        yield* store.adoptWorldLine(worldLine(2)) // again: no-op
        yield* store.prune(v(1))
        yield* store.discardAfter(v(2))
        yield* store.adoptWorldLine(worldLine(5))
        const list = yield* store.list
        expect(list.worldLine).toBe(5)
        // The checkpoints keep the world-line they were written in.
        expect(list.checkpoints).toEqual([{ worldLine: 1, version: 2, deps: [] }])
      }))

    it.scoped("adoptWorldLine refuses a world-line below the adopted one, and invalid ones", () =>
      Effect.gen(function* () {
        const store = yield* openWorker()
        yield* store.adoptWorldLine(worldLine(3))
        for (const bad of [2, 0, -1, 1.5]) {
          expect((yield* Effect.flip(store.adoptWorldLine(worldLine(bad))))._tag).toBe("CheckpointStoreError")
        }
        expect((yield* store.list).worldLine).toBe(3)
      }))

    it.scoped("stored values cannot be aliased by callers", () =>
      Effect.gen(function* () {
        const store = yield* openWorker()
        const value = { list: [1, 2] }
        const bytes = new Uint8Array([1, 2, 3])
        const delta: Array<[string, unknown]> = [["a", value], ["b", bytes]]
        yield* store.persist(meta(1), delta)
        value.list.push(3)
        bytes[0] = 99
        delta.push(["c", 1])
        const first = yield* store.restore(v(1))
        expect(entriesOf(first)).toEqual({ a: { list: [1, 2] }, b: new Uint8Array([1, 2, 3]) })
        ;(first.entries.get("a") as { list: Array<number> }).list.push(4)
        expect(entriesOf(yield* store.restore(v(1)))).toEqual({ a: { list: [1, 2] }, b: new Uint8Array([1, 2, 3]) })
      }))

    it.scoped("a value that cannot be cloned fails with CheckpointStoreError and persists nothing", () =>
      Effect.gen(function* () {
        const store = yield* openWorker()
        const error = yield* Effect.flip(store.persist(meta(1), [["ok", 1], ["f", () => 1]] satisfies Delta))
        expect(error._tag).toBe("CheckpointStoreError")
        expect(yield* store.list).toEqual({ base: 0, worldLine: 0, checkpoints: [] })
        yield* store.persist(meta(1), [["ok", 1]])
      }))

    it.scoped("operations of a worker run in call order", () =>
      Effect.gen(function* () {
        const store = yield* openWorker()
        const completed: Array<string> = []
        const ops: Array<Effect.Effect<unknown, unknown>> = []
        for (let i = 1; i <= 200; i++) {
          ops.push(store.persist(meta(i), [["k", i], [`k${i % 7}`, i]]).pipe(Effect.tap(() => completed.push(`p${i}`))))
          if (i % 25 === 0) {
            // Called after persist i, so it must see it: a restore run earlier fails (unknown version).
            ops.push(
              store.restore(v(i)).pipe(
                Effect.tap((s) => expect(s.entries.get("k")).toBe(i)),
                Effect.tap(() => completed.push(`r${i}`))
              )
            )
          }
          if (i === 100) ops.push(store.prune(v(50)).pipe(Effect.tap(() => completed.push("prune"))))
        }
        yield* Effect.all(ops, { concurrency: "unbounded", discard: true })
        const expected: Array<string> = []
        for (let i = 1; i <= 200; i++) {
          expected.push(`p${i}`)
          if (i % 25 === 0) expected.push(`r${i}`)
          if (i === 100) expected.push("prune")
        }
        expect(completed).toEqual(expected)
        const list = yield* store.list
        expect(list.base).toBe(50)
        expect(list.checkpoints.map((c) => c.version)).toEqual(Array.from({ length: 150 }, (_, j) => 51 + j))
      }))

    it.scoped("workers are isolated from each other", () =>
      Effect.gen(function* () {
        const stores = yield* makeStore
        const a = yield* stores.open("a")
        const b = yield* stores.open("b")
        yield* a.persist(meta(1), [["x", "a"]])
        yield* b.persist(meta(1), [["x", "b"]])
        yield* b.persist(meta(2), [["y", "b"]])
        yield* a.prune(v(1))
        expect(entriesOf(yield* a.restore(v(1)))).toEqual({ x: "a" })
        expect(entriesOf(yield* b.restore(v(2)))).toEqual({ x: "b", y: "b" })
        expect((yield* b.list).base).toBe(0)
      }))

    it.scoped("unsafe worker names are refused with CheckpointStoreError", () =>
      Effect.gen(function* () {
        const stores = yield* makeStore
        for (const bad of ["", ".", "..", "../x", "a/b", ".hidden", "-opt", "a b", "x".repeat(129), "a\u0000b"]) {
          const error = yield* Effect.flip(stores.open(bad))
          expect(error._tag).toBe("CheckpointStoreError")
        }
        yield* stores.open("kv-3.shard_1:a")
      }))

    it.scoped("a worker cannot be opened twice at once, and can be reopened after closing", () =>
      Effect.gen(function* () {
        const stores = yield* makeStore
        yield* Effect.scoped(
          Effect.gen(function* () {
            const first = yield* stores.open("w")
            yield* first.persist(meta(1), [["a", 1]])
            expect((yield* Effect.flip(stores.open("w")))._tag).toBe("CheckpointStoreError")
          })
        )
        const again = yield* stores.open("w")
        expect(entriesOf(yield* again.restore(v(1)))).toEqual({ a: 1 })
      }))

    it.scoped("operations on a closed worker store fail with CheckpointStoreError", () =>
      Effect.gen(function* () {
        const stores = yield* makeStore
        const closed = yield* Effect.scoped(stores.open("w"))
        expect((yield* Effect.flip(closed.persist(meta(1), [])))._tag).toBe("CheckpointStoreError")
        expect((yield* Effect.flip(closed.list))._tag).toBe("CheckpointStoreError")
      }))
  })
