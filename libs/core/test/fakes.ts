/**
 * Test fakes for core's unit tests (the real coordinator and stores live in other packages, which
 * depend on core). FakeCoordinator hands out ids and lets a test push events and read reports;
 * FakeStore keeps checkpoints in memory.
 */
import { Effect, Layer, PubSub, Stream } from "effect"
import type { CheckpointMeta, Delta, StateValue, StoredCheckpoints, WorkerStore } from "../src/CheckpointStore"
import { CheckpointStore } from "../src/CheckpointStore"
import type { CheckpointReport, CoordinatorEvent, RegisterRequest, Registration } from "../src/CoordinatorProtocol"
import { CoordinatorClient, CutAdvanced, WorldLineChanged } from "../src/CoordinatorProtocol"
import type { DependencyList } from "../src/DependencySet"
import { CheckpointStoreError } from "../src/Errors"
import type { Version } from "../src/Ids"

export class FakeCoordinator {
  worldLine = 1
  readonly ids = new Map<string, number>()
  readonly cut = new Map<number, number>()
  readonly reports: Array<CheckpointReport> = []
  readonly sealRequests: Array<DependencyList> = []
  readonly registrations: Array<RegisterRequest> = []
  /** When true, every report commits at once. */
  autoCommit = false
  /** The next fresh registration of a known member gets this recovery cut. */
  private constructor(readonly pubsub: PubSub.PubSub<CoordinatorEvent>) {}

  static make = Effect.map(PubSub.unbounded<CoordinatorEvent>(), (p) => new FakeCoordinator(p))

  publish(event: CoordinatorEvent): Effect.Effect<void> {
    return PubSub.publish(this.pubsub, event)
  }

  commit(worker: number, version: number): Effect.Effect<void> {
    this.cut.set(worker, Math.max(this.cut.get(worker) ?? 0, version))
    return this.publish(new CutAdvanced({ worldLine: this.worldLine, cut: Array.from(this.cut) }))
  }

  /** Commits several workers at once (each at least at the given version) and pushes one cut. */
  advanceCut(entries: ReadonlyArray<readonly [number, number]>): Effect.Effect<void> {
    for (const [w, v] of entries) this.cut.set(w, Math.max(this.cut.get(w) ?? 0, v))
    return this.publish(new CutAdvanced({ worldLine: this.worldLine, cut: Array.from(this.cut) }))
  }

  changeWorldLine(recoveryCut: ReadonlyArray<readonly [number, number]>): Effect.Effect<void> {
    this.worldLine++
    for (const [w, v] of recoveryCut) this.cut.set(w, v)
    return this.publish(new WorldLineChanged({ worldLine: this.worldLine, recoveryCut }))
  }

  client: CoordinatorClient["Type"] = {
    register: (request) =>
      Effect.sync((): Registration => {
        this.registrations.push(request)
        let id = this.ids.get(request.name)
        if (id === undefined) {
          id = this.ids.size + 1
          this.ids.set(request.name, id)
          return { id, worldLine: this.worldLine, cut: Array.from(this.cut) }
        }
        return { id, worldLine: this.worldLine, cut: Array.from(this.cut), recoveryCut: Array.from(this.cut) }
      }),
    report: (report) =>
      Effect.suspend(() => {
        this.reports.push(report)
        return this.autoCommit ? this.commit(report.worker, report.version) : Effect.void
      }),
    requestSeal: (deps) =>
      Effect.sync(() => {
        this.sealRequests.push(deps)
      }),
    events: Stream.unwrapScoped(
      Effect.suspend(() => PubSub.subscribe(this.pubsub)).pipe(Effect.map((queue) =>
        Stream.concat(
          Stream.succeed(new CutAdvanced({ worldLine: this.worldLine, cut: Array.from(this.cut) }) as CoordinatorEvent),
          Stream.fromQueue(queue)
        )
      ))
    ),
    status: Effect.sync(() => ({ worldLine: this.worldLine, rebuilding: false, cut: Array.from(this.cut), workers: [] }))
  }

  layer = Layer.sync(CoordinatorClient, () => this.client)
}

interface FakeWorkerData {
  worldLine: number
  base: Map<string, StateValue>
  baseVersion: number
  checkpoints: Array<{ meta: CheckpointMeta; delta: Delta }>
}

/** In-memory checkpoints; `persistDelay` keeps persists in flight for a while. */
export class FakeStore {
  readonly data = new Map<string, FakeWorkerData>()
  persists = 0
  persistDelay: Effect.Effect<void> = Effect.void
  restoreDelay: Effect.Effect<void> = Effect.void

  workerStore(worker: string): WorkerStore {
    let d = this.data.get(worker)
    if (!d) {
      d = { worldLine: 0, base: new Map(), baseVersion: 0, checkpoints: [] }
      this.data.set(worker, d)
    }
    const data = d
    return {
      worker,
      persist: (meta, delta) =>
        Effect.zipRight(
          this.persistDelay,
          Effect.sync(() => {
            this.persists++
            data.checkpoints.push({ meta, delta: structuredClone(delta) })
          })
        ),
      restore: (version) =>
        Effect.suspend(() => this.restoreDelay).pipe(Effect.zipRight(Effect.suspend(() => {
          if (version < data.baseVersion) {
            return Effect.fail(new CheckpointStoreError({ worker, operation: "restore", reason: `pruned ${version}` }))
          }
          const entries = new Map(data.base)
          for (const c of data.checkpoints) {
            if (c.meta.version > version) break
            for (const [k, v] of c.delta) v === undefined ? entries.delete(k) : entries.set(k, v)
          }
          return Effect.succeed({ version, entries })
        }))),
      discardAfter: (version) =>
        Effect.sync(() => {
          data.checkpoints = data.checkpoints.filter((c) => c.meta.version <= version)
        }),
      prune: (committed) =>
        Effect.sync(() => {
          while (data.checkpoints.length > 0 && data.checkpoints[0]!.meta.version <= committed) {
            const c = data.checkpoints.shift()!
            for (const [k, v] of c.delta) v === undefined ? data.base.delete(k) : data.base.set(k, v)
            data.baseVersion = c.meta.version
          }
        }),
      adoptWorldLine: (worldLine) =>
        Effect.sync(() => {
          data.worldLine = worldLine
        }),
      list: Effect.sync(
        (): StoredCheckpoints => ({
          base: data.baseVersion as Version,
          worldLine: data.worldLine,
          checkpoints: data.checkpoints.map((c) => c.meta)
        })
      ),
      stats: Effect.sync(() => ({ checkpoints: data.checkpoints.length, bytes: 0 }))
    }
  }

  layer = Layer.succeed(CheckpointStore, { open: (worker: string) => Effect.sync(() => this.workerStore(worker)) })
}
