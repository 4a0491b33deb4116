/** Checks shared by every store, so the in-memory double refuses what sqlite refuses. */
import type { CheckpointMeta, Delta } from "@dse/core"

/**
 * A worker name that is safe as a file name on its own: the characters of core's WorkerName, at
 * most 128 of them, and no leading dot or dash (no ".", "..", hidden files or option look-alikes).
 */
const SAFE_NAME = /^[A-Za-z0-9_:][A-Za-z0-9._:-]{0,127}$/

export const unsafeWorkerName = (worker: string): string | undefined =>
  SAFE_NAME.test(worker) ? undefined : `worker name ${JSON.stringify(worker)} is not a safe file name`

const isVersion = (v: number) => Number.isSafeInteger(v) && v >= 0

export const invalidVersion = (version: number): string | undefined =>
  isVersion(version) ? undefined : `invalid version ${version}`

export const invalidWorldLine = (worldLine: number): string | undefined =>
  Number.isSafeInteger(worldLine) && worldLine >= 1 ? undefined : `invalid world-line ${worldLine}`

export const invalidPersist = (meta: CheckpointMeta, delta: Delta): string | undefined => {
  if (!Number.isSafeInteger(meta.version) || meta.version < 1) return `invalid version ${meta.version}`
  if (!Number.isSafeInteger(meta.worldLine) || meta.worldLine < 1) return `invalid world-line ${meta.worldLine}`
  for (const dep of meta.deps) {
    if (!Array.isArray(dep) || dep.length !== 2 || !Number.isSafeInteger(dep[0]) || !isVersion(dep[1])) {
      return `invalid dependency ${JSON.stringify(dep)}`
    }
  }
  for (const entry of delta) {
    if (typeof entry[0] !== "string") return `delta key ${String(entry[0])} is not a string`
  }
  return undefined
}
