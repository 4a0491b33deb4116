/**
 * State whose per-version changes are tracked, so that sealing a version needs no code from the
 * StateObject author: the changes become the checkpoint delta, and restoring replays them.
 *
 * `VersionedState` is the contract a StateObject's state fulfils (the raw checkpoint/restore hooks,
 * for authors who need their own format). `VersionedMap`, `VersionedCell` and `VersionedState.struct`
 * are ready-made implementations.
 *
 * Values are treated as immutable: replace a value with `set` instead of mutating it in place, or
 * the change is not seen.
 */
import type { Delta, StateValue } from "./CheckpointStore"

export interface VersionedState {
  /** True when something changed since the last `takeDelta`. */
  readonly hasChanges: () => boolean
  /** The changes since the last call, as a delta; starts a new change set. */
  readonly takeDelta: () => Delta
  /** Replaces the whole state with restored entries (and forgets pending changes). */
  readonly restore: (entries: ReadonlyMap<string, StateValue>) => void
}

/** A string-keyed map whose changes become the checkpoint delta. */
export class VersionedMap<V> implements VersionedState, Iterable<[string, V]> {
  private readonly data = new Map<string, V>()
  private readonly changed = new Set<string>()

  static make<V>(): VersionedMap<V> {
    return new VersionedMap<V>()
  }

  get size(): number {
    return this.data.size
  }
  get(key: string): V | undefined {
    return this.data.get(key)
  }
  has(key: string): boolean {
    return this.data.has(key)
  }
  set(key: string, value: V): this {
    this.data.set(key, value)
    this.changed.add(key)
    return this
  }
  delete(key: string): boolean {
    const had = this.data.delete(key)
    if (had) this.changed.add(key)
    return had
  }
  keys(): IterableIterator<string> {
    return this.data.keys()
  }
  values(): IterableIterator<V> {
    return this.data.values()
  }
  entries(): IterableIterator<[string, V]> {
    return this.data.entries()
  }
  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.data.entries()
  }

  hasChanges = (): boolean => this.changed.size > 0

  takeDelta = (): Delta => {
    const delta: Array<readonly [string, StateValue | undefined]> = []
    for (const key of this.changed) delta.push([key, this.data.get(key)])
    this.changed.clear()
    return delta
  }

  restore = (entries: ReadonlyMap<string, StateValue>): void => {
    this.data.clear()
    this.changed.clear()
    for (const [k, v] of entries) this.data.set(k, v as V)
  }
}

/** A single value (a counter, a record) whose every change is checkpointed whole. */
export class VersionedCell<V> implements VersionedState {
  private value: V
  private changed = false
  private readonly initial: V

  constructor(initial: V) {
    this.initial = initial
    this.value = initial
  }

  static make<V>(initial: V): VersionedCell<V> {
    return new VersionedCell(initial)
  }

  get(): V {
    return this.value
  }
  set(value: V): void {
    this.value = value
    this.changed = true
  }
  update(f: (v: V) => V): V {
    this.set(f(this.value))
    return this.value
  }

  hasChanges = (): boolean => this.changed

  takeDelta = (): Delta => {
    if (!this.changed) return []
    this.changed = false
    return [["", this.value]]
  }

  restore = (entries: ReadonlyMap<string, StateValue>): void => {
    this.value = entries.has("") ? (entries.get("") as V) : this.initial
    this.changed = false
  }
}

/**
 * Combines named parts into one state: each part's keys are stored under `<name>/`.
 * `struct({ data: VersionedMap.make(), seen: VersionedMap.make() })`.
 */
export const struct = <P extends Record<string, VersionedState>>(parts: P): P & VersionedState => {
  const names = Object.keys(parts)
  for (const name of names) {
    if (name.includes("/")) throw new Error(`VersionedState.struct: part name "${name}" must not contain "/"`)
  }
  const combined: VersionedState = {
    hasChanges: () => names.some((n) => parts[n]!.hasChanges()),
    takeDelta: () => {
      const delta: Array<readonly [string, StateValue | undefined]> = []
      for (const n of names) for (const [k, v] of parts[n]!.takeDelta()) delta.push([`${n}/${k}`, v])
      return delta
    },
    restore: (entries) => {
      const byPart = new Map<string, Map<string, StateValue>>(names.map((n) => [n, new Map()]))
      for (const [k, v] of entries) {
        const slash = k.indexOf("/")
        const part = byPart.get(slash < 0 ? "" : k.slice(0, slash))
        if (part) part.set(k.slice(slash + 1), v)
      }
      for (const n of names) parts[n]!.restore(byPart.get(n)!)
    }
  }
  return Object.assign(Object.create(null), parts, combined)
}
