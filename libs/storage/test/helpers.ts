import type { CheckpointMeta, Delta, Dependency, Version, WorkerStore } from "@dse/core"
import { version, worldLine } from "@dse/core"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** A fresh directory under the OS temp dir, removed when the scope closes. */
export const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "dse-storage-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

export const meta = (v: number, deps: ReadonlyArray<Dependency> = [], wl = 1): CheckpointMeta => ({
  worldLine: worldLine(wl),
  version: version(v),
  deps
})

export const v = (n: number): Version => version(n)

/** Persists versions from..to, version i setting `k` = i and `k<i>` = i. */
export const persistRange = (store: WorkerStore, from: number, to: number) =>
  Effect.forEach(
    Array.from({ length: to - from + 1 }, (_, i) => from + i),
    (i) => store.persist(meta(i), [["k", i], [`k${i}`, i]] satisfies Delta),
    { discard: true }
  )

export const entriesOf = (state: { readonly entries: ReadonlyMap<string, unknown> }) =>
  Object.fromEntries(Array.from(state.entries).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
