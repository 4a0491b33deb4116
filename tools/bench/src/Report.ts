/**
 * What a run produces: the report object (also `results.json`), its JSON document for scripts
 * (`--json`), the text tables printed on stdout, and the markdown report.
 */
import type { Floor } from "./Floor"
import type { Row, SuiteResult, Target, TextTable } from "./Suite"
import { fmt } from "./Suite"
import type { Cell } from "./Table"
import { render as renderTable } from "./Table"

export interface Meta {
  readonly date: string
  readonly cores: number
  readonly cpu: string
  readonly memoryGiB: number
  readonly node: string
  readonly platform: string
  readonly loadAverage: { readonly start: ReadonlyArray<number>; readonly end: ReadonlyArray<number> }
  readonly quick: boolean
  readonly storageLatencyMs: number
  readonly durationS: number
  readonly commit: string | undefined
  readonly command: string
}

export interface SuiteReport {
  readonly name: string
  readonly title: string
  readonly description: string
  readonly modes: ReadonlyArray<string>
  readonly requiredModes: ReadonlyArray<string>
  readonly durationS: number
  readonly result: SuiteResult | undefined
  /** Why the suite produced nothing (it failed, or is not available yet). */
  readonly error: string | undefined
}

export interface BenchReport {
  readonly meta: Meta
  readonly floor: Floor | undefined
  readonly suites: ReadonlyArray<SuiteReport>
  /** Where results.json, report.md and the charts were written. */
  readonly outDir: string
  readonly files: ReadonlyArray<string>
}

const clean = (value: unknown): unknown => {
  if (typeof value === "number") return Number.isFinite(value) ? value : null
  if (Array.isArray(value)) return value.map(clean)
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = clean(v)
    return out
  }
  return value
}

/**
 * The `--json` document: `{ "suites": { "<suite>": { "rows": [ { mode, n, p50, p95, p99, throughput, ... } ] } } }`
 * (milliseconds and per-second figures; null where a figure does not apply), plus meta, floor,
 * targets, notes and skipped peers.
 */
export const toJson = (report: BenchReport, options: { readonly cdf?: boolean } = {}): unknown => {
  const suites: Record<string, unknown> = {}
  for (const s of report.suites) {
    suites[s.name] = {
      title: s.title,
      rows: (s.result?.rows ?? []).map((r) => {
        if (options.cdf) return r
        const { cdf: _cdf, ...rest } = r as Row & { cdf?: unknown }
        return rest
      }),
      targets: s.result?.targets ?? [],
      notes: s.result?.notes ?? [],
      skipped: s.result?.skipped ?? [],
      ...(s.error !== undefined ? { error: s.error } : {}),
      durationS: s.durationS
    }
  }
  return clean({ meta: report.meta, floor: report.floor, suites, outDir: report.outDir })
}

/** How a target reads in a report: met, or missed by how much. */
export const verdict = (t: Target): string => {
  if (t.met === null) return "not measured"
  if (t.met) return "met"
  const limit = Number(t.goal.replace(/[^0-9.]/g, ""))
  if (t.goal.startsWith("<=")) return `MISSED by ${fmt(t.value / limit, 1)}x`
  return `MISSED: ${fmt(t.value, 2)} of ${limit} (${fmt((t.value / limit) * 100, 0)}%)`
}

const mdEscape = (s: string) => s.replace(/\|/g, "\\|")
const format = (cell: Cell): string => {
  if (typeof cell === "number") {
    if (!Number.isFinite(cell)) return "-"
    if (Number.isInteger(cell)) return String(cell)
    return Math.abs(cell) >= 100 ? cell.toFixed(0) : Math.abs(cell) >= 10 ? cell.toFixed(1) : cell.toFixed(3)
  }
  return cell
}

export const markdownTable = (t: Pick<TextTable, "header" | "rows">): string => {
  const lines = [`| ${t.header.map(mdEscape).join(" | ")} |`, `|${t.header.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`]
  for (const r of t.rows) lines.push(`| ${r.map((c) => mdEscape(format(c))).join(" | ")} |`)
  return lines.join("\n")
}

const floorRows = (f: Floor): Array<Array<Cell>> => [
  ["fsync'd sqlite commit (WAL, synchronous=FULL, 1 row)", f.sqliteCommit.p50, f.sqliteCommit.p95, f.sqliteCommit.p99, f.sqliteCommit.count],
  ["write + fdatasync (64 bytes)", f.fdatasync.p50, f.fdatasync.p95, f.fdatasync.p99, f.fdatasync.count],
  ["loopback TCP round trip between processes (64 bytes)", f.loopbackRtt.p50, f.loopbackRtt.p95, f.loopbackRtt.p99, f.loopbackRtt.count]
]
const FLOOR_HEADER = ["floor", "p50 ms", "p95 ms", "p99 ms", "samples"]

export const allTargets = (report: BenchReport): Array<Target & { readonly suite: string }> =>
  report.suites.flatMap((s) => (s.result?.targets ?? []).map((t) => ({ ...t, suite: s.name })))

const machineLine = (m: Meta) =>
  `${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB RAM, Node ${m.node} on ${m.platform}; load average at start ${m.loadAverage.start
    .map((x) => x.toFixed(2))
    .join(" ")}, at end ${m.loadAverage.end.map((x) => x.toFixed(2)).join(" ")}`

const storageLine = (m: Meta) =>
  m.storageLatencyMs > 0
    ? `Storage: EMULATED replicated storage (--storage-latency ${m.storageLatencyMs}): where a row says so, every durable checkpoint write completes ${m.storageLatencyMs} ms after its fsync; rows marked "local" are the unemulated local-disk figures of the same run.`
    : "Storage: local disk only (sqlite, WAL, synchronous=FULL, fsync per checkpoint write); no emulated latency."

/** The tables as plain text (stdout of `dse bench`). */
export const renderText = (report: BenchReport): string => {
  const out: Array<string> = []
  const m = report.meta
  out.push(`dse bench, ${m.date}${m.quick ? " (quick)" : ""}`)
  out.push(`machine: ${machineLine(m)}`)
  out.push(storageLine(m))
  if (report.floor) {
    out.push("", "Physical floor of this machine", "", renderTable(FLOOR_HEADER, floorRows(report.floor)))
  }
  for (const s of report.suites) {
    out.push("", `== ${s.name}: ${s.title} (${s.durationS.toFixed(0)} s)`)
    if (s.error !== undefined) {
      out.push(`   no results: ${s.error}`)
      continue
    }
    const r = s.result!
    for (const t of r.tables) {
      out.push("", t.title, "", renderTable(t.header, t.rows))
      if (t.note) out.push(t.note)
    }
    for (const n of r.notes) out.push(`note: ${n}`)
    for (const k of r.skipped) out.push(`skipped ${k.mode}: ${k.reason}`)
    if (r.targets.length > 0) {
      out.push("", "targets (ratios from this run; not asserted):")
      for (const t of r.targets) out.push(`  ${t.name}: ${fmt(t.value, 3)} (goal ${t.goal}) -> ${verdict(t)}${t.detail ? ` (${t.detail})` : ""}`)
    }
  }
  out.push("", `results: ${report.outDir}`)
  return out.join("\n")
}

/** The markdown report (report.md), charts linked relative to it. */
export const renderMarkdown = (report: BenchReport, options: { readonly chartPrefix?: string; readonly heading?: string } = {}): string => {
  const prefix = options.chartPrefix ?? ""
  const m = report.meta
  const out: Array<string> = []
  out.push(`${options.heading ?? "#"} dse benchmark results, ${m.date}${m.quick ? " (quick run: too few samples for conclusions)" : ""}`, "")
  out.push(`- Machine: ${machineLine(m)}`)
  out.push(`- ${storageLine(m)}`)
  out.push(`- Command: \`${m.command}\`; took ${m.durationS.toFixed(0)} s${m.commit ? `; commit ${m.commit}` : ""}`)
  out.push(
    "- Every suite compares its modes in this one run on this machine, interleaved (rounds that visit every mode in rotated order), so drift hits all modes alike. Compare ratios, not absolute times.",
    ""
  )
  if (report.floor) {
    out.push("## Physical floor of this machine", "", markdownTable({ header: FLOOR_HEADER, rows: floorRows(report.floor) }), "")
  }
  const targets = allTargets(report)
  if (targets.length > 0) {
    out.push("## Targets (ratios from this run, not asserted)", "")
    out.push(
      markdownTable({
        header: ["suite", "target", "goal", "measured", "verdict"],
        rows: targets.map((t) => [t.suite, t.name, t.goal, fmt(t.value, 3), verdict(t)])
      }),
      ""
    )
  }
  for (const s of report.suites) {
    out.push(`## \`${s.name}\`: ${s.title}`, "", s.description, "")
    if (s.error !== undefined) {
      out.push(`**No results:** ${s.error}`, "")
      continue
    }
    const r = s.result!
    for (const t of r.tables) {
      out.push(`### ${t.title}`, "", markdownTable(t), "")
      if (t.note) out.push(t.note, "")
    }
    if (r.notes.length > 0 || r.skipped.length > 0) {
      for (const n of r.notes) out.push(`- ${n}`)
      for (const k of r.skipped) out.push(`- **${k.mode} skipped:** ${k.reason}`)
      out.push("")
    }
    for (const c of r.charts) out.push(`![${c.title}](${prefix}${c.file})`, "")
  }
  return out.join("\n")
}
