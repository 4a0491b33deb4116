/**
 * The only state the coordinator persists (SPEC 3.8): the world-line, the recovery cut of every
 * world-line change, and the membership (worker names and their ids). Everything else is rebuilt
 * from the workers after a restart.
 */
import type { Effect, Scope } from "effect"
import { Context } from "effect"
import type { Cut } from "./Cut"
import type { CheckpointStoreError, CorruptCheckpoint } from "./Errors"
import type { WorkerId, WorldLine } from "./Ids"

export interface WorldLineRecord {
  readonly worldLine: WorldLine
  readonly recoveryCut: Cut
}

export interface ClusterState {
  /** Every world-line change, oldest first; the last one is the current world-line. Empty for a new cluster. */
  readonly history: ReadonlyArray<WorldLineRecord>
  readonly members: ReadonlyArray<{ readonly id: WorkerId; readonly name: string }>
}

export interface ClusterStateHandle {
  readonly load: Effect.Effect<ClusterState, CheckpointStoreError>
  /** Durably records a world-line change before anyone is told of it. */
  readonly recordWorldLine: (record: WorldLineRecord) => Effect.Effect<void, CheckpointStoreError>
  /** Durably records a new member before its id is handed out. */
  readonly addMember: (id: WorkerId, name: string) => Effect.Effect<void, CheckpointStoreError>
}

export class ClusterStateStore extends Context.Tag("@dse/core/ClusterStateStore")<
  ClusterStateStore,
  { readonly open: Effect.Effect<ClusterStateHandle, CheckpointStoreError | CorruptCheckpoint, Scope.Scope> }
>() {}
