/**
 * The producer table of a partition: producer id -> its last batch (sequence number, offsets,
 * when it was used). It is part of the partition's versioned state, so the dedup record of a batch
 * and the batch's events are checkpointed and rolled back together.
 *
 * Entries are kept in order of last use (an update moves the entry to the back), so expired ones
 * are at the front and eviction is a bounded walk from the front; a restore re-sorts by time since
 * a checkpoint store does not keep insertion order. Ids starting with "@" belong to the broker
 * itself (the outbox forwarders of other partitions) and are never evicted: their number is bounded
 * by the number of partitions, and forgetting one could let a re-sent step output in twice.
 */
import type { StateValue, VersionedState } from "@dse/core"
import { VersionedMap } from "@dse/core"

export interface ProducerEntry {
  /** Sequence number of the last batch appended. */
  readonly seq: number
  /** Offsets of that batch (empty for forwarders). */
  readonly offsets: ReadonlyArray<number>
  /** Last use, ms since the epoch (partition clock, monotonic). */
  readonly at: number
}

export const isInternal = (producerId: string): boolean => producerId.startsWith("@")

export class ProducerTable implements VersionedState.VersionedState {
  private readonly map = VersionedMap.make<ProducerEntry>()
  private lastAt = 0

  get size(): number {
    return this.map.size
  }

  get(id: string): ProducerEntry | undefined {
    return this.map.get(id)
  }

  /** A time for an update: never before the newest entry, so the order by `at` is the map order. */
  stamp(now: number): number {
    return Math.max(now, this.lastAt)
  }

  set(id: string, entry: ProducerEntry): void {
    if (this.map.has(id)) this.map.delete(id)
    this.map.set(id, entry)
    if (entry.at > this.lastAt) this.lastAt = entry.at
  }

  /** Deletes up to `budget` user producers last used at or before `cutoff`, oldest first. */
  evictUpTo(cutoff: number, budget: number): number {
    let evicted = 0
    let walked = 0
    for (const [id, entry] of this.map) {
      if (evicted >= budget || walked >= budget * 4 || entry.at > cutoff) break
      walked++
      if (isInternal(id)) continue
      this.map.delete(id)
      evicted++
    }
    return evicted
  }

  hasChanges = (): boolean => this.map.hasChanges()

  takeDelta = () => this.map.takeDelta()

  restore = (entries: ReadonlyMap<string, StateValue>): void => {
    const sorted = Array.from(entries as ReadonlyMap<string, ProducerEntry>).sort((a, b) => a[1].at - b[1].at)
    this.map.restore(new Map(sorted))
    this.lastAt = sorted.length > 0 ? sorted[sorted.length - 1]![1].at : 0
  }
}
