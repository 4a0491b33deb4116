/**
 * What the campaign reads after every process has been restarted and the cluster is quiet: only
 * committed data, read from outside the DSE domain, plus the checkpoint files' sizes once the
 * processes have stopped. The checker compares it with the history.
 */
import { Schema } from "effect"

/** One committed WAL entry written by a campaign producer. */
export const WalRecord = Schema.Struct({
  lsn: Schema.Int,
  worldLine: Schema.Int,
  producer: Schema.optional(Schema.Struct({ id: Schema.String, seq: Schema.Int }))
})
export type WalRecord = typeof WalRecord.Type

/** One committed event at the broker's sink. */
export const SinkEvent = Schema.Struct({ partition: Schema.Int, offset: Schema.Int, value: Schema.String })
export type SinkEvent = typeof SinkEvent.Type

/** A reservation record of the KV (what a saga step leaves behind). */
export const ReservationRecord = Schema.Struct({ status: Schema.String, amount: Schema.Number })
export type ReservationRecord = typeof ReservationRecord.Type

/** A workflow execution as the host reports it at the end. */
export const ExecutionRecord = Schema.Struct({
  executionId: Schema.String,
  status: Schema.String,
  outcome: Schema.optional(Schema.String)
})
export type ExecutionRecord = typeof ExecutionRecord.Type

/** A worker's checkpoint file at the end. */
export const StorageRecord = Schema.Struct({
  worker: Schema.String,
  file: Schema.String,
  /** Unpruned checkpoints (rows of the `checkpoints` table). */
  checkpoints: Schema.Int,
  /** The highest version ever sealed (how many there would be without pruning). */
  maxVersion: Schema.Int,
  bytes: Schema.Int
})
export type StorageRecord = typeof StorageRecord.Type

/** The workflow host's engine counters at the final read (WorkflowDescribe): what a stuck execution is waiting in. */
export const HostStats = Schema.Struct({
  runsInFlight: Schema.Number,
  redrives: Schema.Number,
  restores: Schema.Number,
  swept: Schema.Number,
  failed: Schema.Boolean,
  runs: Schema.optional(
    Schema.Array(Schema.Struct({ executionId: Schema.String, step: Schema.String, forMillis: Schema.Number }))
  ),
  stateObject: Schema.optional(
    Schema.Struct({ version: Schema.Number, committed: Schema.Number, actionsRunning: Schema.Number, exclusivePending: Schema.Boolean })
  )
})
export type HostStats = typeof HostStats.Type

export const FinalState = Schema.Struct({
  /** Committed value of every KV key the history wrote (missing: absent). */
  kv: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  /** The WAL's committed log, in LSN order. */
  wal: Schema.optional(Schema.Array(WalRecord)),
  /** The broker's committed sink (undefined: the broker was not part of the campaign). */
  sink: Schema.optional(Schema.Array(SinkEvent)),
  /** Reservation records by trip id, then offering (missing: never made). */
  reservations: Schema.Record({ key: Schema.String, value: Schema.Record({ key: Schema.String, value: ReservationRecord }) }),
  /** Stock left per offering. */
  stock: Schema.Record({ key: Schema.String, value: Schema.Number }),
  /** Saga executions by trip id (undefined: the workflow host was not part of the campaign). */
  executions: Schema.optional(Schema.Record({ key: Schema.String, value: ExecutionRecord })),
  hostStats: Schema.optional(HostStats),
  storage: Schema.Array(StorageRecord)
})
export type FinalState = typeof FinalState.Type

export const empty: FinalState = { kv: {}, reservations: {}, stock: {}, storage: [] }
