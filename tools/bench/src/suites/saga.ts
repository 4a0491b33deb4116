/**
 * `saga`: the travel-reservation saga of the libDSE paper (services/workflow's TravelSaga: reserve
 * one offering at each of N KV shards in sequence, compensate in reverse on failure), end-to-end
 * latency as an OUTSIDE client sees it (its reply is released once the saga's result has committed),
 * for N = 1, 2, 5, 10 KV shards, each shard its own process.
 *
 * - speculative, durable, ephemeral: a cluster of processes per mode (coordinator, 10 KV shards, the
 *   workflow host), the client in the bench process calling the host over loopback TCP;
 * - effect-sqlite: Effect's own ClusterWorkflowEngine + SingleRunner on @effect/sql-sqlite-node with
 *   PRAGMA synchronous=FULL, running the same workflow code in the bench process (one hop fewer, in
 *   its favour), its activities calling the KV shards of the durable cluster.
 *
 * All cells (mode x N) are measured interleaved, one saga at a time (latency); then the CPU one saga
 * at the largest N costs each process role, each mode on its own (ProcessCpu); then throughput vs
 * latency at N = 5 for several client concurrencies. With --storage-latency the dse modes are
 * measured again on clusters whose durable writes take that much longer (Effect's engine writes its
 * own sqlite file: it cannot be emulated and is shown on local disk only).
 */
import { KvClient } from "@dse/kv"
import { Context, Effect, Exit, Layer, Schedule } from "effect"
import * as path from "node:path"
import type { Cell } from "../Measure"
import { interleaved } from "../Measure"
import type { WorkflowEngine } from "./closedLoop"
import { throughputRows } from "./closedLoop"
import type { ClusterNeed, Row, Suite, SuiteContext, SuiteResult, Target, TextTable } from "../Suite"
import { fmt, ratioTarget, rowOf } from "../Suite"
import type { ChartSpec } from "../Svg"
import { ClusterBaseline, TravelSaga } from "../internal/workflow"
import type { Floor } from "../Floor"
import * as ProcessCpu from "../ProcessCpu"
import * as os from "node:os"

const DSE = ["speculative", "durable", "ephemeral"] as const

export const shardsFor = (quick: boolean) => (quick ? [1, 2] : [1, 2, 5, 10])
const throughputN = (quick: boolean) => (quick ? 2 : 5)
const concurrencies = (quick: boolean) => (quick ? [4] : [1, 4, 16, 32])

const needs = (o: { quick: boolean; storageLatencyMs: number }): Array<ClusterNeed> => {
  const kvShards = Math.max(...shardsFor(o.quick))
  const local = DSE.map((mode) => ({ mode, storageLatencyMs: 0, kvShards, host: true }))
  const emulated =
    o.storageLatencyMs > 0
      ? (["speculative", "durable"] as const).map((mode) => ({ mode, storageLatencyMs: o.storageLatencyMs, kvShards, host: true }))
      : []
  return [...local, ...emulated]
}

/** The floor of a saga over N services: N loopback round trips + one fsync'd commit + one coordinator hop. */
export const floorOf = (floor: Floor, n: number) => (n + 1) * floor.loopbackRtt.p50 + floor.sqliteCommit.p50

const run = (ctx: SuiteContext): Effect.Effect<SuiteResult, unknown, import("effect").Scope.Scope> =>
  Effect.gen(function* () {
    const floor = ctx.floor
    const Ns = shardsFor(ctx.quick)
    const maxN = Math.max(...Ns)
    const keysFor = (n: number) => Array.from({ length: n }, (_, i) => TravelSaga.offeringKey(i, maxN))
    const allKeys = keysFor(maxN)
    const notes: Array<string> = []
    const runId = Date.now().toString(36)

    /** An engine, and the processes whose CPU one of its sagas costs. */
    type Target_ = WorkflowEngine & { readonly probes: () => ReadonlyArray<ProcessCpu.Probe> }
    const targetsOf = (latency: number, modes: ReadonlyArray<(typeof DSE)[number]>) =>
      Effect.forEach(modes, (mode) =>
        Effect.gen(function* () {
          const cluster = yield* ctx.pool.get(mode, latency)
          const kv = yield* cluster.kvClient()
          yield* Effect.provideService(TravelSaga.stock(allKeys, 1_000_000_000), KvClient.KvClient, kv).pipe(
            Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo("1 minute")))
          )
          const client = yield* cluster.workflowClient
          return {
            mode,
            latency,
            kv,
            execute: (id: string, n: number) => client.execute(TravelSaga.TravelSaga, { tripId: id, offerings: keysFor(n) }),
            probes: () => [
              ProcessCpu.pids("coordinator", [cluster.coordinator.pid]),
              ProcessCpu.pids("kv", cluster.kv.map((p) => p.pid)),
              ProcessCpu.pids("host", cluster.host ? [cluster.host.pid] : []),
              ProcessCpu.self("bench")
            ]
          }
        })
      )

    ctx.progress(`saga: starting clusters (${maxN} KV shards per mode) and stocking inventory`)
    const local = yield* targetsOf(0, DSE)
    // Effect's engine: same workflow, its activities calling the durable cluster's KV.
    const durable = local.find((t) => t.mode === "durable")!
    const durableKv = durable.kv
    const effectContext = yield* Layer.build(
      TravelSaga.TravelSagaLayer.pipe(
        Layer.provide(Layer.succeed(KvClient.KvClient, durableKv)),
        Layer.provideMerge(ClusterBaseline.layer({ filename: path.join(ctx.root, "effect-saga.db") }))
      )
    )
    const pragmas = Context.get(effectContext, ClusterBaseline.SqlitePragmas)
    notes.push(
      `effect-sqlite: ClusterWorkflowEngine + SingleRunner on @effect/sql-sqlite-node, effective PRAGMA synchronous=${pragmas.synchronous}` +
        ` (${pragmas.synchronous === 2 ? "FULL" : "NOT FULL"}), journal_mode=${pragmas.journalMode}; runs in the bench process, its activities call the durable cluster's KV shards.`
    )
    const effectTarget: Target_ = {
      mode: "effect-sqlite",
      latency: 0,
      execute: (id, n) => Effect.provide(TravelSaga.TravelSaga.execute({ tripId: id, offerings: keysFor(n) }), effectContext),
      // Its engine and sqlite run in the bench process; its activities in the durable cluster's shards.
      probes: () => durable.probes().filter((p) => p.role === "kv" || p.role === "bench")
    }
    const targets: Array<Target_> = [...local, effectTarget]
    if (ctx.storageLatencyMs > 0) {
      ctx.progress(`saga: starting the emulated-storage clusters (+${ctx.storageLatencyMs} ms per durable write)`)
      targets.push(...(yield* targetsOf(ctx.storageLatencyMs, ["speculative", "durable"])))
      notes.push(
        `--storage-latency ${ctx.storageLatencyMs}: rows with storageLatencyMs=${ctx.storageLatencyMs} ran on clusters whose every durable checkpoint write ` +
          `completes ${ctx.storageLatencyMs} ms after its fsync (emulated replicated storage); rows with 0 are local disk. Effect's engine is local disk only.`
      )
    }

    // Latency: one saga at a time, every (mode, N) interleaved.
    const cells: Array<Cell & { readonly mode: string; readonly n: number; readonly latency: number }> = []
    for (const n of Ns) {
      for (const t of targets) {
        cells.push({
          id: `${t.mode}@${t.latency}/N=${n}`,
          mode: t.mode,
          n,
          latency: t.latency,
          concurrency: 1,
          request: (i) => t.execute(`${runId}-${t.mode}-${t.latency}-${n}-${i}`, n)
        })
      }
    }
    const latency = yield* interleaved(cells, {
      warmup: ctx.quick ? 3 : 5,
      rounds: ctx.quick ? 2 : 4,
      perRound: { requests: ctx.quick ? 5 : 10 },
      timeoutMs: 60_000,
      progress: ctx.progress,
      label: "saga latency"
    })

    // CPU per saga at the largest N: each engine alone, one saga at a time.
    const cpuSagas = ctx.quick ? 5 : 30
    const cpuRows: Array<CpuRow> = []
    for (const t of targets.filter((t) => t.latency === 0)) {
      ctx.progress(`saga: CPU per saga, ${t.mode}, N=${maxN} (${cpuSagas} sagas)`)
      const started = performance.now()
      const { cpuMs, result: exits } = yield* ProcessCpu.measure(
        t.probes(),
        Effect.forEach(Array.from({ length: cpuSagas }, (_, i) => i), (i) => Effect.exit(t.execute(`${runId}-cpu-${t.mode}-${i}`, maxN)))
      )
      const perSaga = Object.fromEntries(Object.entries(cpuMs).map(([role, ms]) => [role, round1(ms / cpuSagas)]))
      const errors = exits.filter(Exit.isFailure).length
      cpuRows.push({ mode: t.mode, cpuMs: perSaga, wallMs: round1((performance.now() - started) / cpuSagas), errors })
    }

    const rows: Array<Row> = cells.map((c, k) => {
      const cpu = c.n === maxN && c.latency === 0 ? cpuRows.find((r) => r.mode === c.mode)?.cpuMs : undefined
      return rowOf(c.mode, c.n, latency[k]!, {
        concurrency: 1,
        storageLatencyMs: c.latency,
        floorMs: Math.round(floorOf(floor, c.n) * 1000) / 1000,
        ...(cpu !== undefined ? { cpuMsPerSaga: cpu } : {})
      })
    })
    const find = (mode: string, n: number, l = 0) => rows.find((r) => r.mode === mode && r.n === n && r.storageLatencyMs === l)

    // Throughput vs latency at one N.
    const tn = throughputN(ctx.quick)
    const trows = yield* throughputRows(ctx, { suite: "saga", runId, engines: targets, concurrencies: concurrencies(ctx.quick), n: tn })

    const checks: Array<Target> = []
    const N10 = maxN
    checks.push(ratioTarget(`saga N=${N10} p50: speculative / durable (local disk)`, find("speculative", N10)?.p50, find("durable", N10)?.p50, 0.3))
    if (ctx.storageLatencyMs > 0) {
      const L = ctx.storageLatencyMs
      checks.push(
        ratioTarget(
          `saga N=${N10} p50: speculative / durable (--storage-latency ${L})`,
          find("speculative", N10, L)?.p50,
          find("durable", N10, L)?.p50,
          L >= 2 ? 0.1 : 0.3
        )
      )
    }
    checks.push(ratioTarget(`saga N=${N10} p50: speculative / effect-sqlite`, find("speculative", N10)?.p50, find("effect-sqlite", N10)?.p50, 0.1))
    const f = floorOf(floor, N10)
    checks.push(
      ratioTarget(
        `saga N=${N10} p50: speculative / floor (${N10 + 1} loopback RTT + 1 fsync'd commit = ${fmt(f, 3)} ms)`,
        find("speculative", N10)?.p50,
        f,
        2
      )
    )

    const labelOf = (r: Row) => (r.storageLatencyMs ? `${r.mode} +${r.storageLatencyMs}ms` : r.mode)
    const series = Array.from(new Set(rows.map(labelOf)))
    const charts: Array<ChartSpec> = [
      {
        file: "saga-latency-vs-n.svg",
        title: "Travel saga: end-to-end latency vs N services (outside client)",
        subtitle: "p50 solid, p99 dashed; one saga at a time",
        xLabel: "N (KV services the saga touches)",
        yLabel: "latency (ms)",
        yLog: true,
        series: series.flatMap((name) => [
          { name: `${name} p50`, points: rows.filter((r) => labelOf(r) === name).map((r) => [r.n!, r.p50] as const) },
          { name: `${name} p99`, dashed: true, points: rows.filter((r) => labelOf(r) === name).map((r) => [r.n!, r.p99] as const) }
        ]),
        hlines: []
      },
      {
        file: `saga-cdf-n${N10}.svg`,
        title: `Travel saga N=${N10}: latency CDF per mode`,
        xLabel: "latency (ms)",
        yLabel: "fraction of sagas",
        xLog: true,
        series: rows.filter((r) => r.n === N10).map((r) => ({ name: labelOf(r), points: (r.cdf as Array<readonly [number, number]>) ?? [], markers: false }))
      },
      {
        file: "saga-throughput-latency.svg",
        title: `Travel saga N=${tn}: throughput vs latency`,
        subtitle: `closed loop, client concurrency ${concurrencies(ctx.quick).join(", ")}`,
        xLabel: "throughput (sagas/s)",
        yLabel: "p50 latency (ms)",
        yLog: true,
        series: Array.from(new Set(trows.map(labelOf))).map((name) => ({
          name,
          points: trows.filter((r) => labelOf(r) === name).map((r) => [r.throughput, r.p50] as const)
        }))
      }
    ]

    const spec = (n: number, l: number) => find("speculative", n, l)?.p50
    return {
      rows: [...rows, ...trows],
      tables: [
        {
          title: "Saga latency, one at a time (ms), outside client",
          header: ["mode", "storage", "N", "p50", "p95", "p99", "sagas/s", "n", "err", "p50 / spec", "floor"],
          rows: rows.map((r) => [
            r.mode,
            r.storageLatencyMs ? `+${r.storageLatencyMs} ms` : "local",
            r.n!,
            r.p50,
            r.p95,
            r.p99,
            r.throughput,
            r.count as number,
            r.errors as number,
            `${fmt(r.p50 / (spec(r.n!, (r.storageLatencyMs as number) || 0) ?? spec(r.n!, 0) ?? Number.NaN), 1)}x`,
            floorOf(floor, r.n!)
          ])
        },
        cpuTable(cpuRows, maxN),
        {
          title: `Saga throughput vs latency, N=${tn} (closed loop)`,
          header: ["mode", "storage", "clients", "sagas/s", "p50", "p95", "p99", "err"],
          rows: trows.map((r) => [
            r.mode,
            r.storageLatencyMs ? `+${r.storageLatencyMs} ms` : "local",
            r.concurrency as number,
            r.throughput,
            r.p50,
            r.p95,
            r.p99,
            r.errors as number
          ])
        }
      ],
      charts,
      notes,
      skipped: [],
      targets: checks
    }
  })

interface CpuRow {
  readonly mode: string
  /** CPU per saga by role (coordinator, kv: all shards, host, bench: this process), ms. */
  readonly cpuMs: Record<string, number>
  readonly wallMs: number
  /** Sagas of the CPU run that failed (their CPU is counted all the same). */
  readonly errors: number
}

const round1 = (x: number) => Math.round(x * 10) / 10

/**
 * Where a saga's time goes on this machine: with a dozen processes on few cores, a saga cannot end
 * sooner than its CPU over the cores, whatever the protocol saves on the critical path.
 */
const cpuTable = (rows: ReadonlyArray<CpuRow>, n: number): TextTable => {
  const cores = os.cpus().length
  const total = (r: CpuRow) => Object.values(r.cpuMs).reduce((a, b) => a + b, 0)
  return {
    title: `CPU per saga, N=${n} (ms; each mode alone, one saga at a time)`,
    header: ["mode", "coordinator", "kv shards", "workflow host", "bench process", "total", `total / ${cores} cores`, "wall", "err"],
    rows: rows.map((r) => [
      r.mode,
      r.cpuMs.coordinator ?? Number.NaN,
      r.cpuMs.kv ?? Number.NaN,
      r.cpuMs.host ?? Number.NaN,
      r.cpuMs.bench ?? Number.NaN,
      round1(total(r)),
      round1(total(r) / cores),
      r.wallMs,
      r.errors
    ]),
    note:
      "utime + stime from /proc of every process of the mode while it ran its sagas alone (background work included); " +
      "the bench process is the outside client, and for effect-sqlite also Effect's engine and its sqlite. Linux only (NaN elsewhere)."
  }
}

export const suite: Suite = {
  name: "saga",
  title: "Travel-reservation saga across N KV services",
  description:
    "End-to-end latency of the travel saga (one reservation per KV shard, N = 1, 2, 5, 10 shard processes) as an outside client sees it, " +
    "speculative vs durable vs ephemeral dse clusters and Effect's own ClusterWorkflowEngine on sqlite FULL, plus throughput vs latency at N = 5.",
  modes: ["speculative", "durable", "ephemeral", "effect-sqlite"],
  requiredModes: ["speculative", "durable", "ephemeral", "effect-sqlite"],
  needs,
  run
}
