/**
 * A dependency set: for each worker, the highest version of it that something depends on.
 *
 * Depending on (w, v) implies depending on every earlier version of w, so only the maximum per
 * worker is kept. The set is mutable on purpose: it sits on the hot path of every message and
 * every Action, and copying would dominate its cost. Use `clone` where ownership is shared.
 */
import { Schema } from "effect"
import type { Version, WorkerId } from "./Ids"

export type Dependency = readonly [worker: WorkerId, version: Version]

export class DependencySet implements Iterable<Dependency> {
  private readonly byWorker: Map<WorkerId, Version>

  private constructor(byWorker: Map<WorkerId, Version>) {
    this.byWorker = byWorker
  }

  static empty(): DependencySet {
    return new DependencySet(new Map())
  }

  static of(...deps: ReadonlyArray<Dependency>): DependencySet {
    const set = DependencySet.empty()
    for (const [w, v] of deps) set.add(w, v)
    return set
  }

  static fromIterable(deps: Iterable<Dependency>): DependencySet {
    const set = DependencySet.empty()
    for (const [w, v] of deps) set.add(w, v)
    return set
  }

  get size(): number {
    return this.byWorker.size
  }

  get(worker: WorkerId): Version | undefined {
    return this.byWorker.get(worker)
  }

  /** Adds (worker, version); returns true when the set grew (a new worker or a higher version). */
  add(worker: WorkerId, version: Version): boolean {
    if (version <= 0) return false
    const current = this.byWorker.get(worker)
    if (current !== undefined && current >= version) return false
    this.byWorker.set(worker, version)
    return true
  }

  /** Adds every dependency of `other`; returns true when this set grew. */
  addAll(other: Iterable<Dependency>): boolean {
    let grew = false
    for (const [w, v] of other) if (this.add(w, v)) grew = true
    return grew
  }

  /** True when every dependency is at or below the given cut. */
  isCoveredBy(cut: (worker: WorkerId) => Version | undefined): boolean {
    for (const [w, v] of this.byWorker) {
      const c = cut(w)
      if (c === undefined || c < v) return false
    }
    return true
  }

  /** The dependencies that the given cut does not cover yet. */
  uncoveredBy(cut: (worker: WorkerId) => Version | undefined): Array<Dependency> {
    const out: Array<Dependency> = []
    for (const [w, v] of this.byWorker) {
      const c = cut(w)
      if (c === undefined || c < v) out.push([w, v])
    }
    return out
  }

  /** The highest version named in the set (0 when empty): what the Lamport rule compares with. */
  maxVersion(): number {
    let max = 0
    for (const v of this.byWorker.values()) if (v > max) max = v
    return max
  }

  delete(worker: WorkerId): void {
    this.byWorker.delete(worker)
  }

  clear(): void {
    this.byWorker.clear()
  }

  clone(): DependencySet {
    return new DependencySet(new Map(this.byWorker))
  }

  toArray(): Array<Dependency> {
    return Array.from(this.byWorker)
  }

  [Symbol.iterator](): Iterator<Dependency> {
    return this.byWorker[Symbol.iterator]()
  }

  toJSON(): Array<Dependency> {
    return this.toArray()
  }
}

/** Wire form of a dependency list: `[[workerId, version], ...]`. */
export const DependencyList = Schema.Array(
  Schema.Tuple(Schema.Int.pipe(Schema.positive()), Schema.Int.pipe(Schema.nonNegative()))
)
export type DependencyList = typeof DependencyList.Type
