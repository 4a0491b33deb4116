import Database from "better-sqlite3"
import type { ClusterStateHandle, ClusterStateStore } from "@dse/core"
import { version, workerId, worldLine } from "@dse/core"
import { describe, expect, it } from "@effect/vitest"
import type { Context, Scope } from "effect"
import { Effect } from "effect"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { MemoryClusterStateStore, SqliteCheckpointStore, SqliteClusterStateStore } from "../src/index"
import { tempDir } from "./helpers"

const cut = (...entries: ReadonlyArray<readonly [number, number]>) =>
  new Map(entries.map(([w, v]) => [workerId(w), version(v)] as const))

const record = (wl: number, ...entries: ReadonlyArray<readonly [number, number]>) => ({
  worldLine: worldLine(wl),
  recoveryCut: cut(...entries)
})

const contract = (name: string, makeStore: Effect.Effect<Context.Tag.Service<typeof ClusterStateStore>, unknown, Scope.Scope>) =>
  describe(`${name} (ClusterStateStore rules)`, () => {
    const open: Effect.Effect<ClusterStateHandle, unknown, Scope.Scope> = Effect.flatMap(makeStore, (s) => s.open)

    it.scoped("a new cluster has no history and no members", () =>
      Effect.gen(function* () {
        const handle = yield* open
        expect(yield* handle.load).toEqual({ history: [], members: [] })
      }))

    it.scoped("recordWorldLine appends to the history, oldest first", () =>
      Effect.gen(function* () {
        const handle = yield* open
        yield* handle.recordWorldLine(record(2, [1, 5], [2, 0]))
        yield* handle.recordWorldLine(record(3, [1, 7], [2, 3], [4, 1]))
        yield* handle.recordWorldLine(record(7))
        const { history } = yield* handle.load
        expect(history.map((r) => r.worldLine)).toEqual([2, 3, 7])
        expect(Array.from(history[1]!.recoveryCut)).toEqual([[1, 7], [2, 3], [4, 1]])
        expect(history[2]!.recoveryCut.size).toBe(0)
      }))

    it.scoped("recordWorldLine refuses a world-line that is not above the last one", () =>
      Effect.gen(function* () {
        const handle = yield* open
        yield* handle.recordWorldLine(record(2, [1, 1]))
        for (const stale of [2, 1]) {
          expect((yield* Effect.flip(handle.recordWorldLine(record(stale, [1, 9]))))._tag).toBe("CheckpointStoreError")
        }
        expect((yield* handle.load).history).toHaveLength(1)
      }))

    it.scoped("addMember records members; ids and names are unique", () =>
      Effect.gen(function* () {
        const handle = yield* open
        yield* handle.addMember(workerId(1), "kv-0")
        yield* handle.addMember(workerId(2), "kv-1")
        expect((yield* Effect.flip(handle.addMember(workerId(1), "wal")))._tag).toBe("CheckpointStoreError")
        expect((yield* Effect.flip(handle.addMember(workerId(3), "kv-0")))._tag).toBe("CheckpointStoreError")
        expect((yield* handle.load).members).toEqual([{ id: 1, name: "kv-0" }, { id: 2, name: "kv-1" }])
      }))

    it.scoped("adding the same member again is a no-op", () =>
      Effect.gen(function* () {
        const handle = yield* open
        yield* handle.addMember(workerId(1), "kv-0")
        yield* handle.addMember(workerId(1), "kv-0")
        expect((yield* handle.load).members).toEqual([{ id: 1, name: "kv-0" }])
      }))

    it.scoped("invalid members and world-lines are refused with CheckpointStoreError", () =>
      Effect.gen(function* () {
        const handle = yield* open
        expect((yield* Effect.flip(handle.addMember(workerId(0), "x")))._tag).toBe("CheckpointStoreError")
        expect((yield* Effect.flip(handle.addMember(workerId(1), "")))._tag).toBe("CheckpointStoreError")
        expect((yield* Effect.flip(handle.recordWorldLine(record(0))))._tag).toBe("CheckpointStoreError")
        expect((yield* Effect.flip(handle.recordWorldLine(record(2, [1, -1]))))._tag).toBe("CheckpointStoreError")
        expect(yield* handle.load).toEqual({ history: [], members: [] })
      }))

    it.scoped("loaded state is a copy", () =>
      Effect.gen(function* () {
        const handle = yield* open
        yield* handle.recordWorldLine(record(2, [1, 1]))
        const loaded = yield* handle.load
        ;(loaded.history[0]!.recoveryCut as Map<unknown, unknown>).set(9, 9)
        expect((yield* handle.load).history[0]!.recoveryCut.size).toBe(1)
      }))
  })

contract("MemoryClusterStateStore", Effect.map(MemoryClusterStateStore.make, (s) => s.service))
contract("SqliteClusterStateStore", Effect.flatMap(tempDir, (dataDir) => SqliteClusterStateStore.make({ dataDir })))

describe("MemoryClusterStateStore", () => {
  it.scoped("its data outlives the coordinator: opening it again finds the same state", () =>
    Effect.gen(function* () {
      const store = yield* MemoryClusterStateStore.make
      yield* Effect.flatMap(store.service.open, (h) => h.addMember(workerId(1), "a"))
      const again = yield* store.service.open
      expect((yield* again.load).members).toEqual([{ id: 1, name: "a" }])
    }))
})

describe("SqliteClusterStateStore", () => {
  const openIn = (dataDir: string) =>
    Effect.flatMap(SqliteClusterStateStore.make({ dataDir }), (s) => s.open)

  it.scoped("cluster state survives closing and reopening", () =>
    Effect.gen(function* () {
      const dataDir = yield* tempDir
      yield* Effect.scoped(
        Effect.gen(function* () {
          const handle = yield* openIn(dataDir)
          yield* handle.addMember(workerId(1), "kv-0")
          yield* handle.recordWorldLine(record(2, [1, 4]))
          expect(handle.path).toBe(path.join(dataDir, "coordinator.db"))
        })
      )
      const handle = yield* openIn(dataDir)
      const state = yield* handle.load
      expect(state.members).toEqual([{ id: 1, name: "kv-0" }])
      expect(state.history.map((r) => [r.worldLine, Array.from(r.recoveryCut)])).toEqual([[2, [[1, 4]]]])
      expect((yield* Effect.flip(handle.recordWorldLine(record(2))))._tag).toBe("CheckpointStoreError")
    }))

  it.scoped("synchronous=FULL and journal_mode=wal are in effect", () =>
    Effect.gen(function* () {
      const handle = yield* openIn(yield* tempDir)
      expect(handle.pragmas).toEqual({ journalMode: "wal", synchronous: 2, lockingMode: "exclusive" })
    }))

  it.scoped("a corrupt coordinator file fails with CorruptCheckpoint", () =>
    Effect.gen(function* () {
      const dataDir = yield* tempDir
      fs.writeFileSync(path.join(dataDir, "coordinator.db"), crypto.randomBytes(16384))
      const error = yield* Effect.flip(Effect.scoped(openIn(dataDir)))
      expect(error._tag).toBe("CorruptCheckpoint")
    }))

  it.scoped("a foreign SQLite file fails with CorruptCheckpoint", () =>
    Effect.gen(function* () {
      const dataDir = yield* tempDir
      const db = new Database(path.join(dataDir, "coordinator.db"))
      db.exec("CREATE TABLE t (x)")
      db.close()
      expect((yield* Effect.flip(Effect.scoped(openIn(dataDir))))._tag).toBe("CorruptCheckpoint")
    }))

  it.scoped("a worker's checkpoint file is not accepted as cluster state", () =>
    Effect.gen(function* () {
      const dataDir = yield* tempDir
      const workerFile = yield* Effect.scoped(
        Effect.gen(function* () {
          const w = yield* (yield* SqliteCheckpointStore.make({ dataDir })).open("w1")
          return w.path
        })
      )
      fs.copyFileSync(workerFile, path.join(dataDir, "coordinator.db"))
      const error = yield* Effect.flip(Effect.scoped(openIn(dataDir)))
      expect(error._tag).toBe("CorruptCheckpoint")
    }))
})
