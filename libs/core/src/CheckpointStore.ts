/**
 * Where StateObjects persist their sealed versions (SPEC 3.4, 3.9).
 *
 * A worker's durable state is a map from string keys to values. Each sealed version is persisted
 * as ONE durable write holding its delta (the keys it changed; `undefined` for a deleted key) and
 * its metadata. Restoring version v yields the base (everything pruned so far) plus every delta up
 * to v. Pruning folds committed deltas into the base, so storage does not grow without bound.
 * Full-snapshot authors store their whole state under one key.
 *
 * Implementations (libs/storage): better-sqlite3 (durable, the default) and in-memory (tests).
 */
import type { Effect, Scope } from "effect"
import { Context } from "effect"
import type { Dependency } from "./DependencySet"
import type { CheckpointStoreError, CorruptCheckpoint } from "./Errors"
import type { Version, WorldLine } from "./Ids"

/** A value that can be checkpointed: anything structured-cloneable (JSON values, Uint8Array, Map...). */
export type StateValue = unknown

/** The keys a version changed, with their new values; `undefined` marks a deletion. */
export type Delta = ReadonlyArray<readonly [key: string, value: StateValue | undefined]>

export interface CheckpointMeta {
  readonly worldLine: WorldLine
  readonly version: Version
  readonly deps: ReadonlyArray<Dependency>
}

export interface StoredState {
  readonly version: Version
  readonly entries: ReadonlyMap<string, StateValue>
}

export interface StoredCheckpoints {
  /** The version the base holds (0 when nothing was pruned yet). Known committed by this worker. */
  readonly base: Version
  /**
   * The last world-line the worker adopted durably (0: none). Every checkpoint in the store was
   * valid in it: a survivor that keeps its state across a world-line change records the change
   * before it reports its kept versions again, so a later restart can tell kept checkpoints from
   * ones a missed change made stale.
   */
  readonly worldLine: number
  /** Unpruned checkpoints above the base, oldest first. */
  readonly checkpoints: ReadonlyArray<CheckpointMeta>
}

export interface StoreStats {
  readonly checkpoints: number
  readonly bytes: number
}

/** The store of one worker. Operations run in the order they are called. */
export interface WorkerStore {
  readonly worker: string
  /** One durable write (fsync'd before it completes) of a sealed version's delta and metadata. */
  readonly persist: (meta: CheckpointMeta, delta: Delta) => Effect.Effect<void, CheckpointStoreError>
  /** The full state as of `version` (0 = the empty state). Fails for a pruned or unknown version. */
  readonly restore: (version: Version) => Effect.Effect<StoredState, CheckpointStoreError>
  /** Deletes every checkpoint above `version` (work lost in a rollback). */
  readonly discardAfter: (version: Version) => Effect.Effect<void, CheckpointStoreError>
  /** Folds every checkpoint up to `committed` into the base and deletes them. */
  readonly prune: (committed: Version) => Effect.Effect<void, CheckpointStoreError>
  /** Durably records that every checkpoint now in the store is valid in `worldLine` (see StoredCheckpoints). */
  readonly adoptWorldLine: (worldLine: WorldLine) => Effect.Effect<void, CheckpointStoreError>
  /** The base version, the adopted world-line and the metadata of every unpruned checkpoint. */
  readonly list: Effect.Effect<StoredCheckpoints, CheckpointStoreError>
  readonly stats: Effect.Effect<StoreStats, CheckpointStoreError>
}

export class CheckpointStore extends Context.Tag("@dse/core/CheckpointStore")<
  CheckpointStore,
  {
    /** Opens (creating if needed) the store of one worker; closed when the scope closes. */
    readonly open: (
      worker: string
    ) => Effect.Effect<WorkerStore, CheckpointStoreError | CorruptCheckpoint, Scope.Scope>
  }
>() {}
