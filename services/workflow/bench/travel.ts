/**
 * The travel-reservation experiment (SPEC 7): end-to-end latency of the saga as an outside client
 * sees it, for N = 1, 2, 5, 10 KV shards, and throughput at a fixed concurrency, side by side in one
 * run, for
 *
 * - dse, speculative: the KV shards are processes in `speculative` mode; the workflow host runs in
 *   the client's process (the library, `WorkflowProcess.start`), and the client, outside the DSE
 *   domain, gets the result once it has committed (one commit wait for the whole saga);
 * - dse, durable: the same, in `durable` mode (every Action fsyncs before it replies or sends);
 * - Effect's ClusterWorkflowEngine with SingleRunner on sqlite (synchronous=FULL), running the same
 *   workflow source in the client's process, its activities calling the KV shards of the durable
 *   cluster (an outside caller: each KV write has fsynced before it replies);
 * - dse, speculative, with the workflow host as its own process reached over RPC (what `dse up`
 *   runs): the same as the first, plus one network hop each way.
 *
 * All engines run the same `TravelSaga` layer and reach the KV over loopback TCP. Everything runs
 * on this machine in one run: compare ratios, not absolute times.
 */
import { KvClient } from "@dse/kv"
import type { WorkflowEngine } from "@effect/workflow"
import { Endpoint } from "@dse/transport"
import { Context, Effect, Layer, Schedule } from "effect"
import type { Scope } from "effect"
import { mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as ClusterBaseline from "../src/ClusterBaseline"
import { offeringKey, stock, TravelSaga, TravelSagaLayer } from "../src/examples/TravelSaga"
import * as WorkflowClient from "../src/WorkflowClient"
import * as WorkflowProcess from "../src/WorkflowProcess"
import { freePort, managed } from "./processes"

export interface Options {
  /** The N of the experiment (default 1, 2, 5, 10). */
  readonly shards?: ReadonlyArray<number>
  /** Sequential sagas measured per configuration (default 100). */
  readonly runs?: number
  readonly warmup?: number
  /** Concurrency of the throughput run (default 16), its N (default 5) and its sagas (default 400). */
  readonly concurrency?: number
  readonly throughputShards?: number
  readonly throughputSagas?: number
  /** Keep the data directory (default false). */
  readonly keep?: boolean
  /** Also measure a workflow host process reached over RPC (default true). */
  readonly rpc?: boolean
  readonly log?: (line: string) => void
}

export type Engine = "dse speculative" | "dse durable" | "Effect cluster, sqlite FULL" | "dse speculative, host over RPC"

export interface LatencyRow {
  readonly engine: Engine
  readonly shards: number
  readonly runs: number
  readonly p50: number
  readonly p95: number
  readonly p99: number
  readonly mean: number
}

export interface ThroughputRow {
  readonly engine: Engine
  readonly shards: number
  readonly concurrency: number
  readonly sagas: number
  readonly perSecond: number
}

export interface Result {
  readonly latency: ReadonlyArray<LatencyRow>
  readonly throughput: ReadonlyArray<ThroughputRow>
  /** Effect's engine: the effective `PRAGMA synchronous` (2 = FULL) and journal mode. */
  readonly effectSqlite: ClusterBaseline.Pragmas
}

const percentile = (sorted: ReadonlyArray<number>, p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!

const round = (ms: number) => Math.round(ms * 100) / 100

type Execute = (tripId: string, offerings: ReadonlyArray<string>) => Effect.Effect<unknown, unknown>

interface Contender {
  readonly engine: Engine
  readonly execute: Execute
}

/**
 * Latency: for each N, the engines take turns saga by saga (rotating who goes first), so that a
 * change in the machine's load during the run affects them alike. Throughput: rounds in which each
 * engine runs its share of sagas at the fixed concurrency.
 */
const measure = (
  contenders: ReadonlyArray<Contender>,
  options: Required<Omit<Options, "keep" | "log" | "rpc">>,
  keysFor: (n: number) => Array<string>,
  log: (line: string) => void
): Effect.Effect<{ latency: Array<LatencyRow>; throughput: Array<ThroughputRow> }, unknown> =>
  Effect.gen(function* () {
    const tag = (engine: Engine) => engine.replace(/[^a-z]/gi, "")
    const latency: Array<LatencyRow> = []
    for (const n of options.shards) {
      log(`N = ${n}...`)
      const keys = keysFor(n)
      const samples = contenders.map(() => [] as Array<number>)
      for (let i = 0; i < options.warmup; i++) {
        for (const c of contenders) yield* c.execute(`${tag(c.engine)}-w-${n}-${i}`, keys)
      }
      for (let i = 0; i < options.runs; i++) {
        for (let j = 0; j < contenders.length; j++) {
          const k = (i + j) % contenders.length
          const c = contenders[k]!
          const t0 = performance.now()
          yield* c.execute(`${tag(c.engine)}-r-${n}-${i}`, keys)
          samples[k]!.push(performance.now() - t0)
        }
      }
      contenders.forEach((c, k) => {
        const sorted = samples[k]!.slice().sort((a, b) => a - b)
        latency.push({
          engine: c.engine,
          shards: n,
          runs: sorted.length,
          p50: round(percentile(sorted, 50)),
          p95: round(percentile(sorted, 95)),
          p99: round(percentile(sorted, 99)),
          mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length)
        })
      })
    }
    log(`throughput (N = ${options.throughputShards}, concurrency ${options.concurrency})...`)
    const keys = keysFor(options.throughputShards)
    const rounds = 4
    const perRound = Math.max(options.concurrency, Math.ceil(options.throughputSagas / rounds))
    const elapsed = contenders.map(() => 0)
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < contenders.length; k++) {
        const c = contenders[k]!
        const t0 = performance.now()
        yield* Effect.forEach(Array.from({ length: perRound }, (_, i) => i), (i) => c.execute(`${tag(c.engine)}-t-${r}-${i}`, keys), {
          concurrency: options.concurrency,
          discard: true
        })
        elapsed[k]! += performance.now() - t0
      }
    }
    const throughput = contenders.map((c, k) => ({
      engine: c.engine,
      shards: options.throughputShards,
      concurrency: options.concurrency,
      sagas: perRound * rounds,
      perSecond: Math.round((perRound * rounds) / (elapsed[k]! / 1000))
    }))
    return { latency, throughput }
  })

/**
 * A cluster in one mode: a coordinator and `shards` KV shards as processes, a workflow host in
 * this process (and, with `rpc`, another one as its own process).
 */
const cluster = (dir: string, mode: "speculative" | "durable", shards: number, rpc: boolean) =>
  Effect.gen(function* () {
    const data = join(dir, mode)
    mkdirSync(data, { recursive: true })
    const coordinatorPort = yield* freePort
    const kvPorts = yield* Effect.forEach(Array.from({ length: shards }), () => freePort)
    const coordinator = yield* managed({ name: `${mode}-coordinator`, service: "coordinator", args: ["--data", data, "--port", `${coordinatorPort}`] }, dir)
    const kv = yield* Effect.forEach(kvPorts, (port, i) =>
      managed({ name: `${mode}-kv-${i}`, service: "kv", args: ["--shard", `${i}`, "--data", data, "--port", `${port}`, "--mode", mode] }, dir)
    )
    yield* coordinator.start
    yield* Effect.forEach(kv, (p) => p.start, { concurrency: "unbounded", discard: true })
    const endpoints = kvPorts.map((p) => Endpoint.tcp(p))
    const host = yield* WorkflowProcess.start(
      { dataDir: data, coordinator: { host: "127.0.0.1", port: coordinatorPort }, mode, kv: endpoints },
      () => TravelSagaLayer
    )
    let client: WorkflowClient.WorkflowClientService | undefined
    if (rpc) {
      const hostPort = yield* freePort
      const process = yield* managed(
        {
          name: `${mode}-wf`,
          service: "workflow",
          args: ["--data", data, "--port", `${hostPort}`, "--mode", mode, "--name", "wf-host-rpc", "--kv", kvPorts.map((p) => `127.0.0.1:${p}`).join(",")]
        },
        dir
      )
      yield* process.start
      client = yield* WorkflowClient.connect({ endpoint: Endpoint.tcp(hostPort) })
    }
    const kvClient = yield* KvClient.connect({ shards: endpoints })
    return { kv: kvClient, host, client }
  })

/** Runs the experiment; processes are stopped and files removed when the scope closes. */
export const run = (options: Options = {}): Effect.Effect<Result, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const opts = {
      shards: options.shards ?? [1, 2, 5, 10],
      runs: options.runs ?? 100,
      warmup: options.warmup ?? 20,
      concurrency: options.concurrency ?? 16,
      throughputShards: options.throughputShards ?? 5,
      throughputSagas: options.throughputSagas ?? 400
    }
    const log = options.log ?? (() => {})
    const rpc = options.rpc ?? true
    const maxShards = Math.max(...opts.shards, opts.throughputShards)
    const dir = mkdtempSync(join(tmpdir(), "dse-bench-travel-"))
    if (!options.keep) yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
    const keysFor = (n: number) => Array.from({ length: n }, (_, i) => offeringKey(i, maxShards))
    const setup = (kv: KvClient.KvClientService) =>
      Effect.provideService(stock(keysFor(maxShards), 1_000_000_000), KvClient.KvClient, kv).pipe(
        Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo("1 minute"))),
        Effect.orDie
      )

    log(`starting a speculative and a durable cluster (${maxShards} KV shard processes each) in ${dir}`)
    const speculative = yield* cluster(dir, "speculative", maxShards, rpc)
    const durable = yield* cluster(dir, "durable", maxShards, false)
    yield* setup(speculative.kv)
    yield* setup(durable.kv)

    // The outside client calls each engine in this process, outside any sthread.
    const embedded = (context: Context.Context<WorkflowEngine.WorkflowEngine>): Execute => (tripId, offerings) =>
      Effect.provide(TravelSaga.execute({ tripId, offerings }), context)

    const effectContext = yield* Layer.build(
      TravelSagaLayer.pipe(
        Layer.provide(Layer.succeed(KvClient.KvClient, durable.kv)),
        Layer.provideMerge(ClusterBaseline.layer({ filename: join(dir, "effect-cluster.db") }))
      )
    )
    const effectSqlite = Context.get(effectContext, ClusterBaseline.SqlitePragmas)

    const contenders: Array<Contender> = [
      { engine: "dse speculative", execute: embedded(speculative.host.context) },
      { engine: "dse durable", execute: embedded(durable.host.context) },
      { engine: "Effect cluster, sqlite FULL", execute: embedded(effectContext) }
    ]
    const client = speculative.client
    if (client) {
      contenders.push({
        engine: "dse speculative, host over RPC",
        execute: (tripId, offerings) => client.execute(TravelSaga, { tripId, offerings })
      })
    }
    const { latency, throughput } = yield* measure(contenders, opts, keysFor, log)
    return { latency: latency.sort((a, b) => a.shards - b.shards), throughput, effectSqlite }
  })

/** The result as text tables (latency per N with ratios to speculative, then throughput). */
export const render = (result: Result): string => {
  const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string | number>>) => {
    const cells = [header, ...rows.map((r) => r.map(String))]
    const widths = header.map((_, c) => Math.max(...cells.map((r) => r[c]!.length)))
    const line = (r: ReadonlyArray<string>) => r.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join("  ")
    return [line(cells[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...cells.slice(1).map(line)].join("\n")
  }
  const speculative = new Map(result.latency.filter((r) => r.engine === "dse speculative").map((r) => [r.shards, r]))
  const latency = table(
    ["engine", "N", "p50 ms", "p95 ms", "p99 ms", "mean ms", "p50 / spec"],
    result.latency.map((r) => [r.engine, r.shards, r.p50, r.p95, r.p99, r.mean, `${(r.p50 / speculative.get(r.shards)!.p50).toFixed(1)}x`])
  )
  const spec = result.throughput.find((r) => r.engine === "dse speculative")!
  const throughput = table(
    ["engine", "N", "concurrency", "sagas", "sagas/s", "vs spec"],
    result.throughput.map((r) => [r.engine, r.shards, r.concurrency, r.sagas, r.perSecond, `${(r.perSecond / spec.perSecond).toFixed(2)}x`])
  )
  return [
    "Travel-reservation saga: end-to-end latency seen by an outside client (one saga at a time)",
    "",
    latency,
    "",
    "Throughput at a fixed concurrency",
    "",
    throughput,
    "",
    `Effect's engine: sqlite PRAGMA synchronous=${result.effectSqlite.synchronous} (2 = FULL), journal_mode=${result.effectSqlite.journalMode}; ` +
      "dse checkpoints: sqlite WAL, synchronous=FULL, one transaction per sealed version."
  ].join("\n")
}

