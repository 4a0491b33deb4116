/**
 * The dedup table of a shard: idempotency key -> the first result of the request that used it.
 *
 * It is part of the shard's versioned state (a VersionedMap underneath), so every checkpoint holds
 * the data and the table at the same version, and a rollback restores both together: a write and
 * the record of its key are never separated.
 *
 * Entries are kept in the order of their first use (their `at` time, made monotonic), so that
 * expired ones are at the front and eviction is a bounded walk from the front. A restore re-sorts
 * by `at`, since a checkpoint store does not keep insertion order.
 */
import type { StateValue, VersionedState } from "@dse/core"
import { VersionedMap } from "@dse/core"

type Versioned = VersionedState.VersionedState

export interface DedupEntry {
  /** The operation ("put", "reserve", ...). */
  readonly op: string
  /** Fingerprint of the request's payload (reuse of a key for another request is refused). */
  readonly fp: number
  /** When the key was first used (ms since the epoch, by the shard's clock; monotonic per shard). */
  readonly at: number
  /** The first result, encoded: `{ ok }` or `{ err }`. */
  readonly exit: { readonly ok: unknown } | { readonly err: unknown }
}

export class DedupTable implements Versioned {
  private readonly map = VersionedMap.make<DedupEntry>()
  private lastAt = 0

  get size(): number {
    return this.map.size
  }

  get(key: string): DedupEntry | undefined {
    return this.map.get(key)
  }

  /** A time for a new entry: never before the newest entry, so the map stays ordered by `at`. */
  stamp(now: number): number {
    return Math.max(now, this.lastAt)
  }

  add(key: string, entry: DedupEntry): void {
    this.map.set(key, entry)
    if (entry.at > this.lastAt) this.lastAt = entry.at
  }

  /** Deletes up to `budget` entries first used at or before `cutoff`, oldest first; returns how many. */
  evictUpTo(cutoff: number, budget: number): number {
    let evicted = 0
    for (const [key, entry] of this.map) {
      if (evicted >= budget || entry.at > cutoff) break
      this.map.delete(key)
      evicted++
    }
    return evicted
  }

  /** The oldest entry's time (undefined when empty). */
  oldest(): number | undefined {
    for (const [, entry] of this.map) return entry.at
    return undefined
  }

  entries(): IterableIterator<[string, DedupEntry]> {
    return this.map.entries()
  }

  hasChanges = (): boolean => this.map.hasChanges()

  takeDelta = () => this.map.takeDelta()

  restore = (entries: ReadonlyMap<string, StateValue>): void => {
    const sorted = Array.from(entries as ReadonlyMap<string, DedupEntry>).sort((a, b) => a[1].at - b[1].at)
    this.map.restore(new Map(sorted))
    this.lastAt = sorted.length > 0 ? sorted[sorted.length - 1]![1].at : 0
  }
}
