/**
 * What a worker process and the coordinator say to each other (SPEC 3.4, 3.5, 3.7, 3.8), as
 * Schemas (the RPC face of services/coordinator sends exactly these) and as a service interface
 * (`CoordinatorClient`) that the runtime depends on. libs/coordinator implements it in process;
 * libs/transport implements it over TCP.
 */
import type { Effect, Stream } from "effect"
import { Context, Schema } from "effect"
import { CutWire } from "./Cut"
import { DependencyList } from "./DependencySet"
import { CoordinatorUnavailable, FutureWorldLine } from "./Errors"

/** A persisted checkpoint, as its worker reports it once it is durable. */
export const CheckpointReport = Schema.Struct({
  worker: Schema.Int,
  /** The world-line the worker is in when it reports; reports of older world-lines are ignored. */
  worldLine: Schema.Int,
  version: Schema.Int,
  /**
   * The worker's checkpoint just before this one (its restore point when this is the first since a
   * start or a restore). The coordinator uses it to tell a gap (a lost report, which must not be
   * skipped) from a version jump (the Lamport rule).
   */
  prev: Schema.Int,
  deps: DependencyList
})
export type CheckpointReport = typeof CheckpointReport.Type

export const StoredCheckpointMeta = Schema.Struct({
  worldLine: Schema.Int,
  version: Schema.Int,
  deps: DependencyList
})
export type StoredCheckpointMeta = typeof StoredCheckpointMeta.Type

export const RegisterRequest = Schema.Struct({
  name: Schema.String,
  /**
   * 0 when the worker has just started (a new member, or a restart after a crash: its memory is
   * gone). Otherwise the world-line this live worker is in: it is re-attaching, for example after
   * the coordinator restarted.
   */
  worldLine: Schema.Int,
  /** The highest version of itself the worker knows to be committed (at least its store's base). */
  committed: Schema.Int,
  /** Metadata of its unpruned checkpoints above `committed`, oldest first. */
  checkpoints: Schema.Array(StoredCheckpointMeta),
  /** Where the worker's process can be reached, and its pid: for status and discovery. */
  address: Schema.optional(Schema.String),
  pid: Schema.optional(Schema.Int),
  kind: Schema.optional(Schema.String),
  /**
   * The event subscription of the worker's process (what it passed to `Events`): seal requests for
   * this worker then go to that subscription only. Absent: they go to every subscriber.
   */
  subscriber: Schema.optional(Schema.String)
})
export type RegisterRequest = typeof RegisterRequest.Type

export const Registration = Schema.Struct({
  id: Schema.Int,
  /** The world-line to adopt. */
  worldLine: Schema.Int,
  /** The current committed cut. */
  cut: CutWire,
  /**
   * Present when the worker must take a recovery decision:
   * - a restarted worker restores its checkpoint at `recoveryCut[self]` (0: the empty state);
   * - a live worker that missed world-line changes decides keep/restore against this cut, which
   *   is the recovery cut of the first change it missed, and re-reports what it keeps.
   */
  recoveryCut: Schema.optional(CutWire)
})
export type Registration = typeof Registration.Type

export class CutAdvanced extends Schema.TaggedClass<CutAdvanced>()("CutAdvanced", {
  worldLine: Schema.Int,
  cut: CutWire
}) {}

export class WorldLineChanged extends Schema.TaggedClass<WorldLineChanged>()("WorldLineChanged", {
  worldLine: Schema.Int,
  recoveryCut: CutWire
}) {}

/** Someone waits for these versions to commit: their owners should seal them now. */
export class SealRequested extends Schema.TaggedClass<SealRequested>()("SealRequested", {
  deps: DependencyList
}) {}

export const CoordinatorEvent = Schema.Union(CutAdvanced, WorldLineChanged, SealRequested)
export type CoordinatorEvent = typeof CoordinatorEvent.Type

export const WorkerStatus = Schema.Struct({
  id: Schema.Int,
  name: Schema.String,
  /** Highest committed version. */
  committed: Schema.Int,
  /** Highest version reported as persisted in the current world-line (0 when none). */
  persisted: Schema.Int,
  /** Persisted versions that wait for commit. */
  pending: Schema.Int,
  registered: Schema.Boolean,
  address: Schema.optional(Schema.String),
  pid: Schema.optional(Schema.Int),
  kind: Schema.optional(Schema.String)
})
export type WorkerStatus = typeof WorkerStatus.Type

export const ClusterStatus = Schema.Struct({
  worldLine: Schema.Int,
  /** True after a coordinator restart until every member has re-attached; commits pause meanwhile. */
  rebuilding: Schema.Boolean,
  cut: CutWire,
  workers: Schema.Array(WorkerStatus)
})
export type ClusterStatus = typeof ClusterStatus.Type

/** The coordinator as a worker process sees it. */
export class CoordinatorClient extends Context.Tag("@dse/core/CoordinatorClient")<
  CoordinatorClient,
  {
    readonly register: (
      request: RegisterRequest
    ) => Effect.Effect<Registration, CoordinatorUnavailable | FutureWorldLine>
    /** Fire and forget: a report that is lost is resent on re-registration. */
    readonly report: (report: CheckpointReport) => Effect.Effect<void>
    /** Fire and forget: asks the owners of these versions to seal them. */
    readonly requestSeal: (deps: DependencyList) => Effect.Effect<void>
    /**
     * Cut changes, world-line changes and seal requests, pushed as they happen. The stream ends or
     * fails when the coordinator goes away; the runtime then re-registers its workers.
     */
    readonly events: Stream.Stream<CoordinatorEvent, CoordinatorUnavailable>
    readonly status: Effect.Effect<ClusterStatus, CoordinatorUnavailable>
  }
>() {}

export { CoordinatorUnavailable, FutureWorldLine }
