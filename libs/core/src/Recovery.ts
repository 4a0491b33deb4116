/**
 * The recovery decision of a surviving worker (SPEC 3.7), as a pure function.
 *
 * After a world-line change with recovery cut C, a survivor keeps its state unless one of its
 * versions above C[self] (sealed or current) depends on another worker's version beyond that
 * worker's cut; then it restores its checkpoint at C[self]. A restarted worker always restores.
 */
import * as Cut from "./Cut"
import type { Dependency } from "./DependencySet"
import type { Version, WorkerId } from "./Ids"

export type RecoveryAction =
  | { readonly _tag: "Keep" }
  | { readonly _tag: "Restore"; readonly version: Version }

export const keep: RecoveryAction = { _tag: "Keep" }
export const restore = (version: Version): RecoveryAction => ({ _tag: "Restore", version })

export interface UncommittedVersion {
  readonly version: number
  readonly deps: Iterable<Dependency>
}

export const decide = (
  self: WorkerId,
  recoveryCut: Cut.Cut,
  versions: Iterable<UncommittedVersion>
): RecoveryAction => {
  const own = Cut.at(recoveryCut, self)
  for (const v of versions) {
    if (v.version <= own) continue
    for (const [worker, version] of v.deps) {
      if (worker !== self && version > Cut.at(recoveryCut, worker)) return restore(own)
    }
  }
  return keep
}
