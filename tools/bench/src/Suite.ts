/**
 * What a benchmark suite is, and what it returns.
 *
 * Every suite returns rows of one shape (`Row`: mode, n, p50/p95/p99 in ms, throughput per second,
 * and more keys), text tables, charts, notes (what was skipped and why, settings in effect) and
 * target checks (ratios from this one run; reported, never asserted).
 */
import type { ExecutionMode } from "@dse/core"
import type { Effect, Scope } from "effect"
import type { Floor } from "./Floor"
import type { ChartSpec } from "./Svg"
import type { Cluster, ClusterOptions } from "./internal/Cluster"
import type { Launcher } from "./internal/Launcher"
import type { CellResult } from "./Measure"
import { throughput } from "./Measure"
import { percentile, summarize } from "./Stats"
import type { Cell as TableCell } from "./Table"

/** Mode names: dse's three, and the peers. */
export type Mode = "speculative" | "durable" | "ephemeral" | "effect-sqlite" | "restate" | "dbos" | (string & {})

export interface Row {
  readonly mode: Mode
  /** The suite's parameter: services (saga), activities (chain), client concurrency (kv, wal), ... see the suite. */
  readonly n: number | null
  /** Milliseconds; NaN (null in JSON) where it does not apply. */
  readonly p50: number
  readonly p95: number
  readonly p99: number
  /** Completed operations per second. */
  readonly throughput: number
  readonly [key: string]: unknown
}

export interface TextTable {
  readonly title: string
  readonly header: ReadonlyArray<string>
  readonly rows: ReadonlyArray<ReadonlyArray<TableCell>>
  readonly note?: string
}

export interface Target {
  /** What is compared, e.g. "saga N=10 p50: speculative / durable". */
  readonly name: string
  /** The goal, e.g. "<= 0.3". */
  readonly goal: string
  /** The measured value (a ratio or ms). */
  readonly value: number
  /** Met, missed, or null when it could not be computed (a mode skipped). */
  readonly met: boolean | null
  readonly detail?: string
}

export interface SuiteResult {
  readonly rows: ReadonlyArray<Row>
  readonly tables: ReadonlyArray<TextTable>
  readonly charts: ReadonlyArray<ChartSpec>
  readonly notes: ReadonlyArray<string>
  /** Modes (peers) this suite could not run, and why. */
  readonly skipped: ReadonlyArray<{ readonly mode: Mode; readonly reason: string }>
  readonly targets: ReadonlyArray<Target>
}

/** A cluster a suite needs from the shared pool (the pool starts one per mode and storage setting). */
export interface ClusterNeed {
  readonly mode: ExecutionMode
  readonly storageLatencyMs: number
  readonly kvShards: number
  readonly wal?: boolean
  readonly host?: boolean
}

export interface ClusterPool {
  /** The shared cluster of (mode, storage latency), started on first use with everything the run's suites need. */
  readonly get: (mode: ExecutionMode, storageLatencyMs: number) => Effect.Effect<Cluster, unknown>
}

export interface SuiteContext {
  readonly quick: boolean
  /** `--storage-latency`: 0 when not emulating. */
  readonly storageLatencyMs: number
  readonly progress: (line: string) => void
  readonly launcher: Launcher
  /** A temporary directory of this run (removed at the end). */
  readonly root: string
  readonly pool: ClusterPool
  /** The machine's physical floor, measured at the start of the run. */
  readonly floor: Floor
  /** Starts a cluster of its own (for suites that kill processes). */
  readonly privateCluster: (options: Omit<ClusterOptions, "name"> & { readonly name: string }) => Effect.Effect<Cluster, unknown, Scope.Scope>
}

export interface Suite {
  readonly name: string
  readonly title: string
  /** What it measures, for the report. */
  readonly description: string
  /** The modes it reports (peers may be skipped with a note). */
  readonly modes: ReadonlyArray<Mode>
  /** Modes every run must produce numbers for (the smoke test checks them). */
  readonly requiredModes: ReadonlyArray<Mode>
  readonly needs?: (options: { readonly quick: boolean; readonly storageLatencyMs: number }) => ReadonlyArray<ClusterNeed>
  readonly run: (ctx: SuiteContext) => Effect.Effect<SuiteResult, unknown, Scope.Scope>
}

/** At most `points` (ms, fraction) points of the empirical CDF of `samples`. */
export const cdf = (samples: ReadonlyArray<number>, points = 60): Array<readonly [number, number]> => {
  if (samples.length === 0) return []
  const sorted = samples.slice().sort((a, b) => a - b)
  const out: Array<readonly [number, number]> = []
  for (let k = 1; k <= points; k++) {
    const q = k / points
    out.push([round3(percentile(sorted, q * 100)), round3(q)])
  }
  return out
}

export const round3 = (x: number) => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : x)

/** A row from a measured cell. */
export const rowOf = (mode: Mode, n: number | null, result: CellResult, extra: Record<string, unknown> = {}): Row => {
  const s = summarize(result.samples)
  return {
    mode,
    n,
    p50: round3(s.p50),
    p95: round3(s.p95),
    p99: round3(s.p99),
    throughput: round3(throughput(result)),
    mean: round3(s.mean),
    max: round3(s.max),
    count: s.count,
    errors: result.errors,
    ...(result.firstError !== undefined ? { firstError: result.firstError } : {}),
    ...extra,
    cdf: cdf(result.samples)
  }
}

/** A ratio target `a / b <= limit`. */
export const ratioTarget = (name: string, a: number | undefined, b: number | undefined, limit: number, detail?: string): Target => {
  const value = a !== undefined && b !== undefined && b > 0 ? a / b : Number.NaN
  return {
    name,
    goal: `<= ${limit}`,
    value: round3(value),
    met: Number.isFinite(value) ? value <= limit : null,
    ...(detail !== undefined ? { detail } : {})
  }
}

/** A ratio target `a / b >= limit`. */
export const minRatioTarget = (name: string, a: number | undefined, b: number | undefined, limit: number, detail?: string): Target => {
  const value = a !== undefined && b !== undefined && b > 0 ? a / b : Number.NaN
  return {
    name,
    goal: `>= ${limit}`,
    value: round3(value),
    met: Number.isFinite(value) ? value >= limit : null,
    ...(detail !== undefined ? { detail } : {})
  }
}

export const fmt = (x: number | undefined, digits = 2): string =>
  x === undefined || !Number.isFinite(x) ? "-" : Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(digits)
