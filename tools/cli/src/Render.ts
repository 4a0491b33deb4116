/**
 * Plain-text output: tables padded to their widest cell, colors on a terminal (not when piped, or
 * with NO_COLOR), byte sizes and latency figures.
 */
export type Cell = string | number

const colorOn = (): boolean => process.stdout.isTTY === true && process.env.NO_COLOR === undefined && process.env.TERM !== "dumb"

const paint = (code: string) => (text: string) => (colorOn() ? `\x1b[${code}m${text}\x1b[0m` : text)
export const bold = paint("1")
export const dim = paint("2")
export const green = paint("32")
export const red = paint("31")
export const yellow = paint("33")
export const cyan = paint("36")

/** The visible width of a string (without ANSI escapes). */
const width = (text: string): number => text.replace(/\x1b\[[0-9;]*m/g, "").length

const pad = (text: string, n: number, right: boolean) => {
  const fill = " ".repeat(Math.max(0, n - width(text)))
  return right ? fill + text : text + fill
}

const format = (cell: Cell): string =>
  typeof cell === "number" ? (Number.isNaN(cell) ? "-" : Number.isInteger(cell) ? String(cell) : cell.toFixed(1)) : cell

/** A table: the first column left-aligned, numbers right-aligned. */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<Cell>>, indent = ""): string => {
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === "number"))
  const cells = [header.map((h) => h), ...rows.map((r) => r.map(format))]
  const widths = header.map((_, i) => Math.max(...cells.map((r) => width(r[i] ?? ""))))
  const line = (r: ReadonlyArray<string>) =>
    indent + r.map((c, i) => pad(c, widths[i]!, numeric[i]! && i > 0)).join("  ").trimEnd()
  return [bold(line(cells[0]!)), ...cells.slice(1).map(line)].join("\n")
}

export const bytes = (n: number): string =>
  n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`

export const ms = (n: number): string => (Number.isNaN(n) ? "-" : n >= 100 ? `${n.toFixed(0)} ms` : `${n.toFixed(1)} ms`)

/** Nearest-rank percentile of sorted samples. */
export const percentile = (sorted: ReadonlyArray<number>, p: number): number => {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]!
}

export interface Summary {
  readonly count: number
  readonly p50: number
  readonly p95: number
  readonly p99: number
  readonly mean: number
}

export const summarize = (samples: ReadonlyArray<number>): Summary => {
  const sorted = samples.slice().sort((a, b) => a - b)
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    mean: sorted.length ? sorted.reduce((x, y) => x + y, 0) / sorted.length : Number.NaN
  }
}
