/**
 * Which offset of each consumer group has committed, for retention: a prefix of the log may only
 * be truncated once every group's consumption of it has committed.
 *
 * The versioned state holds each group's current (possibly speculative) offset. This in-memory
 * tracker records every change as (version, before, after); the committed offset of a group is
 * `after` of its newest change at or below the committed version, or `before` of its oldest change
 * when every change is above it. State that was restored (at start, or by a rollback) is committed
 * state, so a restore simply starts a new epoch with no recorded changes.
 */

interface Change {
  readonly version: number
  readonly before: number
  readonly after: number
}

export class CommittedOffsets {
  private epoch = -1
  private readonly changes = new Map<string, Array<Change>>()

  /** Starts a new epoch when the partition restored since the last call (`restores` counts restores). */
  sync(restores: number): void {
    if (restores !== this.epoch) {
      this.epoch = restores
      this.changes.clear()
    }
  }

  /** A group's offset moved from `before` to `after` in `version` (call inside the Action). */
  record(restores: number, group: string, version: number, before: number, after: number): void {
    this.sync(restores)
    let list = this.changes.get(group)
    if (!list) {
      list = []
      this.changes.set(group, list)
    }
    list.push({ version, before, after })
  }

  /** The committed offset of `group`, whose current offset is `current`; forgets changes it no longer needs. */
  committed(restores: number, group: string, current: number, committedVersion: number): number {
    this.sync(restores)
    const list = this.changes.get(group)
    if (!list || list.length === 0) return current
    let last = -1
    for (let i = 0; i < list.length; i++) if (list[i]!.version <= committedVersion) last = i
    if (last < 0) return list[0]!.before
    const offset = list[last]!.after
    // Only the newest committed change is needed from now on.
    if (last === list.length - 1) this.changes.delete(group)
    else list.splice(0, last + 1, { version: list[last]!.version, before: offset, after: offset })
    return offset
  }

  forget(group: string): void {
    this.changes.delete(group)
  }
}
