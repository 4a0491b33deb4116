/**
 * TEST FAKE: an in-memory ClusterStateStore. It plays the disk: its data outlives the coordinators
 * built on it, so a test "crashes" a coordinator and builds a new one on the same data. Hooks let a
 * test hold a write in flight (to check that nobody hears of it before it completes) or make it fail.
 * The real store comes from libs/storage.
 */
import { CheckpointStoreError, ClusterStateStore } from "@dse/core"
import type { ClusterState, ClusterStateHandle, WorkerId, WorldLineRecord } from "@dse/core"
import { Effect, Layer } from "effect"

export type Operation = "recordWorldLine" | "addMember"

export interface MemoryClusterStateStore {
  readonly service: typeof ClusterStateStore.Service
  readonly layer: Layer.Layer<ClusterStateStore>
  /** What is durable. */
  readonly history: Array<WorldLineRecord>
  readonly members: Array<{ readonly id: WorkerId; readonly name: string }>
  /** Every completed write, in order ("recordWorldLine 2", "addMember 1 a"). */
  readonly log: Array<string>
  /** Runs before the next write of that kind takes effect (once); a failure fails the write. */
  readonly before: Map<Operation, Effect.Effect<void, CheckpointStoreError>>
}

export const make = (initial: Partial<ClusterState> = {}): MemoryClusterStateStore => {
  const history: Array<WorldLineRecord> = (initial.history ?? []).map((r) => ({
    worldLine: r.worldLine,
    recoveryCut: new Map(r.recoveryCut)
  }))
  const members = [...(initial.members ?? [])]
  const log: Array<string> = []
  const before = new Map<Operation, Effect.Effect<void, CheckpointStoreError>>()

  const hook = (op: Operation) =>
    Effect.suspend(() => {
      const h = before.get(op)
      if (h === undefined) return Effect.void
      before.delete(op)
      return h
    })

  const handle: ClusterStateHandle = {
    load: Effect.sync(() => ({
      history: history.map((r) => ({ worldLine: r.worldLine, recoveryCut: new Map(r.recoveryCut) })),
      members: [...members]
    })),
    recordWorldLine: (record) =>
      hook("recordWorldLine").pipe(
        Effect.zipRight(
          Effect.sync(() => {
            history.push({ worldLine: record.worldLine, recoveryCut: new Map(record.recoveryCut) })
            log.push(`recordWorldLine ${record.worldLine}`)
          })
        )
      ),
    addMember: (id, name) =>
      hook("addMember").pipe(
        Effect.zipRight(
          Effect.sync(() => {
            members.push({ id, name })
            log.push(`addMember ${id} ${name}`)
          })
        )
      )
  }
  const service: typeof ClusterStateStore.Service = { open: Effect.succeed(handle) }
  return { service, layer: Layer.succeed(ClusterStateStore, service), history, members, log, before }
}

export const failure = (operation: Operation) =>
  new CheckpointStoreError({ worker: "cluster", operation, reason: "injected failure" })
