/**
 * The versioned state of a log: its entries by LSN, its bounds, and (not versioned) what the log
 * knows about which of its versions committed.
 *
 * Checkpoint layout (see README "Design"): one key per entry, `e/<lsn>`, and one small meta key,
 * `m` = `{ next, start }`. A version's delta is therefore exactly the entries appended in it (plus
 * the meta key, plus tombstones of reclaimed entries): appending costs O(batch) checkpoint bytes
 * whatever the size of the log, and never rewrites an older entry. Restoring reads every held
 * entry once (O(entries held)), which is the cost of any in-memory log.
 *
 * Truncation is logical first: `start` moves in the truncating version (one meta key in the
 * delta). Entries below the *committed* `start` are then deleted physically ("reclaimed") a batch
 * at a time by later Actions, so a truncation of a million entries does not make one huge delta,
 * and a committed reader still finds the entries a speculative truncation hid.
 *
 * In memory the held entries are a dense array (LSNs are consecutive), so reading an LSN is O(1)
 * and a scan is O(entries returned).
 */
import type { Delta, StateValue, VersionedState as VS } from "@dse/core"

type VersionedState = VS.VersionedState
import type { EntryData } from "../WalModel"
import { Signal } from "./signal"

/** An entry as held and checkpointed (short keys: there is one per entry). */
export interface StoredEntry {
  readonly d: EntryData
  /** World-line of the append. */
  readonly w: number
  /** Append time (ms). */
  readonly t: number
  /** Size in bytes (for scan byte limits). */
  readonly n: number
  /** Producer id and sequence number of the append, if any. */
  readonly p?: string
  readonly s?: number
}

export interface Bounds {
  /** First LSN in the log (the truncation point). */
  readonly start: number
  /** Next LSN to be assigned. */
  readonly end: number
}

interface VersionBounds extends Bounds {
  readonly version: number
}

interface Meta {
  readonly next: number
  readonly start: number
}

const META = "m"
const ENTRY = "e/"

export class LogState implements VersionedState {
  private items: Array<StoredEntry | undefined> = []
  private head = 0
  /** LSN of the first entry physically held (`items[head]`). */
  physStart = 0
  /** The truncation point: entries below it are not in the log any more. */
  start = 0
  /** The next LSN. */
  next = 0
  private readonly changed = new Set<number>()
  private metaChanged = false

  // --- commit tracking (in memory only) ---------------------------------------------------------
  /** The bounds as of the newest version known to be committed. */
  private committedBase: Bounds = { start: 0, end: 0 }
  /** Bounds after each uncommitted version that changed them, oldest first. */
  private pending: Array<VersionBounds> = []
  /** Counts restores (a rollback, or the start): readers compare it to notice one. */
  restores = 0
  /** Notified after appends and restores. */
  readonly signal = new Signal()

  /** Entries physically held (including truncated ones not reclaimed yet). */
  get held(): number {
    return this.next - this.physStart
  }

  get bounds(): Bounds {
    return { start: this.start, end: this.next }
  }

  /** The entry at `lsn` if it is physically held (callers check the bounds of their view). */
  get(lsn: number): StoredEntry | undefined {
    if (lsn < this.physStart || lsn >= this.next) return undefined
    return this.items[this.head + (lsn - this.physStart)]
  }

  append(entry: StoredEntry): number {
    const lsn = this.next
    this.items.push(entry)
    this.next = lsn + 1
    this.changed.add(lsn)
    this.metaChanged = true
    return lsn
  }

  truncate(upTo: number): void {
    this.start = upTo
    this.metaChanged = true
  }

  /** Marks the meta key changed without changing it (durable mode: every Action must persist something). */
  touch(): void {
    this.metaChanged = true
  }

  /** Deletes up to `budget` held entries below `below` (and below `start`); returns how many. */
  reclaim(below: number, budget: number): number {
    const limit = Math.min(below, this.start, this.next)
    let n = 0
    while (this.physStart < limit && n < budget) {
      this.items[this.head] = undefined
      this.head++
      this.changed.add(this.physStart)
      this.physStart++
      n++
    }
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return n
  }

  // --- commit tracking --------------------------------------------------------------------------

  /** Records the bounds after an Action of `version` changed them. */
  record(version: number): void {
    const b: VersionBounds = { version, start: this.start, end: this.next }
    const last = this.pending[this.pending.length - 1]
    if (last !== undefined && last.version >= version) {
      // Versions only grow between restores; equal means another Action of the same version.
      this.pending[this.pending.length - 1] = { ...b, version: last.version }
    } else {
      this.pending.push(b)
    }
  }

  /** The bounds as of `committedVersion` (the log's committed version in the cluster's cut). */
  committed(committedVersion: number): Bounds {
    let i = 0
    while (i < this.pending.length && this.pending[i]!.version <= committedVersion) i++
    if (i > 0) {
      const b = this.pending[i - 1]!
      this.committedBase = { start: b.start, end: b.end }
      this.pending.splice(0, i)
    }
    return this.committedBase
  }

  /** Everything is committed (ephemeral mode has no commit). */
  commitAll(): Bounds {
    this.pending.length = 0
    this.committedBase = this.bounds
    return this.committedBase
  }

  /** The uncommitted version that appended `lsn` (undefined when it is committed or unknown). */
  versionHolding(lsn: number): number | undefined {
    if (lsn < this.committedBase.end) return undefined
    for (const p of this.pending) if (p.end > lsn) return p.version
    return undefined
  }

  // --- VersionedState ---------------------------------------------------------------------------

  hasChanges = (): boolean => this.metaChanged || this.changed.size > 0

  takeDelta = (): Delta => {
    const delta: Array<readonly [string, StateValue | undefined]> = []
    for (const lsn of this.changed) delta.push([ENTRY + lsn, this.get(lsn)])
    if (this.metaChanged) delta.push([META, { next: this.next, start: this.start } satisfies Meta])
    this.changed.clear()
    this.metaChanged = false
    return delta
  }

  /**
   * Replaces the log with a restored checkpoint. A restore always lands on a committed version
   * (the recovery cut, the store's base, or in durable mode the newest persisted one), so the
   * restored bounds are the committed bounds and the commit tracking starts afresh.
   */
  restore = (entries: ReadonlyMap<string, StateValue>): void => {
    const meta = (entries.get(META) as Meta | undefined) ?? { next: 0, start: 0 }
    let min = meta.next
    let count = 0
    for (const key of entries.keys()) {
      if (!key.startsWith(ENTRY)) continue
      const lsn = Number(key.slice(ENTRY.length))
      if (!Number.isSafeInteger(lsn) || lsn < 0 || lsn >= meta.next) {
        throw new Error(`WAL checkpoint is corrupt: entry key "${key}" outside [0, ${meta.next})`)
      }
      if (lsn < min) min = lsn
      count++
    }
    if (count !== meta.next - min || min > meta.start) {
      throw new Error(
        `WAL checkpoint is corrupt: ${count} entries held for LSNs [${min}, ${meta.next}) with the log starting at ${meta.start}`
      )
    }
    const items = new Array<StoredEntry | undefined>(count)
    for (const [key, value] of entries) {
      if (key.startsWith(ENTRY)) items[Number(key.slice(ENTRY.length)) - min] = value as StoredEntry
    }
    this.items = items
    this.head = 0
    this.physStart = min
    this.start = meta.start
    this.next = meta.next
    this.changed.clear()
    this.metaChanged = false
    this.committedBase = this.bounds
    this.pending = []
    this.restores++
    this.signal.notify()
  }
}

/** What the log keeps per producer: its last sequence numbers with their LSNs, and when it was last active. */
export interface ProducerRecord {
  /** `[seq, first LSN, count, bytes]`, oldest first, at most the dedup window. */
  readonly w: ReadonlyArray<readonly [seq: number, first: number, count: number, bytes: number]>
  /** Last append (ms). */
  readonly at: number
}

/**
 * The producer table: producer id -> its last sequence numbers. Kept in least-recently-active
 * order (a JS Map keeps insertion order; an update re-inserts), so expired producers are evicted
 * from the front without a scan. Changes become the checkpoint delta (one key per producer).
 */
export class ProducerTable implements VersionedState {
  private readonly data = new Map<string, ProducerRecord>()
  private readonly changed = new Set<string>()

  get size(): number {
    return this.data.size
  }

  get(id: string): ProducerRecord | undefined {
    return this.data.get(id)
  }

  set(id: string, record: ProducerRecord): void {
    this.data.delete(id)
    this.data.set(id, record)
    this.changed.add(id)
  }

  /** Evicts up to `budget` producers last active before `before`; returns how many. */
  evictExpired(before: number, budget: number): number {
    let n = 0
    for (const [id, record] of this.data) {
      if (n >= budget || record.at >= before) break
      this.data.delete(id)
      this.changed.add(id)
      n++
    }
    return n
  }

  hasChanges = (): boolean => this.changed.size > 0

  takeDelta = (): Delta => {
    const delta: Array<readonly [string, StateValue | undefined]> = []
    for (const id of this.changed) delta.push([id, this.data.get(id)])
    this.changed.clear()
    return delta
  }

  restore = (entries: ReadonlyMap<string, StateValue>): void => {
    this.data.clear()
    this.changed.clear()
    const sorted = Array.from(entries as ReadonlyMap<string, ProducerRecord>).sort((a, b) => a[1].at - b[1].at)
    for (const [id, record] of sorted) this.data.set(id, record)
  }
}
