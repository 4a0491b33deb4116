// The sqlite side of SqliteCheckpointStore: one worker thread serving every worker file of a store,
// so fsync'd commits, v8 (de)serialization and sqlite reads never run on the caller's event loop.
// Plain JavaScript: it is loaded by `new Worker(...)`, which has no TypeScript loader under vitest.
//
// Protocol (see sqliteThreadClient.ts): requests `{ id, op, worker, ...args }` are executed one at
// a time in arrival order, so the operations of a worker run in call order. Replies are
// `{ id, ok: true, value }` or `{ id, ok: false, error: { kind, reason } }`, sent in the same order
// per worker.
import * as fs from "node:fs"
import * as v8 from "node:v8"
import { parentPort, workerData } from "node:worker_threads"
import { DseFileError, classify, describe, openDseFile } from "./sqliteFile.mjs"

const port = parentPort
if (port === null) throw new Error("sqliteThread.mjs must run in a worker thread")

const extraWriteLatencyMs = Number(workerData?.extraWriteLatencyMs ?? 0)

const DDL = `
  CREATE TABLE base (key TEXT PRIMARY KEY, value BLOB);
  CREATE TABLE checkpoints (
    version INTEGER PRIMARY KEY,
    world_line INTEGER NOT NULL,
    deps TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE deltas (
    version INTEGER NOT NULL,
    key TEXT NOT NULL,
    value BLOB,
    PRIMARY KEY (version, key)
  ) WITHOUT ROWID;
`

const fail = (reason) => new DseFileError("io", reason)

const isVersion = (v) => Number.isSafeInteger(v) && v >= 0

const fileSize = (path) => {
  try {
    return fs.statSync(path).size
  } catch {
    return 0
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** One open worker file, with its prepared statements. */
class CheckpointFile {
  constructor(worker, path) {
    // A short busy timeout: our connection holds the file exclusively, so waiting only delays
    // reporting that another process has it open.
    const opened = openDseFile({ path, kind: "checkpoints", owner: worker, ddl: DDL, pageSize: 1024, initialMeta: { base_version: "0", world_line: "0" }, timeoutMs: 1000 })
    this.worker = worker
    this.path = path
    this.db = opened.db
    this.pragmas = opened.pragmas
    /** Replies of this worker leave in order; with extra latency they wait on this chain. */
    this.replies = Promise.resolve()
    try {
      this.prepare()
      const base = Number(opened.meta.get("base_version"))
      if (!isVersion(base)) throw new DseFileError("corrupt", `invalid base_version ${opened.meta.get("base_version")}`)
      const lowest = this.minVersion.get()
      if (lowest !== null && lowest <= base) {
        throw new DseFileError("corrupt", `checkpoint ${lowest} is not above the base ${base}`)
      }
      // Absent in files made before world-line adoption existed: nothing adopted yet.
      const adopted = Number(opened.meta.get("world_line") ?? "0")
      if (!isVersion(adopted)) throw new DseFileError("corrupt", `invalid world_line ${opened.meta.get("world_line")}`)
      this.base = base
      this.worldLine = adopted
      this.latest = this.maxVersion.get() ?? base
    } catch (error) {
      this.db.close()
      throw classify(error)
    }
  }

  prepare() {
    const db = this.db
    this.minVersion = db.prepare("SELECT min(version) FROM checkpoints").pluck()
    this.maxVersion = db.prepare("SELECT max(version) FROM checkpoints").pluck()
    this.hasVersion = db.prepare("SELECT 1 FROM checkpoints WHERE version = ?").pluck()
    this.insertCheckpoint = db.prepare(
      "INSERT INTO checkpoints (version, world_line, deps, created_at) VALUES (?, ?, ?, ?)"
    )
    // A delta may name a key twice; the last value wins, as when applying it.
    this.insertDelta = db.prepare("INSERT OR REPLACE INTO deltas (version, key, value) VALUES (?, ?, ?)")
    this.selectBase = db.prepare("SELECT key, value FROM base").raw()
    this.selectDeltas = db.prepare("SELECT key, value FROM deltas WHERE version <= ? ORDER BY version").raw()
    this.selectCheckpoints = db.prepare("SELECT version, world_line, deps FROM checkpoints ORDER BY version").raw()
    this.countCheckpoints = db.prepare("SELECT count(*) FROM checkpoints").pluck()
    this.deleteCheckpointsAbove = db.prepare("DELETE FROM checkpoints WHERE version > ?")
    this.deleteDeltasAbove = db.prepare("DELETE FROM deltas WHERE version > ?")
    this.deleteCheckpointsUpTo = db.prepare("DELETE FROM checkpoints WHERE version <= ?")
    this.deleteDeltasUpTo = db.prepare("DELETE FROM deltas WHERE version <= ?")
    // Rows are inserted in SELECT order, so the newest value of a key is the one left in base;
    // a deletion leaves NULL, removed right after.
    this.foldIntoBase = db.prepare(
      "INSERT OR REPLACE INTO base (key, value) SELECT key, value FROM deltas WHERE version <= ? ORDER BY version"
    )
    this.dropDeleted = db.prepare("DELETE FROM base WHERE value IS NULL")
    this.setBase = db.prepare("UPDATE meta SET value = ? WHERE key = 'base_version'")
    this.setWorldLine = db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('world_line', ?)")
    this.persistTx = db.transaction((meta, rows) => {
      this.insertCheckpoint.run(meta.version, meta.worldLine, JSON.stringify(meta.deps), Date.now())
      for (const [key, value] of rows) this.insertDelta.run(meta.version, key, value)
    })
    this.discardTx = db.transaction((version) => {
      this.deleteDeltasAbove.run(version)
      this.deleteCheckpointsAbove.run(version)
    })
    this.pruneTx = db.transaction((version) => {
      this.foldIntoBase.run(version)
      this.dropDeleted.run()
      this.deleteDeltasUpTo.run(version)
      this.deleteCheckpointsUpTo.run(version)
      this.setBase.run(String(version))
    })
  }

  persist({ worldLine, version, deps, delta }) {
    if (!Number.isSafeInteger(version) || version < 1) throw fail(`invalid version ${version}`)
    if (!Number.isSafeInteger(worldLine) || worldLine < 1) throw fail(`invalid world-line ${worldLine}`)
    if (version <= this.latest) {
      throw fail(`version ${version} is not above the latest persisted version ${this.latest}`)
    }
    // Serialize before the transaction, so a bad value aborts nothing half-done.
    const rows = delta.map(([key, value]) => {
      if (typeof key !== "string") throw fail(`delta key ${String(key)} is not a string`)
      try {
        return [key, value === undefined ? null : v8.serialize(value)]
      } catch (error) {
        throw fail(`value of key ${JSON.stringify(key)} cannot be serialized: ${describe(error)}`)
      }
    })
    this.persistTx.immediate({ worldLine, version, deps }, rows)
    this.latest = version
  }

  restore(version) {
    if (!isVersion(version)) throw fail(`invalid version ${version}`)
    if (version < this.base) throw fail(`version ${version} was pruned (the base is version ${this.base})`)
    if (version !== this.base && this.hasVersion.get(version) === undefined) {
      throw fail(`unknown version ${version} (the base is ${this.base}, the latest is ${this.latest})`)
    }
    const blobs = new Map(this.selectBase.all())
    for (const [key, value] of this.selectDeltas.iterate(version)) {
      if (value === null) blobs.delete(key)
      else blobs.set(key, value)
    }
    const entries = new Map()
    for (const [key, blob] of blobs) {
      try {
        entries.set(key, v8.deserialize(blob))
      } catch (error) {
        throw fail(`value of key ${JSON.stringify(key)} cannot be decoded: ${describe(error)}`)
      }
    }
    return { version, entries }
  }

  discardAfter(version) {
    if (!isVersion(version)) throw fail(`invalid version ${version}`)
    if (version < this.base) {
      throw fail(`cannot discard below the base: version ${version} < base ${this.base} (pruned = committed)`)
    }
    if (version >= this.latest) return
    this.discardTx.immediate(version)
    this.latest = this.maxVersion.get() ?? this.base
  }

  prune(version) {
    if (!isVersion(version)) throw fail(`invalid version ${version}`)
    if (version <= this.base) return
    if (this.hasVersion.get(version) === undefined) {
      throw fail(`cannot prune to unknown version ${version} (the base is ${this.base}, the latest is ${this.latest})`)
    }
    this.pruneTx.immediate(version)
    this.base = version
  }

  adoptWorldLine(worldLine) {
    if (!Number.isSafeInteger(worldLine) || worldLine < 1) throw fail(`invalid world-line ${worldLine}`)
    if (worldLine < this.worldLine) {
      throw fail(`cannot adopt world-line ${worldLine}: world-line ${this.worldLine} was adopted already`)
    }
    if (worldLine === this.worldLine) return
    this.setWorldLine.run(String(worldLine))
    this.worldLine = worldLine
  }

  list() {
    const checkpoints = this.selectCheckpoints
      .all()
      .map(([version, worldLine, deps]) => ({ worldLine, version, deps: JSON.parse(deps) }))
    return { base: this.base, worldLine: this.worldLine, checkpoints }
  }

  stats() {
    return {
      checkpoints: this.countCheckpoints.get(),
      bytes: fileSize(this.path) + fileSize(`${this.path}-wal`) + fileSize(`${this.path}-shm`)
    }
  }

  close() {
    if (this.db.open) this.db.close()
  }
}

/** @type {Map<string, CheckpointFile>} */
const files = new Map()

const fileOf = (worker) => {
  const file = files.get(worker)
  if (file === undefined) throw fail(`worker ${worker} is not open`)
  return file
}

const execute = (request) => {
  switch (request.op) {
    case "open": {
      if (files.has(request.worker)) throw fail(`worker ${request.worker} is already open in this store`)
      const file = new CheckpointFile(request.worker, request.path)
      files.set(request.worker, file)
      return file.pragmas
    }
    case "persist":
      return fileOf(request.worker).persist(request)
    case "restore":
      return fileOf(request.worker).restore(request.version)
    case "discardAfter":
      return fileOf(request.worker).discardAfter(request.version)
    case "prune":
      return fileOf(request.worker).prune(request.version)
    case "adoptWorldLine":
      return fileOf(request.worker).adoptWorldLine(request.worldLine)
    case "list":
      return fileOf(request.worker).list()
    case "stats":
      return fileOf(request.worker).stats()
    case "pragmas":
      return fileOf(request.worker).pragmas
    case "close": {
      const file = files.get(request.worker)
      files.delete(request.worker)
      file?.close()
      return undefined
    }
    default:
      throw fail(`unknown operation ${String(request.op)}`)
  }
}

const post = (message) => port.postMessage(message)

const onRequest = (request) => {
  if (request.op === "shutdown") {
    const pending = []
    for (const file of files.values()) {
      pending.push(file.replies)
      file.close()
    }
    files.clear()
    void Promise.all(pending).then(() => post({ id: request.id, ok: true, value: undefined }))
    return
  }
  // Looked up before executing: `close` removes the file but its reply still queues behind it.
  const file = files.get(request.worker)
  let message
  let delayed = false
  try {
    const value = execute(request)
    message = { id: request.id, ok: true, value }
    delayed = request.op === "persist"
  } catch (error) {
    const e = classify(error)
    message = { id: request.id, ok: false, error: { kind: e.kind, reason: e.reason } }
  }
  if (extraWriteLatencyMs <= 0 || file === undefined) {
    post(message)
    return
  }
  // Emulated replication: the write is durable now, its completion is reported later. Replies are
  // chained so they leave in call order; writes are pipelined (latency, not a throughput cap).
  const readyAt = performance.now() + (delayed ? extraWriteLatencyMs : 0)
  file.replies = file.replies.then(() => {
    const wait = readyAt - performance.now()
    return wait > 0 ? sleep(wait) : undefined
  }).then(() => post(message))
}

port.on("message", onRequest)
post({ type: "ready" })
