/**
 * A one-process cluster for benchmarks of the runtime itself: an in-process coordinator and the
 * real sqlite checkpoint store (synchronous=FULL, worker thread) in a temporary data directory.
 */
import { Coordinator } from "@dse/coordinator"
import type { ExecutionMode } from "@dse/core"
import { Dse } from "@dse/core"
import { MemoryClusterStateStore, SqliteCheckpointStore } from "@dse/storage"
import { Effect, Layer } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

export const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "dse-bench-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

export const localRuntime = (mode: ExecutionMode, dataDir: string, extraWriteLatencyMs = 0) =>
  Layer.provideMerge(
    Dse.layer({ mode }),
    Layer.merge(
      Coordinator.layerClient.pipe(Layer.provide(Coordinator.layer), Layer.provide(MemoryClusterStateStore.layer)),
      SqliteCheckpointStore.layer({ dataDir, extraWriteLatencyMs })
    )
  )
