/**
 * An in-memory CheckpointStore for tests, with crash injection.
 *
 * It plays the part of the disk: its data outlives a crash of the StateObject that uses it, so a
 * restarted worker opens the same store again and finds what was durable. It refuses what the
 * sqlite store refuses (same version rules) and copies values in and out with structuredClone, so
 * nobody can alias stored state. `crash(worker)` makes every operation of that worker that has not
 * completed fail without effect, exactly what a process kill does to an unfinished persist.
 * Delays use the Effect clock, so tests drive them deterministically with TestClock.
 */
import { CheckpointStore, CheckpointStoreError } from "@dse/core"
import type { CheckpointMeta, Delta, StateValue, StoredCheckpoints, StoredState, Version, WorkerStore, WorldLine } from "@dse/core"
import { Context, Deferred, Duration, Effect, Exit, FiberId, Layer } from "effect"
import * as v8 from "node:v8"
import { FifoLock } from "./internal/fifoLock"
import { invalidPersist, invalidVersion, invalidWorldLine, unsafeWorkerName } from "./internal/validate"

export interface Options {
  /** How long every persist stays in flight before it takes effect (default 0: at once). */
  readonly persistDelay?: Duration.DurationInput
}

export interface MemoryCheckpointStore {
  /** The service, for code that takes it directly. */
  readonly service: Context.Tag.Service<typeof CheckpointStore>
  /** Provides this same store (and its data) every time it is built. */
  readonly layer: Layer.Layer<CheckpointStore>
  /**
   * Simulates a kill of `worker` (of every worker when omitted): its pending operations (a persist
   * in its delay, operations queued behind it) fail with CheckpointStoreError and take no effect,
   * its handle is dead, and the worker can be opened again. Completed persists stay.
   */
  readonly crash: (worker?: string) => Effect.Effect<void>
  /** Changes the delay of persists that start from now on. */
  readonly setPersistDelay: (delay: Duration.DurationInput) => Effect.Effect<void>
  /** Persists of the live handle of `worker` that were called and have not completed. */
  readonly inFlight: (worker: string) => Effect.Effect<number>
}

interface Checkpoint {
  readonly meta: CheckpointMeta
  readonly delta: Delta
}

/** What a file would hold: survives crashes. */
interface Disk {
  /** The last world-line adopted (0: none). */
  worldLine: number
  base: Map<string, StateValue>
  baseVersion: number
  checkpoints: Array<Checkpoint>
}

/** One opening of a worker's store: dies on crash or close. */
interface Incarnation {
  readonly lock: FifoLock
  readonly crashed: Deferred.Deferred<void>
  dead: "crashed" | "closed" | undefined
  inFlight: number
}

const describe = (error: unknown) => (error instanceof Error ? error.message : String(error))

const latestOf = (disk: Disk) => disk.checkpoints.at(-1)?.meta.version ?? disk.baseVersion

const sizeOf = (value: StateValue) => v8.serialize(value).byteLength

/** A store with its own data and fault-injection controls. */
export const make = (options: Options = {}): Effect.Effect<MemoryCheckpointStore> =>
  Effect.sync(() => {
    const disks = new Map<string, Disk>()
    const live = new Map<string, Incarnation>()
    let persistDelay = Duration.decode(options.persistDelay ?? 0)

    const kill = (incarnation: Incarnation, why: "crashed" | "closed") => {
      if (incarnation.dead !== undefined) return
      incarnation.dead = why
      Deferred.unsafeDone(incarnation.crashed, Exit.void)
    }

    const open = Effect.fn("MemoryCheckpointStore.open")(function* (worker: string) {
      const storeError = (operation: string, reason: string) => new CheckpointStoreError({ worker, operation, reason })
      const unsafe = unsafeWorkerName(worker)
      if (unsafe !== undefined) return yield* storeError("open", unsafe)
      if (live.has(worker)) return yield* storeError("open", "already open in this store")

      const incarnation: Incarnation = {
        lock: new FifoLock(),
        crashed: Deferred.unsafeMake<void>(FiberId.none),
        dead: undefined,
        inFlight: 0
      }
      live.set(worker, incarnation)
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          kill(incarnation, "closed")
          if (live.get(worker) === incarnation) live.delete(worker)
        })
      )
      let disk = disks.get(worker)
      if (disk === undefined) {
        disk = { worldLine: 0, base: new Map(), baseVersion: 0, checkpoints: [] }
        disks.set(worker, disk)
      }
      const d = disk

      // Every operation takes the worker's lock, so they run in call order, and checks that this
      // incarnation is still alive once it has the lock.
      const run = <A>(operation: string, body: () => Effect.Effect<A, CheckpointStoreError>) =>
        incarnation.lock.withLock(
          Effect.suspend(() =>
            incarnation.dead === undefined
              ? body()
              : storeError(operation, incarnation.dead === "crashed" ? "crashed (injected fault)" : "the store of this worker is closed")
          )
        )

      const checkVersion = (operation: string, version: number) => {
        const invalid = invalidVersion(version)
        return invalid === undefined ? Effect.void : storeError(operation, invalid)
      }

      const persist = Effect.fn("MemoryCheckpointStore.persist")(function* (meta: CheckpointMeta, delta: Delta) {
        const invalid = invalidPersist(meta, delta)
        if (invalid !== undefined) return yield* storeError("persist", invalid)
        // Copied when called, as the sqlite store's postMessage does: later mutations do not leak in.
        const copy = yield* Effect.try({
          try: (): Checkpoint => ({
            meta: { worldLine: meta.worldLine, version: meta.version, deps: meta.deps.map(([w, v]) => [w, v] as const) },
            delta: structuredClone(delta)
          }),
          catch: (error) => storeError("persist", `cannot copy the delta: ${describe(error)}`)
        })
        const delay = persistDelay
        incarnation.inFlight++
        yield* run("persist", () =>
          Effect.gen(function* () {
            const latest = latestOf(d)
            if (copy.meta.version <= latest) {
              return yield* storeError("persist", `version ${copy.meta.version} is not above the latest persisted version ${latest}`)
            }
            if (Duration.toMillis(delay) > 0) {
              // In flight: a crash now drops it. Interrupting the caller drops it too.
              yield* Effect.raceFirst(
                Effect.sleep(delay),
                Effect.zipRight(Deferred.await(incarnation.crashed), storeError("persist", "crashed (injected fault)"))
              )
              if (incarnation.dead !== undefined) return yield* storeError("persist", `${incarnation.dead} while in flight`)
            }
            d.checkpoints.push(copy)
          })
        ).pipe(Effect.ensuring(Effect.sync(() => incarnation.inFlight--)))
      })

      const restore = Effect.fn("MemoryCheckpointStore.restore")(function* (version: Version) {
        yield* checkVersion("restore", version)
        return yield* run("restore", () =>
          Effect.gen(function* () {
            if (version < d.baseVersion) {
              return yield* storeError("restore", `version ${version} was pruned (the base is version ${d.baseVersion})`)
            }
            if (version !== d.baseVersion && !d.checkpoints.some((c) => c.meta.version === version)) {
              return yield* storeError("restore", `unknown version ${version} (the base is ${d.baseVersion}, the latest is ${latestOf(d)})`)
            }
            const entries = new Map(d.base)
            for (const { delta, meta } of d.checkpoints) {
              if (meta.version > version) break
              for (const [key, value] of delta) {
                if (value === undefined) entries.delete(key)
                else entries.set(key, value)
              }
            }
            return { version, entries: structuredClone(entries) } satisfies StoredState
          })
        )
      })

      const discardAfter = Effect.fn("MemoryCheckpointStore.discardAfter")(function* (version: Version) {
        yield* checkVersion("discardAfter", version)
        yield* run("discardAfter", () =>
          Effect.suspend(() => {
            if (version < d.baseVersion) {
              return storeError("discardAfter", `cannot discard below the base: version ${version} < base ${d.baseVersion} (pruned = committed)`)
            }
            d.checkpoints = d.checkpoints.filter((c) => c.meta.version <= version)
            return Effect.void
          })
        )
      })

      const prune = Effect.fn("MemoryCheckpointStore.prune")(function* (version: Version) {
        yield* checkVersion("prune", version)
        yield* run("prune", () =>
          Effect.suspend(() => {
            if (version <= d.baseVersion) return Effect.void
            if (!d.checkpoints.some((c) => c.meta.version === version)) {
              return storeError("prune", `cannot prune to unknown version ${version} (the base is ${d.baseVersion}, the latest is ${latestOf(d)})`)
            }
            const base = new Map(d.base)
            for (const { delta, meta } of d.checkpoints) {
              if (meta.version > version) break
              for (const [key, value] of delta) {
                if (value === undefined) base.delete(key)
                else base.set(key, value)
              }
            }
            d.base = base
            d.baseVersion = version
            d.checkpoints = d.checkpoints.filter((c) => c.meta.version > version)
            return Effect.void
          })
        )
      })

      const adoptWorldLine = Effect.fn("MemoryCheckpointStore.adoptWorldLine")(function* (worldLine: WorldLine) {
        const invalid = invalidWorldLine(worldLine)
        if (invalid !== undefined) return yield* storeError("adoptWorldLine", invalid)
        yield* run("adoptWorldLine", () =>
          Effect.suspend(() => {
            if (worldLine < d.worldLine) {
              return storeError("adoptWorldLine", `cannot adopt world-line ${worldLine}: world-line ${d.worldLine} was adopted already`)
            }
            d.worldLine = worldLine
            return Effect.void
          })
        )
      })

      const list = run("list", () =>
        Effect.sync((): StoredCheckpoints => ({
          base: d.baseVersion as Version,
          worldLine: d.worldLine,
          checkpoints: d.checkpoints.map((c) => ({ ...c.meta, deps: c.meta.deps.map(([w, v]) => [w, v] as const) }))
        }))
      ).pipe(Effect.withSpan("MemoryCheckpointStore.list"))

      // An estimate of what the data would take serialized: enough to see pruning reclaim space.
      const stats = run("stats", () =>
        Effect.sync(() => {
          let bytes = 0
          for (const [key, value] of d.base) bytes += key.length + sizeOf(value)
          for (const { delta } of d.checkpoints) {
            for (const [key, value] of delta) bytes += key.length + (value === undefined ? 0 : sizeOf(value))
          }
          return { checkpoints: d.checkpoints.length, bytes }
        })
      ).pipe(Effect.withSpan("MemoryCheckpointStore.stats"))

      return { worker, persist, restore, discardAfter, prune, adoptWorldLine, list, stats } satisfies WorkerStore
    })

    const service: Context.Tag.Service<typeof CheckpointStore> = { open }

    return {
      service,
      layer: Layer.succeed(CheckpointStore, service),
      crash: (worker?: string) =>
        Effect.sync(() => {
          for (const [name, incarnation] of Array.from(live)) {
            if (worker !== undefined && name !== worker) continue
            kill(incarnation, "crashed")
            live.delete(name)
          }
        }),
      setPersistDelay: (delay: Duration.DurationInput) =>
        Effect.sync(() => {
          persistDelay = Duration.decode(delay)
        }),
      inFlight: (worker: string) => Effect.sync(() => live.get(worker)?.inFlight ?? 0)
    } satisfies MemoryCheckpointStore
  })

/** A fresh, empty in-memory `CheckpointStore` (use `make` to keep the data or inject crashes). */
export const layer = (options: Options = {}): Layer.Layer<CheckpointStore> =>
  Layer.effect(CheckpointStore, Effect.map(make(options), (store) => store.service))
