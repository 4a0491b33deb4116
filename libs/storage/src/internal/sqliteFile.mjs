// Opening and validating dse sqlite files. Plain JavaScript because the checkpoint store runs it
// inside a worker thread, which loads it without a TypeScript loader; the coordinator's store
// imports it from TypeScript through sqliteFile.d.mts.
import Database from "better-sqlite3"
import * as fs from "node:fs"
import * as nodePath from "node:path"

/** `PRAGMA application_id` of every dse file: "DSE1" in ASCII. */
export const APPLICATION_ID = 0x44534531

/** Version of the table layout; a file with another version is refused, never guessed at. */
export const FORMAT_VERSION = 1

const SQLITE_MAGIC = Buffer.from("SQLite format 3\0", "latin1")

/** A failure to open a file: `corrupt` (damaged or not ours) or `io` (anything else). */
export class DseFileError extends Error {
  /**
   * @param {"corrupt" | "io"} kind
   * @param {string} reason
   */
  constructor(kind, reason) {
    super(reason)
    this.kind = kind
    this.reason = reason
  }
}

/** @param {unknown} error */
export const describe = (error) => {
  if (error instanceof Error) {
    const code = /** @type {{ code?: unknown }} */ (error).code
    return typeof code === "string" ? `${code}: ${error.message}` : error.message
  }
  return String(error)
}

/**
 * Maps an exception thrown by sqlite to a DseFileError: damage is `corrupt`, the rest `io`.
 * @param {unknown} error
 */
export const classify = (error) => {
  if (error instanceof DseFileError) return error
  const code = typeof error === "object" && error !== null ? /** @type {{ code?: unknown }} */ (error).code : undefined
  if (typeof code === "string") {
    if (code.startsWith("SQLITE_CORRUPT") || code === "SQLITE_NOTADB") {
      return new DseFileError("corrupt", describe(error))
    }
    if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) {
      return new DseFileError("io", `the file is in use by another connection or process (${describe(error)})`)
    }
  }
  return new DseFileError("io", describe(error))
}

/**
 * Refuses a file that is not a SQLite database before sqlite touches it, with a clear reason.
 * A missing or empty file is a new database.
 * @param {string} path
 */
const checkHeader = (path) => {
  let size
  try {
    size = fs.statSync(path).size
  } catch (error) {
    if (/** @type {{ code?: unknown }} */ (error).code === "ENOENT") return
    throw new DseFileError("io", describe(error))
  }
  if (size === 0) return
  if (size < 100) throw new DseFileError("corrupt", `not a SQLite database: only ${size} bytes`)
  const header = Buffer.alloc(16)
  const fd = fs.openSync(path, "r")
  try {
    fs.readSync(fd, header, 0, 16, 0)
  } finally {
    fs.closeSync(fd)
  }
  if (!header.equals(SQLITE_MAGIC)) throw new DseFileError("corrupt", "not a SQLite database: bad header")
}

/**
 * Opens (creating if needed) a dse file and proves it is ours and intact before anything writes to it:
 * header, `quick_check`, `application_id`, and the `meta` table (kind, format, owner). Then sets
 * `journal_mode=WAL` + `synchronous=FULL` and reads them back, because an unverified pragma is no
 * durability argument. `locking_mode=EXCLUSIVE` keeps a second process (or connection) out for as
 * long as the file is open: two writers of one history would corrupt it silently.
 *
 * @param {{ path: string, kind: string, owner: string, ddl: string, initialMeta?: Record<string, string>, timeoutMs?: number }} spec
 * @returns {{ db: import("better-sqlite3").Database, meta: Map<string, string>, created: boolean, pragmas: { journalMode: string, synchronous: number, lockingMode: string } }}
 */
export const openDseFile = (spec) => {
  const { path, kind, owner } = spec
  checkHeader(path)
  /** @type {import("better-sqlite3").Database | undefined} */
  let db
  try {
    db = new Database(path, { timeout: spec.timeoutMs ?? 5000 })
    db.pragma("locking_mode = EXCLUSIVE")
    // Read-only checks first: nothing is written to a file that may belong to someone else.
    const check = db.pragma("quick_check", { simple: false })
    const problems = /** @type {Array<Record<string, unknown>>} */ (check).map((row) => String(Object.values(row)[0]))
    if (problems.length !== 1 || problems[0] !== "ok") {
      throw new DseFileError("corrupt", `quick_check: ${problems.slice(0, 5).join("; ")}`)
    }
    const applicationId = Number(db.pragma("application_id", { simple: true }))
    const tables = Number(db.prepare("SELECT count(*) AS n FROM sqlite_schema").pluck().get())
    let created = false
    if (applicationId === 0 && tables === 0) {
      // Only an empty file takes a page size (WAL mode fixes it once set).
      if (spec.pageSize !== undefined) db.pragma(`page_size = ${spec.pageSize}`)
      setJournal(db)
      const meta = { kind, format: String(FORMAT_VERSION), owner, ...spec.initialMeta }
      db.transaction(() => {
        db?.exec(spec.ddl)
        db?.exec("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        const insert = db?.prepare("INSERT INTO meta (key, value) VALUES (?, ?)")
        for (const [k, v] of Object.entries(meta)) insert?.run(k, v)
        // Last, in the same transaction: a file is either fully initialised or still empty.
        db?.exec(`PRAGMA application_id = ${APPLICATION_ID}`)
      }).immediate()
      created = true
      syncDirectory(path)
    } else if (applicationId !== APPLICATION_ID) {
      throw new DseFileError(
        "corrupt",
        `not a dse file: application_id is 0x${(applicationId >>> 0).toString(16)}, expected 0x${APPLICATION_ID.toString(16)}`
      )
    }
    const meta = readMeta(db)
    if (meta.get("kind") !== kind) {
      throw new DseFileError("corrupt", `the file holds ${meta.get("kind") ?? "unknown"} data, not ${kind}`)
    }
    if (meta.get("format") !== String(FORMAT_VERSION)) {
      throw new DseFileError("corrupt", `unknown format version ${meta.get("format")} (this build reads ${FORMAT_VERSION})`)
    }
    if (meta.get("owner") !== owner) {
      throw new DseFileError("corrupt", `the file belongs to ${JSON.stringify(meta.get("owner"))}, not ${JSON.stringify(owner)}`)
    }
    if (!created) setJournal(db)
    db.pragma("synchronous = FULL")
    // The WAL is reused, not shrunk, after a checkpoint; cap what it keeps so storage stays bounded.
    db.pragma("journal_size_limit = 1048576")
    const pragmas = {
      journalMode: String(db.pragma("journal_mode", { simple: true })),
      synchronous: Number(db.pragma("synchronous", { simple: true })),
      lockingMode: String(db.pragma("locking_mode", { simple: true }))
    }
    if (pragmas.journalMode !== "wal") throw new DseFileError("io", `journal_mode is ${pragmas.journalMode}, expected wal`)
    if (pragmas.synchronous !== 2) throw new DseFileError("io", `synchronous is ${pragmas.synchronous}, expected 2 (FULL)`)
    if (pragmas.lockingMode !== "exclusive") throw new DseFileError("io", `locking_mode is ${pragmas.lockingMode}, expected exclusive`)
    // Take the write lock now, so a second opener is refused at open and not at its first write.
    db.exec("BEGIN IMMEDIATE; COMMIT")
    return { db, meta, created, pragmas }
  } catch (error) {
    try {
      db?.close()
    } catch {
      // closing a damaged file can fail too; the first error is the one worth reporting
    }
    throw classify(error)
  }
}

/**
 * Makes the new file's directory entry durable: sqlite syncs the directory of a new WAL, not of
 * the database file itself, and a power cut must not leave a WAL without its database.
 * @param {string} path
 */
const syncDirectory = (path) => {
  const fd = fs.openSync(nodePath.dirname(path), "r")
  try {
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

/** @param {import("better-sqlite3").Database} db */
const setJournal = (db) => {
  db.pragma("journal_mode = WAL")
}

/** @param {import("better-sqlite3").Database} db */
const readMeta = (db) => {
  const hasMeta = db.prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'meta'").pluck().get()
  if (Number(hasMeta) !== 1) throw new DseFileError("corrupt", "dse file without a meta table")
  const rows = /** @type {Array<{ key: string, value: string }>} */ (db.prepare("SELECT key, value FROM meta").all())
  return new Map(rows.map((r) => [r.key, String(r.value)]))
}
