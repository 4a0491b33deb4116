/**
 * A cut: for each worker, a version. The committed cut names the highest committed version of
 * every worker; a recovery cut is the committed cut at the moment of a world-line change.
 */
import { Schema } from "effect"
import type { Version, WorkerId } from "./Ids"

export type Cut = ReadonlyMap<WorkerId, Version>

/** Wire form: `[[workerId, version], ...]`. */
export const CutWire = Schema.Array(
  Schema.Tuple(Schema.Int.pipe(Schema.positive()), Schema.Int.pipe(Schema.nonNegative()))
)
export type CutWire = typeof CutWire.Type

export const toWire = (cut: Cut): CutWire => Array.from(cut)
export const fromWire = (wire: CutWire): Map<WorkerId, Version> =>
  new Map(wire as ReadonlyArray<readonly [WorkerId, Version]>)

/** The version of `worker` in `cut`; a worker missing from a cut has nothing committed (0). */
export const at = (cut: Cut, worker: WorkerId): Version => cut.get(worker) ?? (0 as Version)
