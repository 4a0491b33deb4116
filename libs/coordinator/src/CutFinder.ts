/**
 * The graph of persisted versions and the committed cut (SPEC 3.5, 3.8). Pure and synchronous.
 *
 * The committed cut is the largest set of reported versions that is closed under dependencies and
 * under each worker's own earlier reported versions; a dependency (w, v) is met when cut[w] >= v (a
 * worker never heard of has cut 0). Equivalently, it is the greatest fixpoint of "lower a worker's
 * candidate to just below its first version with an unmet dependency", starting from every
 * worker's highest report; and a reported version is in it exactly when nothing it transitively
 * needs (its predecessor, and for each dependency (x, u) the lowest report of x at or above u) is
 * a version nobody has reported. Committed versions leave the graph, so memory is bounded by what
 * is uncommitted.
 *
 * Incremental: the lowest uncommitted version of every worker (its head) carries a *witness*, an
 * unreported version that it transitively needs. Every later version of that worker needs the head,
 * so the witness blocks the whole chain. A witness stays true until that version is reported, and
 * only then are the chains it blocked looked at again: their heads are re-examined by a search of
 * what they need, which either finds a new witness or commits everything it found. A report that
 * resolves no witness costs O(log) (plus its own head's search when its worker had nothing
 * pending). See README.md for the argument.
 */
import type { Cut, Dependency, Version, WorkerId } from "@dse/core"
import { MinHeap } from "./internal/minHeap"

/** An unreported version that some head transitively needs. */
interface Missing {
  readonly worker: WorkerId
  readonly version: number
  resolved: boolean
  /** Workers whose head had this as witness when it was set (checked by identity on resolution). */
  readonly chains: Set<WorkerId>
}

interface Node {
  readonly version: number
  readonly deps: ReadonlyArray<Dependency>
}

/** The uncommitted reports of one worker, ascending; `nodes[head..]` are live. */
interface Chain {
  readonly worker: WorkerId
  nodes: Array<Node>
  head: number
  /** Why the head cannot commit; undefined while unknown (only inside an operation). */
  witness: Missing | undefined
}

export interface CutFinderStats {
  /** Workers listed in the cut. */
  readonly workers: number
  /** Uncommitted reported versions held in the graph. */
  readonly pending: number
  readonly reports: number
  /** Reports at or below the cut, and repeated reports. */
  readonly ignored: number
  /** Head examinations (searches of what a head needs). */
  readonly examinations: number
  /** Versions scanned by all examinations: the work done, to compare with the number of reports. */
  readonly scanned: number
  /** Re-examinations of every head (after a raise or a report older than its worker's latest). */
  readonly full: number
}

export interface PendingVersion {
  readonly version: number
  readonly deps: ReadonlyArray<Dependency>
}

export class CutFinder {
  private readonly committed = new Map<WorkerId, number>()
  private readonly chains = new Map<WorkerId, Chain>()
  /** Unresolved witnesses per worker, smallest version first, and by version (to share them). */
  private readonly missingHeap = new Map<WorkerId, MinHeap<Missing>>()
  private readonly missingIndex = new Map<WorkerId, Map<number, Missing>>()
  private nPending = 0
  private readonly counters = { reports: 0, ignored: 0, examinations: 0, scanned: 0, full: 0 }

  private constructor(base: Cut.Cut) {
    for (const [w, v] of base) this.committed.set(w, Math.max(0, v))
  }

  /** A finder whose committed cut starts at `base` (a recovery cut, or empty for a new cluster). */
  static make(base: Cut.Cut = new Map()): CutFinder {
    return new CutFinder(base)
  }

  /**
   * Adds the persisted version `version` of `worker` with its dependencies. Returns true when the
   * committed cut changed. Versions at or below the worker's cut, and repeated reports, are ignored.
   * A gap below `version` is taken as a version jump: telling it from a lost report needs the
   * report's `prev`, which the coordinator checks first (internal/reportGate.ts).
   */
  report(worker: WorkerId, version: number, deps: Iterable<Dependency>): boolean {
    this.counters.reports++
    if (!this.committed.has(worker)) this.committed.set(worker, 0)
    if (!Number.isSafeInteger(version) || version <= this.at(worker)) {
      this.counters.ignored++
      return false
    }
    const chain = this.chainOf(worker)
    const node: Node = { version, deps: normalizeDeps(deps) }
    const live = chain.nodes.length - chain.head
    const top = live > 0 ? chain.nodes[chain.nodes.length - 1]! : undefined
    if (top !== undefined && version <= top.version) {
      const at = this.lowerBound(chain, version)
      if (chain.nodes[at]!.version === version) {
        this.counters.ignored++
        return false
      }
      // A late report (vector API only: the coordinator's ReportGate never sends one below the
      // tail): versions now resolve to it instead of its successor, which can unblock anyone, so
      // every head is examined again.
      chain.nodes.splice(at, 0, node)
      this.nPending++
      return this.examineAll()
    }

    chain.nodes.push(node)
    this.nPending++
    const work = this.resolve(worker, version)
    // A worker with nothing pending has a new head; otherwise its head's witness stands.
    if (live === 0) work.push(worker)
    return this.examine(work)
  }

  /**
   * Raises the cut of `worker` to `version` without checking that version's dependencies: for a
   * version known committed from elsewhere (a worker's committed hint). Returns true when the cut changed.
   */
  raise(worker: WorkerId, version: number): boolean {
    if (!this.committed.has(worker)) this.committed.set(worker, 0)
    if (!Number.isSafeInteger(version) || version <= this.at(worker)) return false
    this.committed.set(worker, version)
    const chain = this.chains.get(worker)
    if (chain !== undefined) {
      while (chain.head < chain.nodes.length && chain.nodes[chain.head]!.version <= version) {
        chain.head++
        this.nPending--
      }
      this.compact(chain)
    }
    this.resolve(worker, version)
    // Needs on the raised versions are met now, which can unblock heads whose witness stands.
    this.examineAll()
    return true
  }

  /** The committed cut: every worker of the base or that has reported (0 = nothing committed). */
  cut(): Map<WorkerId, Version> {
    return new Map(this.committed as Map<WorkerId, Version>)
  }

  /** The committed version of `worker` (0 when nothing, or never heard of). */
  at(worker: WorkerId): Version {
    return (this.committed.get(worker) ?? 0) as Version
  }

  /** The highest version of `worker` known persisted: its highest report, or its cut. */
  persisted(worker: WorkerId): Version {
    const chain = this.chains.get(worker)
    if (chain !== undefined && chain.nodes.length > chain.head) {
      return chain.nodes[chain.nodes.length - 1]!.version as Version
    }
    return this.at(worker)
  }

  /** How many reported versions of `worker` wait for commit. */
  pending(worker: WorkerId): number {
    const chain = this.chains.get(worker)
    return chain === undefined ? 0 : chain.nodes.length - chain.head
  }

  /** The uncommitted reported versions of `worker`, ascending. */
  pendingVersions(worker: WorkerId): Array<PendingVersion> {
    const chain = this.chains.get(worker)
    if (chain === undefined) return []
    return chain.nodes.slice(chain.head).map((n) => ({ version: n.version, deps: n.deps }))
  }

  isCommitted(worker: WorkerId, version: number): boolean {
    return version <= this.at(worker)
  }

  /** Workers listed in the cut. */
  workers(): Array<WorkerId> {
    return Array.from(this.committed.keys())
  }

  /**
   * An unreported version that (worker, version) transitively needs: what to seal so that it can
   * commit. The version itself when it is not reported yet; undefined when it is committed.
   */
  blocker(worker: WorkerId, version: number): Dependency | undefined {
    if (version <= this.at(worker)) return undefined
    if (version > this.persisted(worker)) return [worker, version as Version]
    const witness = this.chains.get(worker)!.witness
    return witness === undefined ? undefined : [witness.worker, witness.version as Version]
  }

  stats(): CutFinderStats {
    return { workers: this.committed.size, pending: this.nPending, ...this.counters }
  }

  // ---------------------------------------------------------------------------------------------

  private chainOf(worker: WorkerId): Chain {
    let chain = this.chains.get(worker)
    if (chain === undefined) {
      chain = { worker, nodes: [], head: 0, witness: undefined }
      this.chains.set(worker, chain)
    }
    return chain
  }

  /** Index of the first live node with version >= `version` (nodes.length when none). */
  private lowerBound(chain: Chain, version: number): number {
    let lo = chain.head
    let hi = chain.nodes.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (chain.nodes[mid]!.version < version) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  private missing(worker: WorkerId, version: number): Missing {
    let index = this.missingIndex.get(worker)
    if (index === undefined) {
      index = new Map()
      this.missingIndex.set(worker, index)
    }
    let m = index.get(version)
    if (m === undefined) {
      m = { worker, version, resolved: false, chains: new Set() }
      index.set(version, m)
      let heap = this.missingHeap.get(worker)
      if (heap === undefined) {
        heap = new MinHeap((x) => x.version)
        this.missingHeap.set(worker, heap)
      }
      heap.push(m)
    }
    return m
  }

  /**
   * Marks the witnesses on `worker` at or below `version` resolved (that version now exists, or is
   * committed) and returns the workers whose head they blocked: those must be examined again.
   */
  private resolve(worker: WorkerId, version: number): Array<WorkerId> {
    const work: Array<WorkerId> = []
    const heap = this.missingHeap.get(worker)
    if (heap === undefined) return work
    const index = this.missingIndex.get(worker)!
    for (const m of heap.popUpTo(version)) {
      m.resolved = true
      index.delete(m.version)
      for (const x of m.chains) {
        const chain = this.chains.get(x)
        if (chain !== undefined && chain.witness === m) {
          chain.witness = undefined
          work.push(x)
        }
      }
    }
    return work
  }

  private examineAll(): boolean {
    this.counters.full++
    const work: Array<WorkerId> = []
    for (const chain of this.chains.values()) {
      chain.witness = undefined
      if (chain.nodes.length > chain.head) work.push(chain.worker)
    }
    return this.examine(work)
  }

  /**
   * Decides the heads in `work` (and any head that a commit uncovers): each either gets a witness
   * or commits together with everything it needs. Returns true when something committed.
   */
  private examine(work: Array<WorkerId>): boolean {
    let changed = false
    while (work.length > 0) {
      const chain = this.chains.get(work.pop()!)!
      if (chain.witness !== undefined || chain.nodes.length === chain.head) continue
      const outcome = this.search(chain)
      if (outcome instanceof Map) {
        for (const [worker, bound] of outcome) {
          const c = this.chains.get(worker)!
          this.committed.set(worker, c.nodes[bound - 1]!.version)
          this.nPending -= bound - c.head
          c.head = bound
          c.witness = undefined
          this.compact(c)
          if (c.nodes.length > 0) work.push(worker)
        }
        changed = true
      } else {
        chain.witness = outcome
        outcome.chains.add(chain.worker)
      }
    }
    return changed
  }

  /**
   * Everything the head of `start` transitively needs, as a prefix bound per worker, or the first
   * witness found: a version nobody reported, or a head whose witness stands. Heads without a
   * witness (being decided in this operation) are searched through.
   */
  private search(start: Chain): Map<WorkerId, number> | Missing {
    this.counters.examinations++
    const need = new Map<WorkerId, number>([[start.worker, start.head + 1]])
    const scanned = new Map<WorkerId, number>([[start.worker, start.head]])
    const todo: Array<Chain> = [start]
    while (todo.length > 0) {
      const chain = todo.pop()!
      let p = scanned.get(chain.worker)!
      for (; p < need.get(chain.worker)!; p++) {
        const node = chain.nodes[p]!
        this.counters.scanned++
        for (const [x, u] of node.deps) {
          if (u <= (this.committed.get(x) ?? 0)) continue
          if (x === chain.worker && u <= node.version) continue // implied by the predecessors
          const target = this.chains.get(x)
          if (
            target === undefined ||
            target.nodes.length === target.head ||
            u > target.nodes[target.nodes.length - 1]!.version
          ) {
            return this.missing(x, u)
          }
          if (target.witness !== undefined) return target.witness
          const bound = this.lowerBound(target, u) + 1
          const current = need.get(x)
          if (current === undefined) {
            need.set(x, bound)
            scanned.set(x, target.head)
            todo.push(target)
          } else if (bound > current) {
            need.set(x, bound)
            if (x !== chain.worker) todo.push(target)
          }
        }
      }
      scanned.set(chain.worker, p)
    }
    return need
  }

  private compact(chain: Chain): void {
    if (chain.head === chain.nodes.length) {
      chain.nodes = []
      chain.head = 0
    } else if (chain.head > 32 && chain.head * 2 > chain.nodes.length) {
      chain.nodes = chain.nodes.slice(chain.head)
      chain.head = 0
    }
  }
}

/** Keeps only the highest version per worker and drops non-positive ones (they are always met). */
const normalizeDeps = (deps: Iterable<Dependency>): ReadonlyArray<Dependency> => {
  const byWorker = new Map<WorkerId, Version>()
  for (const [w, v] of deps) {
    if (!(v > 0)) continue
    const current = byWorker.get(w)
    if (current === undefined || v > current) byWorker.set(w, v)
  }
  return Array.from(byWorker)
}
