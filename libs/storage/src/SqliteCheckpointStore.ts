/**
 * The durable CheckpointStore (SPEC 3.4, 3.9): one better-sqlite3 file per worker,
 * `<dataDir>/<worker>.db`, in WAL mode with `synchronous=FULL`, one transaction per persist.
 *
 * All sqlite work (fsync'd commits, v8 serialization, reads) runs in one worker thread per store,
 * so a persist costs the caller's event loop only a structured clone of the delta and a
 * postMessage; see README.md for the measured figures.
 */
import { CheckpointStore, CheckpointStoreError, CorruptCheckpoint } from "@dse/core"
import type { CheckpointMeta, Delta, StoredCheckpoints, StoredState, StoreStats, Version, WorkerStore, WorldLine } from "@dse/core"
import { Effect, Layer } from "effect"
import type { Scope } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as ThreadClient from "./internal/sqliteThreadClient"
import { invalidPersist, invalidVersion, invalidWorldLine, unsafeWorkerName } from "./internal/validate"

export interface Options {
  /** Directory of the worker files; created if missing. */
  readonly dataDir: string
  /**
   * Extra time every persist waits after its fsync'd commit before it completes (default 0).
   * Emulates replicated storage for benchmarks: writes stay pipelined, completions stay in order.
   */
  readonly extraWriteLatencyMs?: number
}

/** The effective settings of an open file, read back from sqlite. */
export interface Pragmas {
  readonly journalMode: string
  /** 2 = FULL. */
  readonly synchronous: number
  readonly lockingMode: string
}

export interface SqliteWorkerStore extends WorkerStore {
  readonly path: string
  readonly pragmas: Effect.Effect<Pragmas, CheckpointStoreError>
}

export interface SqliteCheckpointStore {
  readonly dataDir: string
  readonly open: (worker: string) => Effect.Effect<SqliteWorkerStore, CheckpointStoreError | CorruptCheckpoint, Scope.Scope>
}

/** The file of `worker` under `dataDir`. */
export const filePath = (dataDir: string, worker: string): string => path.join(dataDir, `${worker}.db`)

/** Starts the store's sqlite thread; it stops (closing every file) when the scope closes. */
export const make = (options: Options): Effect.Effect<SqliteCheckpointStore, CheckpointStoreError, Scope.Scope> =>
  Effect.gen(function* () {
    const dataDir = path.resolve(options.dataDir)
    const extraWriteLatencyMs = options.extraWriteLatencyMs ?? 0
    const startError = (reason: string) => new CheckpointStoreError({ worker: "*", operation: "start", reason })
    if (!Number.isFinite(extraWriteLatencyMs) || extraWriteLatencyMs < 0) {
      return yield* startError(`invalid extraWriteLatencyMs ${extraWriteLatencyMs}`)
    }
    yield* Effect.try({
      try: () => fs.mkdirSync(dataDir, { recursive: true }),
      catch: (error) => startError(`cannot create ${dataDir}: ${String(error)}`)
    })
    const client = yield* ThreadClient.make({ extraWriteLatencyMs }).pipe(
      Effect.mapError((failure) => startError(failure.reason))
    )
    // One live handle per worker: two writers of one history would interleave their versions.
    const openWorkers = new Set<string>()

    const open = Effect.fn("SqliteCheckpointStore.open")(function* (worker: string) {
      const file = filePath(dataDir, worker)
      const storeError = (operation: string, reason: string) => new CheckpointStoreError({ worker, operation, reason })
      const unsafe = unsafeWorkerName(worker)
      if (unsafe !== undefined) return yield* storeError("open", unsafe)
      if (openWorkers.has(worker)) return yield* storeError("open", "already open in this store")

      let closed = false
      yield* Effect.acquireRelease(
        client.request<Pragmas>({ op: "open", worker, path: file }).pipe(
          Effect.mapError((failure) =>
            failure.kind === "corrupt"
              ? new CorruptCheckpoint({ worker, path: file, reason: failure.reason })
              : storeError("open", failure.reason)
          ),
          Effect.tap(() => Effect.sync(() => openWorkers.add(worker)))
        ),
        () =>
          Effect.sync(() => {
            closed = true
            openWorkers.delete(worker)
          }).pipe(Effect.zipRight(client.request({ op: "close", worker }).pipe(Effect.ignore)))
      ).pipe(
        Effect.tap((pragmas) => Effect.logDebug("checkpoint file open").pipe(Effect.annotateLogs({ worker, file, ...pragmas })))
      )

      const call = <A>(operation: string, args: Record<string, unknown> = {}): Effect.Effect<A, CheckpointStoreError> =>
        Effect.suspend(() =>
          closed
            ? storeError(operation, "the store of this worker is closed")
            : client.request<A>({ ...args, op: operation, worker }).pipe(
              Effect.mapError((failure) => storeError(operation, failure.reason))
            )
        )

      const persist = Effect.fn("SqliteCheckpointStore.persist")(function* (meta: CheckpointMeta, delta: Delta) {
        const invalid = invalidPersist(meta, delta)
        if (invalid !== undefined) return yield* storeError("persist", invalid)
        // Plain arrays: what reaches the thread is exactly what JSON.stringify will see there.
        const deps = Array.from(meta.deps, ([w, v]) => [w, v])
        yield* call<void>("persist", { worldLine: meta.worldLine, version: meta.version, deps, delta })
      })

      const checked = <A>(operation: string, version: Version): Effect.Effect<A, CheckpointStoreError> => {
        const invalid = invalidVersion(version)
        return invalid === undefined ? call<A>(operation, { version }) : storeError(operation, invalid)
      }
      const restore = Effect.fn("SqliteCheckpointStore.restore")((version: Version) =>
        checked<StoredState>("restore", version)
      )
      const discardAfter = Effect.fn("SqliteCheckpointStore.discardAfter")((version: Version) =>
        checked<void>("discardAfter", version)
      )
      const prune = Effect.fn("SqliteCheckpointStore.prune")((version: Version) => checked<void>("prune", version))
      const adoptWorldLine = Effect.fn("SqliteCheckpointStore.adoptWorldLine")((worldLine: WorldLine) =>
        invalidWorldLine(worldLine) === undefined
          ? call<void>("adoptWorldLine", { worldLine })
          : storeError("adoptWorldLine", `invalid world-line ${worldLine}`)
      )

      return {
        worker,
        path: file,
        persist,
        restore,
        discardAfter,
        prune,
        adoptWorldLine,
        list: call<StoredCheckpoints>("list").pipe(Effect.withSpan("SqliteCheckpointStore.list")),
        stats: call<StoreStats>("stats").pipe(Effect.withSpan("SqliteCheckpointStore.stats")),
        pragmas: call<Pragmas>("pragmas")
      } satisfies SqliteWorkerStore
    })

    return { dataDir, open } satisfies SqliteCheckpointStore
  })

/** `CheckpointStore` backed by sqlite files under `options.dataDir`. */
export const layer = (options: Options): Layer.Layer<CheckpointStore, CheckpointStoreError> =>
  Layer.scoped(CheckpointStore, make(options))
