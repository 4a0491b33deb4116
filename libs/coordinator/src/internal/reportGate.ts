/**
 * Gap detection between checkpoint reports and the CutFinder (README, "Reports, gaps and version
 * jumps"). Each report names its worker's previous checkpoint (`prev`), so within one world-line a
 * worker's reports form a chain. A report enters the graph only when it extends the chain the graph
 * already holds for its worker; a report whose predecessor is unknown (a report in between was
 * lost, or is late) is held aside and never counts towards the cut, until the chain reaches it.
 *
 * The tail of a worker is the highest version accepted into the graph for it, or its committed cut
 * when none is pending: exactly `CutFinder.persisted`. A report (w, v, prev) is
 * - ignored when v <= tail(w): a duplicate, or older than what is accepted or committed;
 * - accepted when prev <= tail(w) < v: prev is the tail, or lies below the cut (a first checkpoint
 *   after a restore to the cut), and version numbers may jump (the Lamport rule);
 * - held when prev > tail(w): a predecessor is missing.
 * Whenever a tail moves (an accepted report, a committed hint), the held reports of that worker
 * that now connect are accepted, in order.
 *
 * Held reports are bounded per worker (`limit`, the oldest dropped first). That is safe because a
 * held report never contributed to the cut: losing it is the same as losing the report in flight,
 * and a worker re-attaches with its whole chain (every persisted checkpoint above the version it
 * knows committed), which the coordinator feeds back through `chain`.
 *
 * One gate lives as long as its CutFinder: a world-line change replaces both, which drops the held
 * reports with the uncommitted graph.
 */
import type { Dependency, WorkerId } from "@dse/core"
import type { CutFinder } from "../CutFinder"

/** Held reports per worker, beyond which the oldest are dropped. */
export const DEFAULT_HELD_LIMIT = 10_000

/** A report that entered the graph. */
export interface Accepted {
  readonly worker: WorkerId
  readonly version: number
  readonly deps: ReadonlyArray<Dependency>
  /** Its worker's tail just before it was accepted. */
  readonly before: number
}

export interface GateOutcome {
  /** True when the committed cut advanced. */
  changed: boolean
  /** Reports accepted into the graph by this call, in order (the offered one, then replayed ones). */
  readonly accepted: Array<Accepted>
}

export interface GateStats {
  /** Reports held now, all workers together. */
  readonly held: number
  /** Reports that had to be held (a gap below them). */
  readonly gaps: number
  /** Held reports accepted later, when their predecessor arrived or the tail caught up. */
  readonly replayed: number
  /** Held reports dropped because the buffer was full. */
  readonly dropped: number
}

interface Held {
  readonly version: number
  readonly prev: number
  readonly deps: ReadonlyArray<Dependency>
}

export class ReportGate {
  /** Per worker, ascending by version, one entry per version. */
  private readonly held = new Map<WorkerId, Array<Held>>()
  private nHeld = 0
  private readonly counters = { gaps: 0, replayed: 0, dropped: 0 }

  constructor(
    readonly finder: CutFinder,
    private readonly limit: number = DEFAULT_HELD_LIMIT
  ) {}

  /** The end of the chain accepted for `worker`: its highest version in the graph, or its cut. */
  tail(worker: WorkerId): number {
    return this.finder.persisted(worker)
  }

  /** A report of `worker`: accepted, held or ignored (see the module comment). */
  offer(worker: WorkerId, version: number, prev: number, deps: ReadonlyArray<readonly [number, number]>): GateOutcome {
    const out: GateOutcome = { changed: false, accepted: [] }
    if (!Number.isSafeInteger(version) || !Number.isSafeInteger(prev) || prev >= version) return out
    const tail = this.tail(worker)
    if (version <= tail) return out
    if (prev > tail) {
      this.hold(worker, { version, prev, deps: deps as ReadonlyArray<Dependency> })
      return out
    }
    this.accept(worker, version, deps as ReadonlyArray<Dependency>, tail, out)
    this.replay(worker, out)
    return out
  }

  /**
   * Checkpoints a worker sends when it registers: its chain, oldest first, starting just above
   * `committed` (each one's predecessor is the one before it, the first one's is at or below
   * `committed`). `committed` must already be at or below the worker's cut (raise it first).
   * `include` selects which enter (the others only name their successor's predecessor).
   */
  chain<C extends { readonly version: number; readonly deps: ReadonlyArray<readonly [number, number]> }>(
    worker: WorkerId,
    committed: number,
    checkpoints: ReadonlyArray<C>,
    include: (checkpoint: C) => boolean = () => true
  ): GateOutcome {
    const out: GateOutcome = { changed: false, accepted: [] }
    let prev = committed
    for (const cp of checkpoints) {
      if (include(cp)) merge(out, this.offer(worker, cp.version, prev, cp.deps))
      prev = cp.version
    }
    return out
  }

  /** A version of `worker` known committed (a worker's hint): raises its cut, then replays. */
  raise(worker: WorkerId, version: number): GateOutcome {
    const out: GateOutcome = { changed: this.finder.raise(worker, version), accepted: [] }
    this.replay(worker, out)
    return out
  }

  /** How many reports of `worker` are held. */
  heldCount(worker: WorkerId): number {
    return this.held.get(worker)?.length ?? 0
  }

  /** The highest held version of `worker` (0 when none). */
  heldMax(worker: WorkerId): number {
    return this.held.get(worker)?.at(-1)?.version ?? 0
  }

  /** The held versions of `worker`, ascending. */
  heldVersions(worker: WorkerId): Array<{ readonly version: number; readonly prev: number }> {
    return (this.held.get(worker) ?? []).map((h) => ({ version: h.version, prev: h.prev }))
  }

  stats(): GateStats {
    return { held: this.nHeld, ...this.counters }
  }

  // ---------------------------------------------------------------------------------------------

  private accept(worker: WorkerId, version: number, deps: ReadonlyArray<Dependency>, before: number, out: GateOutcome) {
    if (this.finder.report(worker, version, deps)) out.changed = true
    out.accepted.push({ worker, version, deps, before })
  }

  private hold(worker: WorkerId, report: Held): void {
    let list = this.held.get(worker)
    if (list === undefined) {
      list = []
      this.held.set(worker, list)
    }
    // Usually in order: append. Otherwise insert in place; a second copy of a version is ignored.
    let at = list.length
    if (at > 0 && list[at - 1]!.version >= report.version) {
      let lo = 0
      while (lo < at) {
        const mid = (lo + at) >> 1
        if (list[mid]!.version < report.version) lo = mid + 1
        else at = mid
      }
      if (list[at]!.version === report.version) return
    }
    list.splice(at, 0, report)
    this.nHeld++
    this.counters.gaps++
    if (list.length > this.limit) {
      list.shift()
      this.nHeld--
      this.counters.dropped++
    }
  }

  /**
   * Accepts the held reports of `worker` that now connect to its tail, in order, and forgets those
   * the tail has passed. Within a chain only the lowest held report can be the next one.
   */
  private replay(worker: WorkerId, out: GateOutcome): void {
    const list = this.held.get(worker)
    if (list === undefined) return
    let i = 0
    for (;;) {
      const tail = this.tail(worker)
      while (i < list.length && list[i]!.version <= tail) i++
      if (i === list.length || list[i]!.prev > tail) break
      const next = list[i++]!
      this.counters.replayed++
      this.accept(worker, next.version, next.deps, tail, out)
    }
    if (i === 0) return
    this.nHeld -= i
    if (i === list.length) this.held.delete(worker)
    else list.splice(0, i)
  }
}

const merge = (into: GateOutcome, from: GateOutcome): void => {
  if (from.changed) into.changed = true
  into.accepted.push(...from.accepted)
}
