/**
 * A lightweight speculative thread (SPEC 3.3): the (world-line, dependency set) that follows a
 * computation across awaits that leave a StateObject, such as a workflow awaiting an RPC reply or
 * an outside client's session.
 *
 * It is ambient: a FiberRef holds the current sthread, so RPC clients tag outgoing calls and
 * absorb reply headers without the user passing anything. The dependency set is mutable and shared
 * by the fibers of one sthread; `detach` gives a child its own copy and `merge` folds it back.
 */
import { Effect, FiberRef, Option } from "effect"
import type { Dependency } from "./DependencySet"
import { DependencySet } from "./DependencySet"
import type { Header } from "./Header"
import type { Version, WorkerId, WorldLine } from "./Ids"

export class Sthread {
  /** 0 until the sthread has seen a world-line (an outside client's session before its first reply). */
  worldLine: number
  readonly deps: DependencySet

  constructor(worldLine: number, deps: DependencySet = DependencySet.empty()) {
    this.worldLine = worldLine
    this.deps = deps
  }

  /** The header for a message sent from this sthread. */
  header(): Header | undefined {
    if (this.worldLine === 0) return undefined
    return { worldLine: this.worldLine as WorldLine, deps: this.deps }
  }

  /** Absorbs a reply's header: its dependencies become this sthread's. */
  absorb(header: Header): void {
    if (header.worldLine > this.worldLine) this.worldLine = header.worldLine
    this.deps.addAll(header.deps)
    if (header.source) this.deps.add(header.source[0], header.source[1])
  }

  /** A copy with its own dependency set. */
  fork(): Sthread {
    return new Sthread(this.worldLine, this.deps.clone())
  }

  /** Folds another sthread's dependencies into this one. */
  mergeFrom(other: Sthread): void {
    if (other.worldLine > this.worldLine) this.worldLine = other.worldLine
    this.deps.addAll(other.deps)
  }

  /**
   * Replaces dependencies that an Action has absorbed into its version by that version:
   * (worker, version) stands for all of them. Entries changed since they were taken stay.
   */
  compact(absorbed: ReadonlyArray<Dependency>, worker: WorkerId, version: Version): void {
    for (const [w, v] of absorbed) if (this.deps.get(w) === v) this.deps.delete(w)
    this.deps.add(worker, version)
  }
}

export const currentSthread: FiberRef.FiberRef<Sthread | undefined> = FiberRef.unsafeMake<Sthread | undefined>(
  undefined,
  { fork: (parent) => parent, join: (parent) => parent }
)

/** The ambient sthread, if any. */
export const current: Effect.Effect<Option.Option<Sthread>> = Effect.map(
  FiberRef.get(currentSthread),
  Option.fromNullable
)

/** Runs `effect` inside `sthread`. */
export const within: {
  (sthread: Sthread): <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(effect: Effect.Effect<A, E, R>, sthread: Sthread): Effect.Effect<A, E, R>
} = ((...args: Array<any>) => {
  if (args.length === 1) return (effect: Effect.Effect<any, any, any>) => Effect.locally(effect, currentSthread, args[0])
  return Effect.locally(args[0], currentSthread, args[1])
}) as any

/** Runs `effect` in a new root sthread (an outside client's session), and returns it with the result. */
export const root = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<readonly [A, Sthread], E, R> => {
  const sthread = new Sthread(0)
  return Effect.map(Effect.locally(effect, currentSthread, sthread), (a) => [a, sthread] as const)
}

/**
 * Runs `effect` in a detached copy of the current sthread: what it absorbs stays out of the parent
 * until `merge` folds the returned sthread back in.
 */
export const detach = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<readonly [A, Sthread], E, R> =>
  Effect.flatMap(FiberRef.get(currentSthread), (parent) => {
    const child = parent ? parent.fork() : new Sthread(0)
    return Effect.map(Effect.locally(effect, currentSthread, child), (a) => [a, child] as const)
  })

/** Folds `child` into the current sthread (no-op outside an sthread). */
export const merge = (child: Sthread): Effect.Effect<void> =>
  Effect.map(FiberRef.get(currentSthread), (parent) => {
    if (parent) parent.mergeFrom(child)
  })
