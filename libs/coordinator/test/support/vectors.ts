/**
 * Loads the shared test vectors (SPEC 9) from ../shared/vectors, relative to this repository, and
 * maps worker names to ids. Fails loudly when they are missing: a silent skip would hide that
 * nothing was checked.
 */
import { workerId } from "@dse/core"
import type { Dependency, Version, WorkerId } from "@dse/core"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"

export type NamedDep = readonly [worker: string, version: number]

export interface CutCase {
  readonly name: string
  readonly base: Readonly<Record<string, number>>
  readonly reports: ReadonlyArray<{ readonly worker: string; readonly version: number; readonly deps: ReadonlyArray<NamedDep> }>
  readonly cuts: ReadonlyArray<Readonly<Record<string, number>>>
}

export type ExpectedAction = "keep" | { readonly restore: number }

export interface RecoveryCase {
  readonly name: string
  readonly worldLine: number
  readonly cut: Readonly<Record<string, number>>
  readonly crashed: string
  readonly workers: Readonly<Record<string, ReadonlyArray<{ readonly version: number; readonly deps: ReadonlyArray<NamedDep> }>>>
  readonly expect: {
    readonly worldLine: number
    readonly recoveryCut: Readonly<Record<string, number>>
    readonly actions: Readonly<Record<string, ExpectedAction>>
  }
}

const load = <A>(file: string): { readonly cases: ReadonlyArray<A> } => {
  // test/support -> libs/coordinator -> libs -> main -> /work, where shared/ lives.
  const url = new URL(`../../../../../shared/vectors/${file}`, import.meta.url)
  const path = fileURLToPath(url)
  if (!fs.existsSync(path)) {
    throw new Error(`test vectors not found at ${path}: the coordinator must replay every case (SPEC 9)`)
  }
  const parsed = JSON.parse(fs.readFileSync(path, "utf8")) as { cases?: ReadonlyArray<A> }
  if (!Array.isArray(parsed.cases) || parsed.cases.length === 0) throw new Error(`${path} holds no cases`)
  return parsed as { readonly cases: ReadonlyArray<A> }
}

export const cutCases = (): ReadonlyArray<CutCase> => load<CutCase>("cut.json").cases
export const recoveryCases = (): ReadonlyArray<RecoveryCase> => load<RecoveryCase>("recovery.json").cases

/** Names to ids in order of first appearance (ids start at 1, like the coordinator's). */
export class Names {
  private readonly ids = new Map<string, WorkerId>()
  private readonly names = new Map<WorkerId, string>()

  id(name: string): WorkerId {
    let id = this.ids.get(name)
    if (id === undefined) {
      id = workerId(this.ids.size + 1)
      this.ids.set(name, id)
      this.names.set(id, name)
    }
    return id
  }

  name(id: WorkerId): string {
    const name = this.names.get(id)
    if (name === undefined) throw new Error(`no name for worker id ${id}`)
    return name
  }

  deps(deps: ReadonlyArray<NamedDep>): Array<Dependency> {
    return deps.map(([w, v]) => [this.id(w), v as Version] as const)
  }

  record(cut: Iterable<readonly [WorkerId, number]>): Record<string, number> {
    const out: Record<string, number> = {}
    for (const [w, v] of cut) out[this.name(w)] = v
    return out
  }

  toCut(record: Readonly<Record<string, number>>): Map<WorkerId, Version> {
    return new Map(Object.entries(record).map(([w, v]) => [this.id(w), v as Version] as const))
  }
}
