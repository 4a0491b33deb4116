import Database from "better-sqlite3"
import { CheckpointStore, worldLine } from "@dse/core"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Option } from "effect"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { SqliteCheckpointStore } from "../src/index"
import * as ThreadClient from "../src/internal/sqliteThreadClient"
import { checkpointStoreContract } from "./checkpointStoreContract"
import { entriesOf, meta, persistRange, tempDir, v } from "./helpers"

checkpointStoreContract(
  "SqliteCheckpointStore",
  Effect.flatMap(tempDir, (dataDir) => SqliteCheckpointStore.make({ dataDir }))
)

/** Writes a valid checkpoint file of `worker` with versions 1..3 and closes it. */
const writeWorkerFile = (dataDir: string, worker: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const store = yield* SqliteCheckpointStore.make({ dataDir })
      const w = yield* store.open(worker)
      yield* persistRange(w, 1, 3)
      return w.path
    })
  )

const openFails = (dataDir: string, worker: string) =>
  Effect.scoped(Effect.flatMap(SqliteCheckpointStore.make({ dataDir }), (store) => Effect.flip(store.open(worker))))

describe("SqliteCheckpointStore", () => {
  it.scoped("the layer provides CheckpointStore with one file per worker under dataDir", () =>
    Effect.gen(function* () {
      const dataDir = yield* tempDir
      yield* Effect.scoped(
        Effect.gen(function* () {
          const store = yield* CheckpointStore
          const w = yield* store.open("kv-1")
          yield* w.persist(meta(1), [["a", 1]])
        }).pipe(Effect.provide(SqliteCheckpointStore.layer({ dataDir })))
      )
      expect(fs.readdirSync(dataDir)).toEqual(["kv-1.db"])
    }))

  it.scoped("data survives closing the store and opening it again", () =>
    Effect.gen(function* () {
      const dataDir = yield* tempDir
      yield* Effect.scoped(
        Effect.gen(function* () {
          const w = yield* (yield* SqliteCheckpointStore.make({ dataDir })).open("w1")
          yield* w.persist(meta(1), [["a", 1], ["bytes", new Uint8Array([7, 8])]])
          yield* w.persist(meta(2, [[3 as never, 4 as never]]), [["a", undefined], ["b", { x: 2 }]])
          yield* w.persist(meta(3), [["c", 3]])
          yield* w.prune(v(1))
          yield* w.adoptWorldLine(worldLine(4))
        })
      )
      const w = yield* (yield* SqliteCheckpointStore.make({ dataDir })).open("w1")
      expect(yield* w.list).toEqual({
        base: 1,
        worldLine: 4,
        checkpoints: [{ worldLine: 1, version: 2, deps: [[3, 4]] }, { worldLine: 1, version: 3, deps: [] }]
      })
      expect(entriesOf(yield* w.restore(v(1)))).toEqual({ a: 1, bytes: new Uint8Array([7, 8]) })
      expect(entriesOf(yield* w.restore(v(3)))).toEqual({ b: { x: 2 }, bytes: new Uint8Array([7, 8]), c: 3 })
      // The version rule survives the restart too.
      expect((yield* Effect.flip(w.persist(meta(3), [])))._tag).toBe("CheckpointStoreError")
      yield* w.persist(meta(4), [])
    }))

  it.scoped("journal_mode=wal and synchronous=FULL are in effect", () =>
    Effect.gen(function* () {
      const dataDir = yield* tempDir
      const file = yield* Effect.scoped(
        Effect.gen(function* () {
          const w = yield* (yield* SqliteCheckpointStore.make({ dataDir })).open("w1")
          expect(yield* w.pragmas).toEqual({ journalMode: "wal", synchronous: 2, lockingMode: "exclusive" })
          yield* w.persist(meta(1), [["a", 1]])
          return w.path
        })
      )
      // WAL mode is a property of the file: check it from another connection too.
      const db = new Database(file, { readonly: true })
      try {
        expect(db.pragma("journal_mode", { simple: true })).toBe("wal")
        // Small pages: a checkpoint commit writes (and fsyncs) a few KB, not a few 4 KB pages per table.
        expect(db.pragma("page_size", { simple: true })).toBe(1024)
      } finally {
        db.close()
      }
    }))

  it.scoped("prune deletes the rows of pruned checkpoints from the file", () =>
    Effect.gen(function* () {
      const dataDir = yield* tempDir
      const file = yield* Effect.scoped(
        Effect.gen(function* () {
          const w = yield* (yield* SqliteCheckpointStore.make({ dataDir })).open("w1")
          yield* persistRange(w, 1, 10)
          yield* w.prune(v(7))
          return w.path
        })
      )
      const db = new Database(file, { readonly: true })
      try {
        expect(db.prepare("SELECT count(*) FROM deltas WHERE version <= 7").pluck().get()).toBe(0)
        expect(db.prepare("SELECT count(*) FROM checkpoints WHERE version <= 7").pluck().get()).toBe(0)
        expect(db.prepare("SELECT count(*) FROM base").pluck().get()).toBe(8) // k, k1..k7
      } finally {
        db.close()
      }
    }))

  it.scoped("with pruning, the file does not grow with the number of versions", () =>
    Effect.gen(function* () {
      const dataDir = yield* tempDir
      const w = yield* (yield* SqliteCheckpointStore.make({ dataDir })).open("w1")
      const blob = new Uint8Array(8192)
      for (let i = 1; i <= 600; i++) {
        yield* w.persist(meta(i), [["state", blob], [`k${i % 10}`, i]])
        if (i > 2) yield* w.prune(v(i - 2))
      }
      // 600 versions of 8 KiB were written (4.8 MB); live data is 3 versions of it.
      expect(fs.statSync(w.path).size).toBeLessThan(512 * 1024)
      // The WAL is bounded by sqlite's auto-checkpoint (1000 pages, about 4 MiB), not by history.
      expect((yield* w.stats).bytes).toBeLessThan(512 * 1024 + 4.5 * 1024 * 1024)
    }))

  it.scoped("stats counts checkpoints and the bytes of the file and its WAL", () =>
    Effect.gen(function* () {
      const dataDir = yield* tempDir
      const w = yield* (yield* SqliteCheckpointStore.make({ dataDir })).open("w1")
      yield* w.persist(meta(1), [["big", new Uint8Array(200_000)]])
      const stats = yield* w.stats
      const onDisk = ["", "-wal"].reduce((n, suffix) => n + (fs.existsSync(w.path + suffix) ? fs.statSync(w.path + suffix).size : 0), 0)
      expect(stats.checkpoints).toBe(1)
      expect(stats.bytes).toBe(onDisk)
      expect(stats.bytes).toBeGreaterThan(200_000)
    }))

  it.scoped("a file of random bytes fails with CorruptCheckpoint", () =>
    Effect.gen(function* () {
      const dataDir = yield* tempDir
      const file = path.join(dataDir, "w1.db")
      fs.writeFileSync(file, crypto.randomBytes(64 * 1024))
      const error = yield* openFails(dataDir, "w1")
      expect(error._tag).toBe("CorruptCheckpoint")
      if (error._tag === "CorruptCheckpoint") {
        expect(error.path).toBe(file)
        expect(error.worker).toBe("w1")
      }
    }))

  it.scoped("a file with a SQLite header and garbage after it fails with CorruptCheckpoint", () =>
    Effect.gen(function* () {
      const dataDir = yield* tempDir
      const file = yield* writeWorkerFile(dataDir, "w1")
      const bytes = fs.readFileSync(file)
      crypto.randomFillSync(bytes, 100)
      fs.writeFileSync(file, bytes)
      expect((yield* openFails(dataDir, "w1"))._tag).toBe("CorruptCheckpoint")
    }))

  it.scoped("a truncated file fails with CorruptCheckpoint", () =>
    Effect.gen(function* () {
      const dataDir = yield* tempDir
      const file = yield* writeWorkerFile(dataDir, "w1")
      // Make it several pages long first, so that truncation cuts real data.
      yield* Effect.scoped(
        Effect.gen(function* () {
          const w = yield* (yield* SqliteCheckpointStore.make({ dataDir })).open("w1")
          yield* w.persist(meta(4), Array.from({ length: 200 }, (_, i) => [`key${i}`, "x".repeat(200)] as const))
        })
      )
      const size = fs.statSync(file).size
      expect(size).toBeGreaterThan(8 * 4096)
      fs.truncateSync(file, Math.floor(size / 2))
      expect((yield* openFails(dataDir, "w1"))._tag).toBe("CorruptCheckpoint")
      fs.truncateSync(file, 50)
      expect((yield* openFails(dataDir, "w1"))._tag).toBe("CorruptCheckpoint")
    }))

  it.scoped("damage in a data page that opening does not read is found by quick_check at open", () =>
    Effect.gen(function* () {
      const dataDir = yield* tempDir
      const file = path.join(dataDir, "w1.db")
      yield* Effect.scoped(
        Effect.gen(function* () {
          const w = yield* (yield* SqliteCheckpointStore.make({ dataDir })).open("w1")
          yield* w.persist(meta(1), Array.from({ length: 300 }, (_, i) => [`key${i}`, "x".repeat(300)] as const))
        })
      )
      const pages = fs.statSync(file).size / 4096
      expect(pages).toBeGreaterThan(20)
      const fd = fs.openSync(file, "r+")
      fs.writeSync(fd, crypto.randomBytes(4096), 0, 4096, (pages - 2) * 4096)
      fs.closeSync(fd)
      const error = yield* openFails(dataDir, "w1")
      expect(error._tag).toBe("CorruptCheckpoint")
      expect(error.reason).toContain("quick_check")
    }))

  it.scoped("a foreign SQLite file fails with CorruptCheckpoint and is left untouched", () =>
    Effect.gen(function* () {
      const dataDir = yield* tempDir
      const file = path.join(dataDir, "w1.db")
      const db = new Database(file)
      db.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT); INSERT INTO notes (text) VALUES ('mine')")
      db.close()
      const before = fs.readFileSync(file)
      const error = yield* openFails(dataDir, "w1")
      expect(error._tag).toBe("CorruptCheckpoint")
      expect(error.reason).toContain("application_id")
      expect(fs.readFileSync(file).equals(before)).toBe(true)
    }))

  it.scoped("a SQLite file of another application (other application_id) fails with CorruptCheckpoint", () =>
    Effect.gen(function* () {
      const dataDir = yield* tempDir
      const db = new Database(path.join(dataDir, "w1.db"))
      db.pragma("application_id = 1234")
      db.close()
      expect((yield* openFails(dataDir, "w1"))._tag).toBe("CorruptCheckpoint")
    }))

  it.scoped("the file of another worker fails with CorruptCheckpoint", () =>
    Effect.gen(function* () {
      const dataDir = yield* tempDir
      const file = yield* writeWorkerFile(dataDir, "alice")
      fs.copyFileSync(file, path.join(dataDir, "bob.db"))
      const error = yield* openFails(dataDir, "bob")
      expect(error._tag).toBe("CorruptCheckpoint")
      expect(error.reason).toContain("alice")
    }))

  it.scoped("a file of an unknown format version fails with CorruptCheckpoint", () =>
    Effect.gen(function* () {
      const dataDir = yield* tempDir
      const file = yield* writeWorkerFile(dataDir, "w1")
      const db = new Database(file)
      db.prepare("UPDATE meta SET value = '99' WHERE key = 'format'").run()
      db.close()
      const error = yield* openFails(dataDir, "w1")
      expect(error._tag).toBe("CorruptCheckpoint")
      expect(error.reason).toContain("format")
    }))

  it.scoped("the coordinator's file is not accepted as a checkpoint file", () =>
    Effect.gen(function* () {
      const dataDir = yield* tempDir
      const { SqliteClusterStateStore } = yield* Effect.promise(() => import("../src/index"))
      yield* Effect.scoped(Effect.flatMap(SqliteClusterStateStore.make({ dataDir }), (s) => s.open))
      expect((yield* openFails(dataDir, "coordinator"))._tag).toBe("CorruptCheckpoint")
    }))

  it.scoped("a file open in another store is refused with CheckpointStoreError", () =>
    Effect.gen(function* () {
      const dataDir = yield* tempDir
      const first = yield* SqliteCheckpointStore.make({ dataDir })
      yield* first.open("w1")
      const error = yield* openFails(dataDir, "w1")
      expect(error._tag).toBe("CheckpointStoreError")
      expect(error.reason).toContain("in use")
    }))

  it.scoped("a corrupt file does not stop the store from serving other workers", () =>
    Effect.gen(function* () {
      const dataDir = yield* tempDir
      fs.writeFileSync(path.join(dataDir, "bad.db"), crypto.randomBytes(8192))
      const store = yield* SqliteCheckpointStore.make({ dataDir })
      expect((yield* Effect.flip(store.open("bad")))._tag).toBe("CorruptCheckpoint")
      const good = yield* store.open("good")
      yield* persistRange(good, 1, 2)
      expect((yield* good.restore(v(2))).entries.get("k")).toBe(2)
    }))

  it.live("extraWriteLatencyMs delays every persist's completion, in call order, without serializing writes", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dataDir = yield* tempDir
        const latency = 100
        const w = yield* (yield* SqliteCheckpointStore.make({ dataDir, extraWriteLatencyMs: latency })).open("w1")
        const versions = Array.from({ length: 10 }, (_, i) => i + 1)
        const started = performance.now()
        const done: Array<number> = []
        yield* Effect.forEach(versions, (i) => w.persist(meta(i), [["k", i]]).pipe(Effect.tap(() => done.push(i))), {
          concurrency: "unbounded",
          discard: true
        })
        const elapsed = performance.now() - started
        expect(done).toEqual(versions)
        expect(elapsed).toBeGreaterThanOrEqual(latency - 1)
        expect(elapsed).toBeLessThan(versions.length * latency * 0.6) // pipelined, not one after the other
        const t = performance.now()
        yield* w.restore(v(10))
        expect(performance.now() - t).toBeLessThan(latency) // only writes pay the latency
      })
    ))

  it.live("the sqlite thread dying fails every pending operation with a typed error", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dataDir = yield* tempDir
        const client = yield* ThreadClient.make({ extraWriteLatencyMs: 200 })
        yield* client.request({ op: "open", worker: "w1", path: path.join(dataDir, "w1.db") })
        const pending = yield* Effect.fork(
          Effect.all(
            Array.from({ length: 20 }, (_, i) =>
              Effect.exit(client.request({ op: "persist", worker: "w1", worldLine: 1, version: i + 1, deps: [], delta: [["k", i]] }))
            ),
            { concurrency: "unbounded" }
          )
        )
        yield* Effect.sleep("50 millis")
        yield* Effect.promise(() => client.thread.terminate())
        const exits = yield* Fiber.join(pending)
        for (const exit of exits) {
          expect(Exit.isFailure(exit)).toBe(true)
          if (Exit.isFailure(exit)) {
            const failure = Cause.failureOption(exit.cause)
            expect(Option.isSome(failure) && failure.value.reason).toContain("sqlite thread exited")
          }
        }
        const after = yield* Effect.exit(client.request({ op: "list", worker: "w1" }))
        expect(Exit.isFailure(after)).toBe(true)
      })
    ))

  it.scoped("a dataDir that cannot be created fails the store with CheckpointStoreError", () =>
    Effect.gen(function* () {
      const dataDir = yield* tempDir
      const blocker = path.join(dataDir, "file")
      fs.writeFileSync(blocker, "")
      const exit = yield* Effect.exit(Effect.scoped(SqliteCheckpointStore.make({ dataDir: path.join(blocker, "sub") })))
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) expect(String(exit.cause)).toContain("CheckpointStoreError")
    }))
})
