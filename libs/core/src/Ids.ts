/**
 * Identifiers of the protocol: workers, versions and world-lines.
 *
 * Workers have a stable name chosen by their author and a small integer id assigned by the
 * coordinator, which keeps headers compact. Versions and world-lines are positive integers;
 * version 0 stands for "nothing yet" (the initial, empty state).
 */
import { Schema } from "effect"

export const WorkerName = Schema.String.pipe(
  Schema.minLength(1),
  Schema.maxLength(128),
  Schema.pattern(/^[A-Za-z0-9._:-]+$/),
  Schema.brand("@dse/WorkerName")
)
export type WorkerName = typeof WorkerName.Type

export const WorkerId = Schema.Int.pipe(Schema.positive(), Schema.brand("@dse/WorkerId"))
export type WorkerId = typeof WorkerId.Type

/** A version number; 0 means "before the first version". */
export const Version = Schema.Int.pipe(Schema.nonNegative(), Schema.brand("@dse/Version"))
export type Version = typeof Version.Type

/** A cluster-wide failure epoch, starting at 1. */
export const WorldLine = Schema.Int.pipe(Schema.positive(), Schema.brand("@dse/WorldLine"))
export type WorldLine = typeof WorldLine.Type

export const workerName = (name: string): WorkerName => Schema.decodeSync(WorkerName)(name)
export const workerId = (id: number): WorkerId => id as WorkerId
export const version = (v: number): Version => v as Version
export const worldLine = (w: number): WorldLine => w as WorldLine
