/**
 * What the `kv` and `wal` suites share: one service operation measured in the three dse modes, side
 * by side and interleaved, as a closed loop at several client concurrencies.
 *
 * - "inside": the client is in the dse domain (a Dse runtime of the bench process, joined to the
 *   cluster's coordinator); every operation runs in a fresh sthread, so a speculative reply comes
 *   back at once, tagged with its dependencies (the paper's "latency as seen inside the domain");
 * - "outside": a plain client (no sthread): the reply is released once the write has committed,
 *   one client at a time (the commit wait an outside caller pays).
 */
import type { Cluster } from "../internal/Cluster"
import { Dse } from "@dse/core"
import type { Scope } from "effect"
import { Effect } from "effect"
import type { Cell } from "../Measure"
import { interleaved } from "../Measure"
import type { ClusterNeed, Row, Suite, SuiteContext, SuiteResult, Target } from "../Suite"
import { minRatioTarget, ratioTarget, rowOf } from "../Suite"
import type { ChartSpec } from "../Svg"

const DSE = ["speculative", "durable", "ephemeral"] as const

export interface Operation {
  /** The operation `i` (unique per cell): a plain client call; run in an sthread for "inside". */
  readonly call: (i: number) => Effect.Effect<unknown, unknown>
}

export interface OperationsSuiteOptions {
  readonly name: string
  readonly title: string
  readonly description: string
  /** What one operation is, for table titles: "put", "append". */
  readonly op: string
  readonly need: (quick: boolean) => Omit<ClusterNeed, "mode" | "storageLatencyMs">
  readonly prepare: (cluster: Cluster, mode: string) => Effect.Effect<Operation, unknown, Scope.Scope>
}

export const concurrencies = (quick: boolean) => (quick ? [1, 8] : [1, 8, 32])

export const make = (o: OperationsSuiteOptions): Suite => {
  const run = (ctx: SuiteContext): Effect.Effect<SuiteResult, unknown, Scope.Scope> =>
    Effect.gen(function* () {
      const latencies = [0, ...(ctx.storageLatencyMs > 0 ? [ctx.storageLatencyMs] : [])]
      type Kind = "inside" | "outside"
      const cells: Array<Cell & { mode: string; kind: Kind; latency: number }> = []
      for (const latency of latencies) {
        for (const mode of DSE) {
          if (latency > 0 && mode === "ephemeral") continue
          const cluster = yield* ctx.pool.get(mode, latency)
          const operation = yield* o.prepare(cluster, mode)
          const domain = yield* cluster.domain
          const inside = (i: number) => Effect.provide(Dse.sthread(operation.call(i)), domain)
          for (const c of concurrencies(ctx.quick)) {
            cells.push({ id: `${mode}@${latency}/inside/c=${c}`, mode, kind: "inside", latency, concurrency: c, request: inside })
          }
          cells.push({ id: `${mode}@${latency}/outside/c=1`, mode, kind: "outside", latency, concurrency: 1, request: operation.call })
        }
      }
      const results = yield* interleaved(cells, {
        warmup: ctx.quick ? 20 : 200,
        rounds: ctx.quick ? 2 : 5,
        perRound: { millis: ctx.quick ? 400 : 1500 },
        timeoutMs: 30_000,
        progress: ctx.progress,
        label: o.name
      })
      const rows: Array<Row> = cells.map((c, k) =>
        rowOf(c.mode, c.concurrency, results[k]!, { client: c.kind, concurrency: c.concurrency, storageLatencyMs: c.latency })
      )
      const find = (mode: string, kind: Kind, c: number, l = 0) =>
        rows.find((r) => r.mode === mode && r.client === kind && r.concurrency === c && r.storageLatencyMs === l)
      const maxC = Math.max(...concurrencies(ctx.quick))
      const targets: Array<Target> = [
        minRatioTarget(
          `${o.name} ${o.op} throughput at ${maxC} clients (inside): speculative / ephemeral`,
          find("speculative", "inside", maxC)?.throughput,
          find("ephemeral", "inside", maxC)?.throughput,
          0.8
        ),
        ratioTarget(
          `${o.name} ${o.op} p50 at 1 client (inside): speculative / ephemeral`,
          find("speculative", "inside", 1)?.p50,
          find("ephemeral", "inside", 1)?.p50,
          2
        ),
        {
          ...ratioTarget(
            `${o.name} outside-client commit wait at idle, p50 ms (outside ${o.op} minus inside ${o.op}, speculative)`,
            (find("speculative", "outside", 1)?.p50 ?? Number.NaN) - (find("speculative", "inside", 1)?.p50 ?? Number.NaN),
            1,
            2
          ),
          goal: "<= 2 ms"
        }
      ]
      const label = (r: Row) => `${r.mode}${r.storageLatencyMs ? ` +${r.storageLatencyMs}ms` : ""}`
      const insideRows = rows.filter((r) => r.client === "inside")
      const charts: Array<ChartSpec> = [
        {
          file: `${o.name}-throughput-latency.svg`,
          title: `${o.name}: ${o.op} throughput vs latency (inside the domain)`,
          subtitle: `closed loop, client concurrency ${concurrencies(ctx.quick).join(", ")}`,
          xLabel: `throughput (${o.op}s/s)`,
          yLabel: "p50 latency (ms)",
          yLog: true,
          series: Array.from(new Set(insideRows.map(label))).map((name) => ({
            name,
            points: insideRows.filter((r) => label(r) === name).map((r) => [r.throughput, r.p50] as const)
          }))
        },
        {
          file: `${o.name}-cdf.svg`,
          title: `${o.name}: ${o.op} latency CDF per mode, 1 client`,
          xLabel: "latency (ms)",
          yLabel: `fraction of ${o.op}s`,
          xLog: true,
          series: rows
            .filter((r) => r.concurrency === 1)
            .map((r) => ({ name: `${label(r)} ${r.client}`, dashed: r.client === "outside", points: (r.cdf as Array<readonly [number, number]>) ?? [], markers: false }))
        }
      ]
      const eph = (c: number) => find("ephemeral", "inside", c)?.throughput
      return {
        rows,
        tables: [
          {
            title: `${o.name}: ${o.op} latency (ms) and throughput, closed loop`,
            header: ["mode", "storage", "client", "conc", "p50", "p95", "p99", `${o.op}s/s`, "n", "err", "tput / eph"],
            rows: rows.map((r) => [
              r.mode,
              r.storageLatencyMs ? `+${r.storageLatencyMs} ms` : "local",
              r.client as string,
              r.concurrency as number,
              r.p50,
              r.p95,
              r.p99,
              r.throughput,
              r.count as number,
              r.errors as number,
              r.client === "inside" ? r.throughput / (eph(r.concurrency as number) ?? Number.NaN) : Number.NaN
            ])
          }
        ],
        charts,
        notes: [
          `"inside": the client runs in the dse domain (each ${o.op} in a fresh sthread of the bench process's Dse runtime); "outside": a plain client whose reply is released after commit.`,
          ...(ctx.storageLatencyMs > 0
            ? [`--storage-latency ${ctx.storageLatencyMs}: rows marked +${ctx.storageLatencyMs} ms ran on clusters whose every durable checkpoint write completes ${ctx.storageLatencyMs} ms after its fsync (emulated replicated storage).`]
            : [])
        ],
        skipped: [],
        targets
      }
    })
  return {
    name: o.name,
    title: o.title,
    description: o.description,
    modes: [...DSE],
    requiredModes: [...DSE],
    needs: ({ quick, storageLatencyMs }) => [
      ...DSE.map((mode) => ({ ...o.need(quick), mode, storageLatencyMs: 0 })),
      ...(storageLatencyMs > 0 ? (["speculative", "durable"] as const).map((mode) => ({ ...o.need(quick), mode, storageLatencyMs })) : [])
    ],
    run
  }
}
