/**
 * The coordinator's durable state (SPEC 3.8) in `<dataDir>/coordinator.db`: world-line history and
 * membership, `synchronous=FULL`, one fsync'd statement per change.
 *
 * Unlike checkpoints, this runs better-sqlite3 on the calling thread: writes happen only when a
 * worker registers or the world-line changes, and the caller must wait for them anyway.
 */
import { CheckpointStoreError, ClusterStateStore, CorruptCheckpoint, Cut } from "@dse/core"
import type { ClusterState, ClusterStateHandle, WorkerId, WorldLine, WorldLineRecord } from "@dse/core"
import type { Database } from "better-sqlite3"
import { Effect, Layer } from "effect"
import type { Scope } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { invalidMember, invalidWorldLine, memberConflict } from "./internal/clusterRules"
import { classify, describe, openDseFile } from "./internal/sqliteFile.mjs"
import type { Pragmas } from "./SqliteCheckpointStore"

export interface Options {
  /** Directory of `coordinator.db`; created if missing. */
  readonly dataDir: string
}

export interface SqliteClusterStateHandle extends ClusterStateHandle {
  readonly path: string
  /** The effective settings, read back from sqlite when the file was opened. */
  readonly pragmas: Pragmas
}

export interface SqliteClusterStateStore {
  readonly dataDir: string
  readonly open: Effect.Effect<SqliteClusterStateHandle, CheckpointStoreError | CorruptCheckpoint, Scope.Scope>
}

export const FILE_NAME = "coordinator.db"

const OWNER = "coordinator"

const DDL = `
  CREATE TABLE world_lines (
    world_line INTEGER PRIMARY KEY,
    recovery_cut TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE members (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
`

export const make = (options: Options): Effect.Effect<SqliteClusterStateStore, CheckpointStoreError> =>
  Effect.gen(function* () {
    const dataDir = path.resolve(options.dataDir)
    const file = path.join(dataDir, FILE_NAME)
    const storeError = (operation: string, reason: string) => new CheckpointStoreError({ worker: OWNER, operation, reason })
    yield* Effect.try({
      try: () => fs.mkdirSync(dataDir, { recursive: true }),
      catch: (error) => storeError("start", `cannot create ${dataDir}: ${describe(error)}`)
    })

    const sync = <A>(operation: string, f: () => A) =>
      Effect.try({ try: f, catch: (error) => storeError(operation, classify(error).reason) })

    const handleOf = (db: Database, pragmas: Pragmas): SqliteClusterStateHandle => {
      const selectHistory = db.prepare("SELECT world_line, recovery_cut FROM world_lines ORDER BY world_line").raw()
      const selectMembers = db.prepare("SELECT id, name FROM members ORDER BY id").raw()
      const lastWorldLine = db.prepare("SELECT max(world_line) FROM world_lines").pluck()
      const insertWorldLine = db.prepare("INSERT INTO world_lines (world_line, recovery_cut, created_at) VALUES (?, ?, ?)")
      const nameOf = db.prepare("SELECT name FROM members WHERE id = ?").pluck()
      const idOf = db.prepare("SELECT id FROM members WHERE name = ?").pluck()
      const insertMember = db.prepare("INSERT INTO members (id, name) VALUES (?, ?)")

      const load = sync("load", (): ClusterState => ({
        history: (selectHistory.all() as Array<[number, string]>).map(([worldLine, cut]) => ({
          worldLine: worldLine as WorldLine,
          recoveryCut: Cut.fromWire(JSON.parse(cut) as Cut.CutWire)
        })),
        members: (selectMembers.all() as Array<[number, string]>).map(([id, name]) => ({ id: id as WorkerId, name }))
      })).pipe(Effect.withSpan("SqliteClusterStateStore.load"))

      const recordWorldLine = Effect.fn("SqliteClusterStateStore.recordWorldLine")(function* (record: WorldLineRecord) {
        const last = (yield* sync("recordWorldLine", () => lastWorldLine.get())) as number | null
        const invalid = invalidWorldLine(record, last ?? undefined)
        if (invalid !== undefined) return yield* storeError("recordWorldLine", invalid)
        const wire = JSON.stringify(Cut.toWire(record.recoveryCut))
        yield* sync("recordWorldLine", () => insertWorldLine.run(record.worldLine, wire, Date.now()))
      })

      const addMember = Effect.fn("SqliteClusterStateStore.addMember")(function* (id: WorkerId, name: string) {
        const invalid = invalidMember(id, name)
        if (invalid !== undefined) return yield* storeError("addMember", invalid)
        const conflict = yield* sync("addMember", () =>
          memberConflict(id, name, nameOf.get(id) as string | undefined, idOf.get(name) as number | undefined)
        )
        if (conflict === "present") return
        if (conflict !== undefined) return yield* storeError("addMember", conflict)
        yield* sync("addMember", () => insertMember.run(id, name))
      })

      return { path: file, pragmas, load, recordWorldLine, addMember }
    }

    const open = Effect.acquireRelease(
      Effect.try({
        try: () => openDseFile({ path: file, kind: "cluster-state", owner: OWNER, ddl: DDL, timeoutMs: 1000 }),
        catch: (error) => {
          const e = classify(error)
          return e.kind === "corrupt"
            ? new CorruptCheckpoint({ worker: OWNER, path: file, reason: e.reason })
            : storeError("open", e.reason)
        }
      }),
      ({ db }) => Effect.sync(() => db.close())
    ).pipe(
      Effect.flatMap(({ db, pragmas }) => sync("open", () => handleOf(db, pragmas))),
      Effect.withSpan("SqliteClusterStateStore.open")
    )

    return { dataDir, open } satisfies SqliteClusterStateStore
  })

/** `ClusterStateStore` backed by `<dataDir>/coordinator.db`. */
export const layer = (options: Options): Layer.Layer<ClusterStateStore, CheckpointStoreError> =>
  Layer.effect(ClusterStateStore, make(options))
