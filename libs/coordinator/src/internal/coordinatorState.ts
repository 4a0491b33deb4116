/**
 * The coordinator's mutable state and the synchronous decisions on it. The Coordinator service
 * wraps every use in one semaphore, so nothing here needs to be safe against interleaving; keeping
 * the decisions synchronous makes a world-line change atomic with respect to reports.
 */
import { Cut, DependencySet } from "@dse/core"
import type {
  ClusterState,
  ClusterStatus,
  CoordinatorUnavailable,
  Dependency,
  FutureWorldLine,
  Registration,
  Version,
  WorkerId,
  WorkerStatus,
  WorldLine,
  WorldLineRecord
} from "@dse/core"
import type { Deferred } from "effect"
import { CutFinder } from "../CutFinder"
import { ReportGate } from "./reportGate"
import type { Accepted, GateOutcome } from "./reportGate"

export interface Member {
  readonly id: WorkerId
  readonly name: string
  /** Registered with this incarnation of the coordinator. */
  registered: boolean
  address: string | undefined
  pid: number | undefined
  kind: string | undefined
  /** The event subscription of its process (seal requests for it go there); undefined: everyone's. */
  subscriber: string | undefined
}

/** Who waits for a version: a subscriber, or ANYONE (a waiter that gave no subscriber: every subscriber hears). */
export const ANYONE = ""

/** A fresh restart that arrived while rebuilding: answered by the world-line change that ends it. */
export interface Waiter {
  readonly id: WorkerId
  readonly reply: Deferred.Deferred<Registration, CoordinatorUnavailable | FutureWorldLine>
}

export interface Rebuild {
  /** Members known at start-up that have not registered yet. */
  readonly missing: Set<WorkerId>
  readonly waiters: Array<Waiter>
}

export class CoordinatorState {
  worldLine: WorldLine
  readonly history: Array<WorldLineRecord>
  readonly byName = new Map<string, Member>()
  readonly byId = new Map<WorkerId, Member>()
  finder: CutFinder
  /** Gap detection in front of `finder` (same lifetime: replaced with it at a world-line change). */
  gate: ReportGate
  /** Versions someone waits for (max per worker): their reports trigger seals of what they need. */
  readonly wanted = DependencySet.empty()
  /**
   * Versions commit waiters wait for, by the subscriber that waits (ANYONE: unknown) and worker: a
   * cut that commits one of them is pushed at once to that subscriber (to everyone for ANYONE);
   * other cut changes are pushed to everyone at most once per push interval.
   */
  readonly awaited = new Map<string, Map<WorkerId, Set<number>>>()
  rebuild: Rebuild | undefined
  /** The last cut told to anyone; during a rebuild it stays at the last recovery cut. */
  published: Cut.Cut
  closed = false

  constructor(loaded: ClusterState) {
    this.history = [...loaded.history]
    const last = this.history.at(-1)
    this.worldLine = last?.worldLine ?? (1 as WorldLine)
    const base = last?.recoveryCut ?? new Map<WorkerId, Version>()
    for (const { id, name } of loaded.members) this.addMember(id, name)
    this.finder = CutFinder.make(base)
    this.gate = new ReportGate(this.finder)
    this.published = this.fullCut()
    this.rebuild = this.byId.size > 0 ? { missing: new Set(this.byId.keys()), waiters: [] } : undefined
  }

  nextId(): WorkerId {
    let max = 0
    for (const id of this.byId.keys()) if (id > max) max = id
    return (max + 1) as WorkerId
  }

  addMember(id: WorkerId, name: string): Member {
    const member: Member = { id, name, registered: false, address: undefined, pid: undefined, kind: undefined, subscriber: undefined }
    this.byName.set(name, member)
    this.byId.set(id, member)
    return member
  }

  /** The committed cut with every member listed (0 for those with nothing committed), by id. */
  fullCut(): Map<WorkerId, Version> {
    const cut = this.finder.cut()
    for (const id of this.byId.keys()) if (!cut.has(id)) cut.set(id, 0 as Version)
    return new Map([...cut].sort(([a], [b]) => a - b))
  }

  /** The cut to tell a worker now: the live one, or during a rebuild the last published one. */
  visibleCut(): Cut.Cut {
    if (this.rebuild !== undefined) {
      const cut = new Map(this.published)
      for (const id of this.byId.keys()) if (!cut.has(id)) cut.set(id, 0 as Version)
      return cut
    }
    return this.fullCut()
  }

  /** Moves the in-memory state to a new world-line whose recovery cut is `recoveryCut`. */
  enterWorldLine(record: WorldLineRecord): void {
    this.worldLine = record.worldLine
    this.history.push(record)
    // Uncommitted versions, and reports held for a missing predecessor, are dropped: survivors
    // that keep their state report them again.
    this.finder = CutFinder.make(record.recoveryCut)
    this.gate = new ReportGate(this.finder)
    this.wanted.clear()
    this.awaited.clear()
    this.published = record.recoveryCut
  }

  /** Remembers what a commit waiter of `subscriber` waits for (versions above the last published cut). */
  noteAwaited(deps: ReadonlyArray<readonly [number, number]>, subscriber: string = ANYONE): void {
    for (const [w, v] of deps as ReadonlyArray<Dependency>) {
      if (!this.byId.has(w) || v <= Cut.at(this.published, w)) continue
      let byWorker = this.awaited.get(subscriber)
      if (byWorker === undefined) {
        byWorker = new Map()
        this.awaited.set(subscriber, byWorker)
      }
      const versions = byWorker.get(w)
      if (versions === undefined) byWorker.set(w, new Set([v]))
      else versions.add(v)
    }
  }

  /** The subscribers (ANYONE included) a version they wait for is committed by the live cut, not yet told. */
  awaitedNowCommitted(): Set<string> {
    const due = new Set<string>()
    for (const [subscriber, byWorker] of this.awaited) {
      search: for (const [w, versions] of byWorker) {
        const at = this.finder.at(w)
        for (const v of versions) {
          if (v <= at) {
            due.add(subscriber)
            break search
          }
        }
      }
    }
    return due
  }

  /** `cut` was told to `subscribers` (undefined: to everyone): forget the waits it satisfied. */
  forgetAwaitedBelow(cut: Cut.Cut, subscribers?: ReadonlySet<string>): void {
    for (const [subscriber, byWorker] of this.awaited) {
      if (subscribers !== undefined && !subscribers.has(subscriber)) continue
      for (const [w, versions] of byWorker) {
        const at = Cut.at(cut, w)
        for (const v of versions) if (v <= at) versions.delete(v)
        if (versions.size === 0) byWorker.delete(w)
      }
      if (byWorker.size === 0) this.awaited.delete(subscriber)
    }
  }

  /**
   * `to` and the subscribers of the workers whose version in `cut` is above `before`; undefined
   * when one of those workers' processes named no subscription (everyone must hear).
   */
  ownersOfMoved(before: Cut.Cut, cut: Cut.Cut, to: ReadonlySet<string>): Set<string> | undefined {
    const moved: Array<WorkerId> = []
    for (const [w, v] of cut) if (v > Cut.at(before, w)) moved.push(w)
    return this.subscribersOf(moved, new Set(to))
  }

  /** Who must hear a seal request for these workers: their processes' subscribers, or everyone (undefined) when one is unknown. */
  sealAudience(deps: ReadonlyArray<Dependency>): ReadonlySet<string> | undefined {
    return this.subscribersOf(deps.map(([w]) => w), new Set())
  }

  /** `into` plus the subscribers of these workers' processes; undefined when one of them named none. */
  private subscribersOf(workers: ReadonlyArray<WorkerId>, into: Set<string>): Set<string> | undefined {
    for (const w of workers) {
      const subscriber = this.byId.get(w)?.subscriber
      if (subscriber === undefined) return undefined
      into.add(subscriber)
    }
    return into
  }

  recoveryCutOf(worldLine: number): Cut.Cut | undefined {
    return this.history.find((r) => r.worldLine === worldLine)?.recoveryCut
  }

  /** A report of the current world-line from a member: accepted, held for a gap, or ignored. */
  report(id: WorkerId, version: number, prev: number, deps: ReadonlyArray<readonly [number, number]>): GateOutcome {
    return this.gate.offer(id, version, prev, deps)
  }

  /**
   * What a registering worker brings of the current world-line: its committed hint (sound: a worker
   * learns committed versions only from a coordinator) and its checkpoints above it, oldest first,
   * as a chain. `include` selects the checkpoints that are valid now. True when the cut moved.
   */
  attach(
    id: WorkerId,
    committed: number,
    checkpoints: ReadonlyArray<{ readonly worldLine: number; readonly version: number; readonly deps: ReadonlyArray<readonly [number, number]> }>,
    include: (checkpoint: { readonly worldLine: number }) => boolean = () => true
  ): boolean {
    // The hint first: the first checkpoint's predecessor is at or below it.
    const raised = this.gate.raise(id, committed).changed
    const merged = this.gate.chain(id, committed, checkpoints, include).changed
    return raised || merged
  }

  /**
   * Seals to ask for a commit wait on `deps`: every dependency not persisted yet, and for one that
   * is persisted but blocked, the unreported version that blocks it. All are remembered as wanted.
   */
  sealsFor(deps: ReadonlyArray<readonly [number, number]>): Array<Dependency> {
    const out = DependencySet.empty()
    for (const [w, v] of deps as ReadonlyArray<Dependency>) {
      if (!this.byId.has(w) || v <= this.finder.at(w)) continue
      if (v > this.finder.persisted(w)) {
        out.add(w, v)
        this.wanted.add(w, v)
        continue
      }
      this.wanted.add(w, v)
      const b = this.finder.blocker(w, v)
      if (b !== undefined && this.byId.has(b[0])) {
        out.add(b[0], b[1])
        this.wanted.add(b[0], b[1])
      }
    }
    return out.toArray()
  }

  /**
   * Seals to ask for after a report of `worker`, `accepted` being the reports it let into the graph
   * (itself and held ones it connected; none when it was held or ignored): for each accepted report
   * that a wanted version of its worker needs (the want is above what was accepted before it), its
   * unpersisted dependencies; and for every wanted version still blocked, the unreported version
   * that blocks it, unless already asked for. Committed wants are forgotten.
   */
  sealsAfterReport(worker: WorkerId, accepted: ReadonlyArray<Accepted>): Array<Dependency> {
    const out = DependencySet.empty()
    const ask = (w: WorkerId, v: Version) => {
      if (!this.byId.has(w) || v <= this.finder.persisted(w)) return
      const already = this.wanted.get(w)
      if (already !== undefined && already >= v) return
      out.add(w, v)
      this.wanted.add(w, v)
    }
    const want = this.wanted.get(worker)
    if (want !== undefined) {
      for (const a of accepted) if (want > a.before) for (const [w, v] of a.deps) ask(w, v)
    }
    for (const [w, v] of this.wanted.toArray()) {
      if (v <= this.finder.at(w)) {
        this.wanted.delete(w)
        continue
      }
      if (v > this.finder.persisted(w)) continue // asked for already; its report is on its way
      const b = this.finder.blocker(w, v)
      if (b !== undefined) ask(b[0], b[1])
    }
    return out.toArray()
  }

  status(): ClusterStatus {
    const visible = this.visibleCut()
    const workers: Array<WorkerStatus> = []
    for (const m of [...this.byId.values()].sort((a, b) => a.id - b.id)) {
      workers.push({
        id: m.id,
        name: m.name,
        committed: Cut.at(visible, m.id),
        // Held reports (a predecessor is missing) count as reported and waiting.
        persisted: Math.max(this.finder.persisted(m.id), this.gate.heldMax(m.id)),
        pending: this.finder.pending(m.id) + this.gate.heldCount(m.id),
        registered: m.registered,
        ...(m.address !== undefined ? { address: m.address } : {}),
        ...(m.pid !== undefined ? { pid: m.pid } : {}),
        ...(m.kind !== undefined ? { kind: m.kind } : {})
      })
    }
    return { worldLine: this.worldLine, rebuilding: this.rebuild !== undefined, cut: Cut.toWire(visible), workers }
  }
}
