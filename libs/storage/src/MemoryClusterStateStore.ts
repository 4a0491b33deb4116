/**
 * An in-memory ClusterStateStore for tests. Like a file, its data outlives the coordinator that
 * uses it: build `layer` again (or `open` again) after a simulated coordinator restart and the
 * history and membership are still there. Same rules as the sqlite store.
 */
import { CheckpointStoreError, ClusterStateStore } from "@dse/core"
import type { ClusterState, ClusterStateHandle, WorkerId, WorldLineRecord } from "@dse/core"
import { Context, Effect, Layer } from "effect"
import { invalidMember, invalidWorldLine, memberConflict } from "./internal/clusterRules"

export interface MemoryClusterStateStore {
  readonly service: Context.Tag.Service<typeof ClusterStateStore>
  /** Provides this same store (and its data) every time it is built. */
  readonly layer: Layer.Layer<ClusterStateStore>
}

export const make: Effect.Effect<MemoryClusterStateStore> = Effect.sync(() => {
  const history: Array<WorldLineRecord> = []
  const members: Array<{ readonly id: WorkerId; readonly name: string }> = []
  const storeError = (operation: string, reason: string) => new CheckpointStoreError({ worker: "coordinator", operation, reason })

  const handle: ClusterStateHandle = {
    load: Effect.sync((): ClusterState => ({
      // Copies: callers must not be able to edit the "disk".
      history: history.map((r) => ({ worldLine: r.worldLine, recoveryCut: new Map(r.recoveryCut) })),
      members: members.map((m) => ({ ...m }))
    })).pipe(Effect.withSpan("MemoryClusterStateStore.load")),
    recordWorldLine: Effect.fn("MemoryClusterStateStore.recordWorldLine")(function* (record: WorldLineRecord) {
      const invalid = invalidWorldLine(record, history.at(-1)?.worldLine)
      if (invalid !== undefined) return yield* storeError("recordWorldLine", invalid)
      history.push({ worldLine: record.worldLine, recoveryCut: new Map(record.recoveryCut) })
    }),
    addMember: Effect.fn("MemoryClusterStateStore.addMember")(function* (id: WorkerId, name: string) {
      const invalid = invalidMember(id, name)
      if (invalid !== undefined) return yield* storeError("addMember", invalid)
      const conflict = memberConflict(id, name, members.find((m) => m.id === id)?.name, members.find((m) => m.name === name)?.id)
      if (conflict === "present") return
      if (conflict !== undefined) return yield* storeError("addMember", conflict)
      members.push({ id, name })
    })
  }

  const service: Context.Tag.Service<typeof ClusterStateStore> = { open: Effect.succeed(handle) }
  return { service, layer: Layer.succeed(ClusterStateStore, service) }
})

/** A fresh, empty in-memory `ClusterStateStore`. */
export const layer: Layer.Layer<ClusterStateStore> = Layer.effect(ClusterStateStore, Effect.map(make, (s) => s.service))
