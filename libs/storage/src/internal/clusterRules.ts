/** Checks shared by both ClusterStateStores, so the in-memory double refuses what sqlite refuses. */
import type { WorldLineRecord } from "@dse/core"

export const invalidWorldLine = (record: WorldLineRecord, last: number | undefined): string | undefined => {
  if (!Number.isSafeInteger(record.worldLine) || record.worldLine < 1) return `invalid world-line ${record.worldLine}`
  if (last !== undefined && record.worldLine <= last) {
    return `world-line ${record.worldLine} is not above the last recorded world-line ${last}`
  }
  for (const [worker, version] of record.recoveryCut) {
    if (!Number.isSafeInteger(worker) || worker < 1 || !Number.isSafeInteger(version) || version < 0) {
      return `invalid recovery cut entry [${worker}, ${version}]`
    }
  }
  return undefined
}

export const invalidMember = (id: number, name: string): string | undefined => {
  if (!Number.isSafeInteger(id) || id < 1) return `invalid member id ${id}`
  if (typeof name !== "string" || name.length === 0) return "empty member name"
  return undefined
}

/**
 * Whether adding (id, name) conflicts with existing members. Re-adding the very same pair is not a
 * conflict: a coordinator that crashed after recording a member may record it again.
 */
export const memberConflict = (
  id: number,
  name: string,
  byId: string | undefined,
  byName: number | undefined
): string | "present" | undefined => {
  if (byId === name && byName === id) return "present"
  if (byId !== undefined) return `member id ${id} is already taken by ${JSON.stringify(byId)}`
  if (byName !== undefined) return `member name ${JSON.stringify(name)} already has id ${byName}`
  return undefined
}
