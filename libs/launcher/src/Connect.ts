/**
 * Reaching a running cluster from a command: the coordinator (from DIR/coordinator.json, written by
 * the coordinator process), cluster.json (written by the supervisor), the coordinator's status, and
 * the status report `dse status` prints.
 */
import { CoordinatorFile, RemoteCoordinatorClient } from "@dse/coordinator-service"
import type { ClusterStatus, CoordinatorClient } from "@dse/core"
import type { Scope } from "effect"
import type { Duration } from "effect"
import { Effect, Option, Schedule } from "effect"
import * as LaunchError from "./LaunchError"
import * as ClusterFile from "./ClusterFile"
import * as Paths from "./Paths"

export interface Located {
  readonly dataDir: string
  readonly coordinator: { readonly host: string; readonly port: number; readonly pid: number }
  readonly cluster: Option.Option<ClusterFile.ClusterInfo>
}

const noCluster = (dataDir: string, why: string) =>
  LaunchError.fail(`no cluster is running in ${dataDir}: ${why}. Start one with \`pnpm dse up --data ${dataDir}\`.`)

/** Where the cluster of `dir` is; fails clearly when none runs there. */
export const locate = (dir: string): Effect.Effect<Located, LaunchError.LaunchError> =>
  Effect.gen(function* () {
    const dataDir = Paths.dataDir(dir)
    const cluster = yield* ClusterFile.read(dataDir).pipe(Effect.mapError((e) => LaunchError.fail(e.message)))
    const info = yield* CoordinatorFile.read(dataDir).pipe(Effect.mapError((e) => LaunchError.fail(e.message)))
    if (Option.isNone(info)) {
      return yield* noCluster(dataDir, `there is no ${CoordinatorFile.pathOf(dataDir)}`)
    }
    if (!ClusterFile.isOurs(info.value.pid)) {
      return yield* noCluster(dataDir, `its coordinator (pid ${info.value.pid}) is not running any more`)
    }
    return { dataDir, coordinator: info.value, cluster }
  })

/** The supervisor's cluster.json of a running cluster (the verbs that need `dse up`'s supervisor). */
export const requireClusterFile = (located: Located): Effect.Effect<ClusterFile.ClusterInfo, LaunchError.LaunchError> =>
  Option.match(located.cluster, {
    onNone: () =>
      Effect.fail(
        LaunchError.fail(
          `${Paths.clusterFile(located.dataDir)} is missing: this cluster was not started by \`dse up\` (its processes have no supervisor)`
        )
      ),
    onSome: Effect.succeed
  })

/** A client of the cluster's coordinator (calls fail at once while it is unreachable). */
export const coordinator = (
  located: Located,
  timeout: Duration.DurationInput = "5 seconds"
): Effect.Effect<CoordinatorClient["Type"], never, Scope.Scope> =>
  RemoteCoordinatorClient.make({ host: located.coordinator.host, port: located.coordinator.port, timeout })

/** The coordinator's status, retried briefly (a client's first call may precede its connection). */
export const status = (client: CoordinatorClient["Type"], located: Located): Effect.Effect<ClusterStatus, LaunchError.LaunchError> =>
  client.status.pipe(
    Effect.retry(Schedule.intersect(Schedule.spaced("100 millis"), Schedule.recurs(15))),
    Effect.mapError((e) =>
      LaunchError.fail(
        `the coordinator of ${located.dataDir} (${located.coordinator.host}:${located.coordinator.port}, pid ${located.coordinator.pid}) does not answer: ${e.message}`
      )
    )
  )

export interface WorkerReport {
  readonly id: number
  readonly name: string
  readonly kind: string | null
  readonly pid: number | null
  readonly address: string | null
  /** Highest version persisted in the current world-line (the coordinator's view), at least the committed one. */
  readonly version: number
  readonly committed: number
  /** version - committed: persisted versions waiting for commit. */
  readonly lag: number
  readonly pending: number
  readonly registered: boolean
  /** Checkpoint files: DIR/<worker>.db + -wal. */
  readonly bytes: number
}

export interface ProcessReport {
  readonly name: string
  readonly kind: string
  readonly pid: number | null
  readonly address: string | null
  readonly state: string
  readonly alive: boolean
  readonly restarts: number
  readonly log: string
}

export interface StatusReport {
  readonly dataDir: string
  readonly mode: string | null
  readonly worldLine: number
  readonly rebuilding: boolean
  /** The committed cut: each worker's highest committed version. */
  readonly cut: ReadonlyArray<{ readonly worker: string; readonly id: number; readonly version: number }>
  readonly coordinator: { readonly host: string; readonly port: number; readonly pid: number }
  readonly workers: ReadonlyArray<WorkerReport>
  readonly processes: ReadonlyArray<ProcessReport>
}

/** The status report from the coordinator's status, cluster.json and the data directory's files. */
export const report = (located: Located, status: ClusterStatus): StatusReport => {
  const names = new Map(status.workers.map((w) => [w.id, w.name]))
  const cluster = Option.getOrUndefined(located.cluster)
  return {
    dataDir: located.dataDir,
    mode: cluster?.mode ?? null,
    worldLine: status.worldLine,
    rebuilding: status.rebuilding,
    cut: status.cut.map(([id, version]) => ({ worker: names.get(id) ?? `#${id}`, id, version })),
    coordinator: located.coordinator,
    workers: status.workers.map((w) => {
      const version = Math.max(w.persisted, w.committed)
      return {
        id: w.id,
        name: w.name,
        kind: w.kind ?? null,
        pid: w.pid ?? null,
        address: w.address ?? null,
        version,
        committed: w.committed,
        lag: version - w.committed,
        pending: w.pending,
        registered: w.registered,
        bytes: Paths.checkpointBytes(located.dataDir, w.name)
      }
    }),
    processes: (cluster?.processes ?? []).map((p) => ({
      name: p.name,
      kind: p.kind,
      pid: p.pid,
      address: p.address,
      state: p.state ?? "unknown",
      alive: p.pid !== null && ClusterFile.isOurs(p.pid),
      restarts: p.restarts ?? 0,
      log: p.log ?? Paths.logOf(located.dataDir, p.name)
    }))
  }
}

/** Locates the cluster of `dir` and builds its status report. */
export const statusReport = (dir: string): Effect.Effect<StatusReport, LaunchError.LaunchError, Scope.Scope> =>
  Effect.gen(function* () {
    const located = yield* locate(dir)
    const client = yield* coordinator(located, "3 seconds")
    return report(located, yield* status(client, located))
  })
