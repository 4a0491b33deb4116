/**
 * `chain`: a workflow of N trivial activities in sequence (workflows/Chain.ts), N = 1, 3, 10, started
 * by an OUTSIDE client (its reply is released once the result has committed): what one durable step
 * costs in each engine.
 *
 * - speculative, durable, ephemeral: the bench's workflow host process of a dse cluster of that
 *   mode, called over loopback TCP;
 * - effect-sqlite: Effect's own ClusterWorkflowEngine + SingleRunner on sqlite (synchronous=FULL)
 *   running the same workflow definition, in the bench process (no network hop: in its favour);
 * - restate, dbos: optional peers (Peers.ts): skipped with a note when not installed / not reachable.
 *
 * Latency: one workflow at a time, every (mode, N) interleaved. Throughput: N = 3 at several client
 * concurrencies (closed loop), interleaved likewise.
 */
import type { Scope } from "effect"
import { Context, Effect, Layer } from "effect"
import * as path from "node:path"
import type { Cell } from "../Measure"
import { interleaved } from "../Measure"
import type { WorkflowEngine } from "./closedLoop"
import { throughputRows } from "./closedLoop"
import * as Peers from "../Peers"
import type { ClusterNeed, Row, Suite, SuiteContext, SuiteResult, Target } from "../Suite"
import { fmt, minRatioTarget, ratioTarget, rowOf } from "../Suite"
import type { ChartSpec } from "../Svg"
import { ClusterBaseline } from "../internal/workflow"
import { Chain, ChainLayer } from "../workflows/Chain"

const DSE = ["speculative", "durable", "ephemeral"] as const

export const stepsFor = (quick: boolean) => (quick ? [1, 3] : [1, 3, 10])
const THROUGHPUT_STEPS = 3
const concurrencies = (quick: boolean) => (quick ? [4] : [1, 8, 32])

const needs = (o: { quick: boolean; storageLatencyMs: number }): Array<ClusterNeed> => [
  ...DSE.map((mode) => ({ mode, storageLatencyMs: 0, kvShards: 0, host: true })),
  ...(o.storageLatencyMs > 0
    ? (["speculative", "durable"] as const).map((mode) => ({ mode, storageLatencyMs: o.storageLatencyMs, kvShards: 0, host: true }))
    : [])
]

type Engine = WorkflowEngine

const run = (ctx: SuiteContext): Effect.Effect<SuiteResult, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const Ns = stepsFor(ctx.quick)
    const maxN = Math.max(...Ns)
    const notes: Array<string> = []
    const skipped: Array<{ mode: string; reason: string }> = []
    const runId = Date.now().toString(36)

    const dseEngines = (latency: number, modes: ReadonlyArray<(typeof DSE)[number]>) =>
      Effect.forEach(modes, (mode) =>
        Effect.gen(function* () {
          const cluster = yield* ctx.pool.get(mode, latency)
          const client = yield* cluster.workflowClient
          return { mode, latency, execute: (id: string, steps: number) => client.execute(Chain, { id, steps }) } satisfies Engine
        })
      )
    const engines: Array<Engine> = [...(yield* dseEngines(0, DSE))]

    const effectContext = yield* Layer.build(
      ChainLayer.pipe(Layer.provideMerge(ClusterBaseline.layer({ filename: path.join(ctx.root, "effect-chain.db") })))
    )
    const pragmas = Context.get(effectContext, ClusterBaseline.SqlitePragmas)
    notes.push(
      `effect-sqlite: ClusterWorkflowEngine + SingleRunner on @effect/sql-sqlite-node, effective PRAGMA synchronous=${pragmas.synchronous}` +
        ` (${pragmas.synchronous === 2 ? "FULL" : "NOT FULL"}), journal_mode=${pragmas.journalMode}; same workflow definition, in the bench process.`
    )
    engines.push({ mode: "effect-sqlite", latency: 0, execute: (id, steps) => Effect.provide(Chain.execute({ id, steps }), effectContext) })

    for (const peer of Peers.PEERS) {
      const found = yield* Peers.chainPeer(peer, ctx)
      if (found._tag === "Skipped") skipped.push({ mode: peer, reason: found.reason })
      else {
        engines.push({ mode: peer, latency: 0, execute: found.execute })
        notes.push(found.note)
      }
    }

    if (ctx.storageLatencyMs > 0) {
      engines.push(...(yield* dseEngines(ctx.storageLatencyMs, ["speculative", "durable"])))
      notes.push(
        `--storage-latency ${ctx.storageLatencyMs}: rows marked +${ctx.storageLatencyMs} ms ran on clusters whose every durable checkpoint write ` +
          `completes ${ctx.storageLatencyMs} ms after its fsync (emulated replicated storage); "local" rows are the local disk.`
      )
    }

    const cells: Array<Cell & { readonly mode: string; readonly n: number; readonly latency: number }> = []
    for (const n of Ns) {
      for (const e of engines) {
        cells.push({
          id: `${e.mode}@${e.latency}/N=${n}`,
          mode: e.mode,
          n,
          latency: e.latency,
          concurrency: 1,
          request: (i) => e.execute(`${runId}-${e.mode}-${e.latency}-${n}-${i}`, n)
        })
      }
    }
    const latency = yield* interleaved(cells, {
      warmup: ctx.quick ? 3 : 5,
      rounds: ctx.quick ? 2 : 4,
      perRound: { requests: ctx.quick ? 5 : 15 },
      timeoutMs: 60_000,
      progress: ctx.progress,
      label: "chain latency"
    })
    const rows: Array<Row> = cells.map((c, k) => rowOf(c.mode, c.n, latency[k]!, { concurrency: 1, storageLatencyMs: c.latency }))

    const trows = yield* throughputRows(ctx, { suite: "chain", runId, engines: engines, concurrencies: concurrencies(ctx.quick), n: THROUGHPUT_STEPS })

    const find = (mode: string, n: number, l = 0) => rows.find((r) => r.mode === mode && r.n === n && r.storageLatencyMs === l)
    const maxC = Math.max(...concurrencies(ctx.quick))
    const tfind = (mode: string) => trows.find((r) => r.mode === mode && r.concurrency === maxC && r.storageLatencyMs === 0)
    const checks: Array<Target> = [
      ratioTarget(`chain N=${maxN} p50: speculative / effect-sqlite`, find("speculative", maxN)?.p50, find("effect-sqlite", maxN)?.p50, 0.1),
      ratioTarget(`chain N=${maxN} p50: speculative / restate`, find("speculative", maxN)?.p50, find("restate", maxN)?.p50, 0.1),
      minRatioTarget(
        `chain N=${THROUGHPUT_STEPS} throughput at ${maxC} clients: speculative / restate`,
        tfind("speculative")?.throughput,
        tfind("restate")?.throughput,
        3
      )
    ]

    const labelOf = (r: Row) => (r.storageLatencyMs ? `${r.mode} +${r.storageLatencyMs}ms` : r.mode)
    const series = Array.from(new Set(rows.map(labelOf)))
    const charts: Array<ChartSpec> = [
      {
        file: "chain-latency-vs-n.svg",
        title: "Chain of N activities: end-to-end latency vs N (outside client)",
        subtitle: "p50 solid, p99 dashed; one workflow at a time",
        xLabel: "N (activities)",
        yLabel: "latency (ms)",
        yLog: true,
        series: series.flatMap((name) => [
          { name: `${name} p50`, points: rows.filter((r) => labelOf(r) === name).map((r) => [r.n!, r.p50] as const) },
          { name: `${name} p99`, dashed: true, points: rows.filter((r) => labelOf(r) === name).map((r) => [r.n!, r.p99] as const) }
        ])
      },
      {
        file: `chain-cdf-n${maxN}.svg`,
        title: `Chain N=${maxN}: latency CDF per mode`,
        xLabel: "latency (ms)",
        yLabel: "fraction of workflows",
        xLog: true,
        series: rows.filter((r) => r.n === maxN).map((r) => ({ name: labelOf(r), points: (r.cdf as Array<readonly [number, number]>) ?? [], markers: false }))
      },
      {
        file: "chain-throughput-latency.svg",
        title: `Chain N=${THROUGHPUT_STEPS}: throughput vs latency`,
        subtitle: `closed loop, client concurrency ${concurrencies(ctx.quick).join(", ")}`,
        xLabel: "throughput (workflows/s)",
        yLabel: "p50 latency (ms)",
        yLog: true,
        series: Array.from(new Set(trows.map(labelOf))).map((name) => ({
          name,
          points: trows.filter((r) => labelOf(r) === name).map((r) => [r.throughput, r.p50] as const)
        }))
      }
    ]

    const spec = (n: number, l: number) => find("speculative", n, l)?.p50 ?? find("speculative", n, 0)?.p50
    return {
      rows: [...rows, ...trows],
      tables: [
        {
          title: "Chain latency, one workflow at a time (ms), outside client",
          header: ["mode", "storage", "N", "p50", "p95", "p99", "wf/s", "n", "err", "p50 / spec"],
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
            `${fmt(r.p50 / (spec(r.n!, (r.storageLatencyMs as number) || 0) ?? Number.NaN), 1)}x`
          ])
        },
        {
          title: `Chain throughput vs latency, N=${THROUGHPUT_STEPS} (closed loop)`,
          header: ["mode", "storage", "clients", "wf/s", "p50", "p95", "p99", "err"],
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
      skipped,
      targets: checks
    }
  })

export const suite: Suite = {
  name: "chain",
  title: "Workflow of N trivial activities",
  description:
    "End-to-end latency of a workflow of N = 1, 3, 10 trivial activities in sequence, started by an outside client, " +
    "on dse's engine in the three modes and on Effect's own ClusterWorkflowEngine on sqlite FULL (same workflow code), " +
    "with Restate and DBOS as optional peers; plus throughput vs latency at N = 3 for 1, 8, 32 concurrent workflows.",
  modes: ["speculative", "durable", "ephemeral", "effect-sqlite", "restate", "dbos"],
  requiredModes: ["speculative", "durable", "ephemeral", "effect-sqlite"],
  needs,
  run
}
