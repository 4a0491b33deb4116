/**
 * A workflow host as a process (what `src/main.ts` runs), and the library to host your own
 * workflows the same way:
 *
 *   const host = yield* WorkflowProcess.start({ dataDir: "./.dse" }, () => MyWorkflowsLive)
 *
 * It opens the host's sqlite checkpoint file under the data directory (`<dataDir>/wf-host.db`),
 * connects its Dse runtime to the coordinator process, connects a KV client to the KV shards (given,
 * or discovered from the coordinator: its workers of kind "kv" with their addresses), registers the
 * workflows with the dse engine, and serves `WorkflowRpcs` on a loopback port, registered as the
 * host worker's address (so `dse status` and `dse wf` find it).
 */
import { WorkerProcess } from "@dse/coordinator-service"
import { CoordinatorClient, CoordinatorUnavailable, Dse } from "@dse/core"
import { KvClient, KvRpcs, ShardUnavailable } from "@dse/kv"
import { DseRpcServer, Endpoint } from "@dse/transport"
import type { WorkflowEngine } from "@effect/workflow"
import type { Context, Duration, Scope } from "effect"
import { Effect, Either, Layer, Schedule } from "effect"
import type { EngineOptions } from "./DseWorkflowEngine"
import * as DseWorkflowEngine from "./DseWorkflowEngine"
import * as WorkflowHandlers from "./WorkflowHandlers"
import { DEFAULT_HOST } from "./WorkflowHost"
import { WorkflowRpcs } from "./WorkflowRpcs"

/** The worker options (data directory `<dataDir>/<name>.db`, address, coordinator, mode) and the host's own. */
export interface WorkflowProcessOptions extends WorkerProcess.WorkerProcessOptions {
  /** The host's worker name (default `wf-host`). */
  readonly name?: string
  /** The KV shards, in shard order. Default: discovered from the coordinator. */
  readonly kv?: ReadonlyArray<Endpoint.Endpoint>
  /**
   * How many KV shards the cluster has: discovery then waits for all of them (a partial list would
   * route keys to the wrong shards). Default: take whatever has registered after `kvDiscoveryWait`.
   */
  readonly kvShards?: number
  /** How long to wait for KV shards to register when discovering them. Default 5 s, or 2 min with `kvShards`. */
  readonly kvDiscoveryWait?: Duration.DurationInput
  readonly engine?: EngineOptions
}

/** What the workflows of a process may need: the KV client is there when KV shards are known. */
export interface ProcessEnvironment {
  readonly dataDir: string
  /** How many KV shards the client reaches (0: none; KV calls then fail with ShardUnavailable). */
  readonly kvShards: number
}

export type WorkflowsLayer<E> = Layer.Layer<never, E, WorkflowEngine.WorkflowEngine | Dse.Dse | KvClient.KvClient>

export type StartError = WorkerProcess.StartError

export interface RunningHost {
  readonly engine: DseWorkflowEngine.DseWorkflowEngineService
  /** The host's services: run `Workflow.execute` (and friends) with them to call it in-process. */
  readonly context: Context.Context<WorkflowEngine.WorkflowEngine | DseWorkflowEngine.DseWorkflowEngine | Dse.Dse>
  /** Where it listens (host and the bound port). */
  readonly endpoint: { readonly host: string; readonly port: number }
  readonly kvShards: ReadonlyArray<Endpoint.Endpoint>
}

/**
 * The KV shards the coordinator knows: workers of kind "kv" named `kv-<i>`, with their addresses,
 * for i = 0..n-1 (a gap means the shards are still registering). Without `expected`, waits up to
 * `wait` for some and takes what is there (none: the host runs without KV). With `expected` (the
 * cluster's shard count), waits up to `wait` for exactly that many and fails otherwise: a partial
 * list would route keys to the wrong shards.
 */
export const discoverKv = (
  wait: Duration.DurationInput,
  expected?: number
): Effect.Effect<ReadonlyArray<Endpoint.Endpoint>, CoordinatorUnavailable, CoordinatorClient> =>
  Effect.gen(function* () {
    const coordinator = yield* CoordinatorClient
    const once = Effect.map(coordinator.status, (status) => {
      const byIndex = new Map<number, Endpoint.Endpoint>()
      for (const worker of status.workers) {
        const match = /^kv-(\d+)$/.exec(worker.name)
        if (!match || worker.kind !== "kv" || worker.address === undefined) continue
        const endpoint = Endpoint.parse(worker.address)
        if (Either.isRight(endpoint)) byIndex.set(Number(match[1]), endpoint.right)
      }
      const shards: Array<Endpoint.Endpoint> = []
      for (let i = 0; byIndex.has(i); i++) shards.push(byIndex.get(i)!)
      return shards.length === byIndex.size ? shards : []
    })
    const complete = (shards: ReadonlyArray<Endpoint.Endpoint>) =>
      expected === undefined ? shards.length > 0 : shards.length === expected
    const found = yield* once.pipe(
      Effect.flatMap((shards) => (complete(shards) ? Effect.succeed(shards) : Effect.fail("not yet" as const))),
      Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo(wait))),
      Effect.option
    )
    if (found._tag === "Some") return found.value
    if (expected === undefined) return []
    return yield* new CoordinatorUnavailable({
      reason: `the coordinator did not list all ${expected} KV shards (kv-0..kv-${expected - 1}) with their addresses in time`
    })
  })

/** A KV client for a process without KV shards: every call fails with ShardUnavailable. */
const noKv: Layer.Layer<KvClient.KvClient> = Layer.sync(KvClient.KvClient, () => {
  const api: Record<string, () => Effect.Effect<never, ShardUnavailable>> = {}
  for (const tag of KvRpcs.requests.keys()) {
    api[tag] = () => Effect.fail(new ShardUnavailable({ shard: 0, reason: "this workflow host has no KV shards configured" }))
  }
  return KvClient.make([api as unknown as KvClient.ShardApi])
})

/**
 * Starts the host: restores its executions from its checkpoints (after a crash: at the cluster's
 * recovery cut, and drives every unfinished one again), serves it, and keeps it running until the
 * scope closes.
 */
export const start = <E>(
  options: WorkflowProcessOptions,
  workflows: (environment: ProcessEnvironment) => WorkflowsLayer<E>
): Effect.Effect<RunningHost, StartError | E, Scope.Scope> =>
  Effect.gen(function* () {
    const { context: runtime, endpoint, host, port } = yield* WorkerProcess.runtime(options)
    const kvShards =
      options.kv ??
      (yield* Effect.provide(
        discoverKv(options.kvDiscoveryWait ?? (options.kvShards !== undefined ? "2 minutes" : "5 seconds"), options.kvShards),
        runtime
      ))
    const kv = kvShards.length > 0 ? KvClient.layer({ shards: kvShards }) : noKv
    const context = yield* Layer.build(
      workflows({ dataDir: options.dataDir, kvShards: kvShards.length }).pipe(
        Layer.provideMerge(DseWorkflowEngine.layer({ ...options.engine, name: options.name ?? DEFAULT_HOST })),
        Layer.provide(kv),
        Layer.provideMerge(Layer.succeedContext(runtime))
      )
    )
    yield* DseRpcServer.make(WorkflowRpcs, { endpoint }).pipe(Effect.provide(WorkflowHandlers.layer), Effect.provide(context))
    const engine = yield* Effect.provide(DseWorkflowEngine.DseWorkflowEngine, context)
    return { engine, context, endpoint: { host, port }, kvShards }
  })
