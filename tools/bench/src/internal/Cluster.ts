/**
 * A dse cluster of real processes on loopback, in one execution mode: the coordinator, K KV shards,
 * optionally a WAL and the bench's workflow host (TravelSaga + BenchChain), each its own process
 * started by the launcher in a data directory of its own (sqlite, synchronous=FULL).
 *
 * Service processes are the services' own mains (services/<x>/src/main.ts; emulated storage
 * latency is their `--write-latency`), except the workflow host: tools/bench/src/procs/workflowHost.ts
 * is the service's host with the bench's workflows registered.
 *
 * Clients (in the bench process) are built on demand: the outside clients (no sthread: every reply
 * is commit-gated), and a process-local Dse runtime connected to the coordinator for clients
 * "inside the domain" (calls made in sthreads).
 */
import { RemoteCoordinatorClient } from "@dse/coordinator-service"
import type { ExecutionMode } from "@dse/core"
import { Dse } from "@dse/core"
import { KvClient } from "@dse/kv"
import { Endpoint } from "@dse/transport"
import { WalClient } from "@dse/wal"
import type { Context, Scope } from "effect"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { WorkflowClient } from "./workflow"
import type { Launcher, Proc, StartFailed } from "./Launcher"
import { BENCH, REPO } from "./Launcher"

export interface ClusterOptions {
  /** Names the data directory and logs: unique per run. */
  readonly name: string
  readonly mode: ExecutionMode
  /** Emulated replicated storage: extra ms per durable write (0: local disk only). */
  readonly storageLatencyMs: number
  readonly sealPeriodMs?: number
  readonly kvShards: number
  readonly wal: boolean
  readonly host: boolean
}

export interface Cluster {
  readonly options: ClusterOptions
  readonly dataDir: string
  readonly coordinator: Proc
  /** Current processes (a restarted one replaces its entry). */
  readonly kv: Array<Proc>
  wal: Proc | undefined
  host: Proc | undefined
  readonly kvEndpoints: () => ReadonlyArray<Endpoint.Endpoint>
  /** Every process of the cluster, for bytes written. */
  readonly processes: () => ReadonlyArray<Proc>
  /** An outside KV client of the first `shards` shards (default all). */
  readonly kvClient: (shards?: number) => Effect.Effect<KvClient.KvClientService, never, Scope.Scope>
  readonly walClient: Effect.Effect<WalClient.WalClientService, never, Scope.Scope>
  readonly workflowClient: Effect.Effect<WorkflowClient.WorkflowClientService, never, Scope.Scope>
  /** A Dse runtime of the bench process, connected to this cluster's coordinator (for sthreads). */
  readonly domain: Effect.Effect<Context.Context<Dse.Dse>, unknown, Scope.Scope>
  /** SIGKILLs kv shard `i` (by pid) and starts it again on the same data directory; returns when it is ready. */
  readonly killKv: (i: number) => Effect.Effect<{ readonly killedAt: number; readonly readyAt: number }, StartFailed>
  readonly killOnly: (i: number) => Effect.Effect<number>
  readonly restartKv: (i: number) => Effect.Effect<number, StartFailed>
}

const entry = {
  coordinator: path.join(REPO, "services/coordinator/src/main.ts"),
  kv: path.join(REPO, "services/kv/src/main.ts"),
  wal: path.join(REPO, "services/wal/src/main.ts"),
  host: path.join(BENCH, "src/procs/workflowHost.ts")
}

export const start = (launcher: Launcher, root: string, options: ClusterOptions): Effect.Effect<Cluster, StartFailed> =>
  Effect.gen(function* () {
    const dataDir = path.join(root, options.name)
    fs.mkdirSync(dataDir, { recursive: true })
    const tag = options.name
    const coordinator = yield* launcher.start({
      name: `${tag}-coordinator`,
      entry: entry.coordinator,
      args: ["--data", dataDir, "--port", "0"]
    })
    const common = [
      "--data",
      dataDir,
      "--coordinator",
      coordinator.address,
      "--mode",
      options.mode,
      ...(options.sealPeriodMs !== undefined ? ["--seal-period", String(options.sealPeriodMs)] : [])
    ]
    // Emulated replicated storage: the service mains' own flag (every durable write completes MS after its fsync).
    const emulated = options.storageLatencyMs > 0 ? ["--write-latency", String(options.storageLatencyMs)] : []
    const kvSpec = (i: number) => ({
      name: `${tag}-kv-${i}`,
      entry: entry.kv,
      // `--port 0`: a restart (Launcher.restart) gets the port of the first run back.
      args: ["--shard", String(i), "--port", "0", ...common, ...emulated]
    })
    const [kv, wal] = yield* Effect.all(
      [
        // A few at a time: each is CPU-bound while it loads (see Engine.ts).
        Effect.forEach(Array.from({ length: options.kvShards }, (_, i) => i), (i) => launcher.start(kvSpec(i)), {
          concurrency: 3
        }),
        options.wal
          ? launcher.start({ name: `${tag}-wal`, entry: entry.wal, args: [...common, ...emulated] })
          : Effect.succeed(undefined)
      ],
      { concurrency: "unbounded" }
    )
    const host = options.host
      ? yield* launcher.start({
          name: `${tag}-workflow`,
          entry: entry.host,
          args: [...common, ...emulated, "--kv", kv.map((p) => p.address).join(",")]
        })
      : undefined

    const kvEndpoints = () => cluster.kv.map((p) => Endpoint.tcp(p.port, p.host))
    const killOnly = (i: number) =>
      Effect.gen(function* () {
        const proc = cluster.kv[i]!
        const killedAt = performance.now()
        yield* launcher.kill(proc, "SIGKILL")
        return killedAt
      })
    const restartKv = (i: number) =>
      Effect.gen(function* () {
        // Same name, arguments and port: clients and the host reconnect to it.
        cluster.kv[i] = yield* launcher.restart(cluster.kv[i]!)
        return performance.now()
      })
    const cluster: Cluster = {
      options,
      dataDir,
      coordinator,
      kv: [...kv],
      wal,
      host,
      kvEndpoints,
      processes: () => [coordinator, ...cluster.kv, ...(cluster.wal ? [cluster.wal] : []), ...(cluster.host ? [cluster.host] : [])],
      kvClient: (shards) => KvClient.connect({ shards: kvEndpoints().slice(0, shards ?? cluster.kv.length) }),
      walClient: WalClient.makeRemote({ endpoint: Endpoint.tcp(wal?.port ?? 0, wal?.host ?? Endpoint.LOOPBACK) }),
      workflowClient: WorkflowClient.connect({ endpoint: Endpoint.tcp(host?.port ?? 0, host?.host ?? Endpoint.LOOPBACK) }),
      domain: Layer.build(Dse.layer({ mode: options.mode }).pipe(Layer.provide(RemoteCoordinatorClient.layer({ host: coordinator.host, port: coordinator.port })))),
      killOnly,
      restartKv,
      killKv: (i) =>
        Effect.gen(function* () {
          const killedAt = yield* killOnly(i)
          const readyAt = yield* restartKv(i)
          return { killedAt, readyAt }
        })
    }
    return cluster
  })
