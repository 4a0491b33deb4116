/**
 * A small SVG chart writer (no dependency): line charts with linear or log axes, a legend, one
 * color per mode (the same in every chart). Enough for latency vs N, CDFs, throughput vs latency
 * and timelines.
 */

export interface Series {
  readonly name: string
  readonly points: ReadonlyArray<readonly [number, number]>
  readonly dashed?: boolean
  /** Draw points as dots (default: when the series has at most 30 points). */
  readonly markers?: boolean
  /** Draw only the points (a scatter), no line. */
  readonly scatter?: boolean
}

export interface ChartSpec {
  /** File name in the output directory, e.g. `saga-latency-vs-n.svg`. */
  readonly file: string
  readonly title: string
  readonly xLabel: string
  readonly yLabel: string
  readonly xLog?: boolean
  readonly yLog?: boolean
  readonly series: ReadonlyArray<Series>
  /** Vertical markers (e.g. the kill in a recovery timeline). */
  readonly vlines?: ReadonlyArray<{ readonly x: number; readonly label: string }>
  /** Horizontal markers (e.g. the physical floor). */
  readonly hlines?: ReadonlyArray<{ readonly y: number; readonly label: string }>
  readonly subtitle?: string
  /** A small line at the bottom right: the machine and the date of the run (set by the engine). */
  readonly footer?: string
}

const PALETTE: ReadonlyArray<readonly [string, string]> = [
  ["speculative", "#1b9e77"],
  ["durable", "#d95f02"],
  ["ephemeral", "#7570b3"],
  ["effect-sqlite", "#e7298a"],
  ["restate", "#66a61e"],
  ["dbos", "#a6761d"],
  ["plain", "#666666"]
]
const EXTRA = ["#1f78b4", "#e6ab02", "#b15928", "#6a3d9a", "#33a02c", "#fb9a99"]

/** A darker shade of a `#rrggbb` color (for the emulated-storage variant of a mode). */
const darker = (hex: string): string =>
  "#" +
  [1, 3, 5]
    .map((i) => Math.round(parseInt(hex.slice(i, i + 2), 16) * 0.5).toString(16).padStart(2, "0"))
    .join("")

export const colorOf = (name: string, index: number): string => {
  const lower = name.toLowerCase()
  // "durable +2ms": the same mode on emulated storage, in a darker shade of the mode's color.
  const emulated = /\s\+\d/.test(lower)
  for (const [mode, color] of PALETTE) if (lower.startsWith(mode)) return emulated ? darker(color) : color
  return EXTRA[index % EXTRA.length]!
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

const niceStep = (span: number, count: number): number => {
  const raw = span / Math.max(1, count)
  const mag = Math.pow(10, Math.floor(Math.log10(raw)))
  const norm = raw / mag
  return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag
}

const label = (v: number): string => {
  const a = Math.abs(v)
  if (a === 0) return "0"
  if (a >= 10000) return `${(v / 1000).toFixed(0)}k`
  if (a >= 100) return v.toFixed(0)
  if (a >= 10) return v.toFixed(a % 1 === 0 ? 0 : 1)
  if (a >= 1) return v.toFixed(a % 1 === 0 ? 0 : 1)
  if (a >= 0.1) return v.toFixed(2)
  return v.toPrecision(1)
}

interface Axis {
  readonly min: number
  readonly max: number
  readonly ticks: ReadonlyArray<number>
  readonly map: (v: number, length: number) => number
}

const axis = (values: ReadonlyArray<number>, log: boolean, includeZero: boolean): Axis => {
  const finite = values.filter((v) => Number.isFinite(v) && (!log || v > 0))
  let min = finite.length ? Math.min(...finite) : 0
  let max = finite.length ? Math.max(...finite) : 1
  if (log) {
    const lo = Math.pow(10, Math.floor(Math.log10(min)))
    const hi = Math.pow(10, Math.ceil(Math.log10(max)))
    const ticks: Array<number> = []
    for (let d = lo; d <= hi * 1.0001; d *= 10) {
      for (const m of [1, 2, 5]) if (d * m >= lo && d * m <= hi * 1.0001) ticks.push(d * m)
    }
    const l0 = Math.log10(lo)
    const l1 = Math.log10(hi === lo ? hi * 10 : hi)
    return { min: lo, max: hi, ticks, map: (v, length) => ((Math.log10(Math.max(v, lo)) - l0) / (l1 - l0)) * length }
  }
  if (includeZero) min = Math.min(0, min)
  if (max === min) max = min + 1
  const step = niceStep(max - min, 6)
  min = Math.floor(min / step) * step
  max = Math.ceil(max / step) * step
  const ticks: Array<number> = []
  for (let v = min; v <= max + step / 2; v += step) ticks.push(Math.round(v / step) * step)
  return { min, max, ticks, map: (v, length) => ((v - min) / (max - min)) * length }
}

/** The chart as an SVG document. */
export const render = (spec: ChartSpec): string => {
  const W = 760
  const H = 440
  const left = 70
  const right = 190
  const top = spec.subtitle ? 56 : 44
  const bottom = 62
  const pw = W - left - right
  const ph = H - top - bottom
  const xs = spec.series.flatMap((s) => s.points.map((p) => p[0])).concat((spec.vlines ?? []).map((v) => v.x))
  const ys = spec.series.flatMap((s) => s.points.map((p) => p[1])).concat((spec.hlines ?? []).map((h) => h.y))
  const xa = axis(xs, spec.xLog ?? false, false)
  const ya = axis(ys, spec.yLog ?? false, !(spec.yLog ?? false))
  const X = (v: number) => left + xa.map(v, pw)
  const Y = (v: number) => top + ph - ya.map(v, ph)
  const out: Array<string> = []
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`
  )
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`)
  out.push(`<text x="${left}" y="22" font-size="15" font-weight="bold">${esc(spec.title)}</text>`)
  if (spec.subtitle) out.push(`<text x="${left}" y="40" fill="#555">${esc(spec.subtitle)}</text>`)
  // Grid and ticks.
  for (const t of ya.ticks) {
    const y = Y(t)
    out.push(`<line x1="${left}" x2="${left + pw}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#e5e5e5"/>`)
    out.push(`<text x="${left - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end" fill="#333">${label(t)}</text>`)
  }
  for (const t of xa.ticks) {
    const x = X(t)
    out.push(`<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${top}" y2="${top + ph}" stroke="#f0f0f0"/>`)
    out.push(`<text x="${x.toFixed(1)}" y="${top + ph + 16}" text-anchor="middle" fill="#333">${label(t)}</text>`)
  }
  out.push(`<rect x="${left}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`)
  out.push(`<text x="${left + pw / 2}" y="${H - 22}" text-anchor="middle">${esc(spec.xLabel)}</text>`)
  out.push(
    `<text transform="translate(18 ${top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(spec.yLabel)}</text>`
  )
  for (const h of spec.hlines ?? []) {
    const y = Y(h.y)
    out.push(`<line x1="${left}" x2="${left + pw}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#444" stroke-dasharray="2 3"/>`)
    out.push(`<text x="${left + 4}" y="${(y - 4).toFixed(1)}" fill="#444" font-size="11">${esc(h.label)}</text>`)
  }
  for (const [k, v] of (spec.vlines ?? []).entries()) {
    const x = X(v.x)
    out.push(`<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${top}" y2="${top + ph}" stroke="#c00" stroke-dasharray="4 3"/>`)
    // Staggered: markers close together must not print over each other.
    out.push(`<text x="${(x + 4).toFixed(1)}" y="${top + 14 + k * 14}" fill="#c00" font-size="11">${esc(v.label)}</text>`)
  }
  // Series.
  spec.series.forEach((s, i) => {
    const color = colorOf(s.name, i)
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!spec.yLog || y > 0) && (!spec.xLog || x > 0))
    if (pts.length === 0) return
    if (!s.scatter) {
      const d = pts.map(([x, y], k) => `${k === 0 ? "M" : "L"}${X(x).toFixed(1)} ${Y(y).toFixed(1)}`).join(" ")
      out.push(
        `<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`
      )
    }
    if (s.scatter || (s.markers ?? pts.length <= 30)) {
      for (const [x, y] of pts) {
        out.push(`<circle cx="${X(x).toFixed(1)}" cy="${Y(y).toFixed(1)}" r="${s.scatter ? 1.8 : 3}" fill="${color}"${s.scatter ? ' fill-opacity="0.6"' : ""}/>`)
      }
    }
  })
  // Legend.
  spec.series.forEach((s, i) => {
    const color = colorOf(s.name, i)
    const y = top + 8 + i * 18
    const x = left + pw + 14
    out.push(
      `<line x1="${x}" x2="${x + 22}" y1="${y}" y2="${y}" stroke="${color}" stroke-width="2.5"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`
    )
    out.push(`<text x="${x + 28}" y="${y + 4}">${esc(s.name)}</text>`)
  })
  if (spec.footer) out.push(`<text x="${W - 8}" y="${H - 4}" text-anchor="end" fill="#777" font-size="9">${esc(spec.footer)}</text>`)
  out.push(`</svg>`)
  return out.join("\n") + "\n"
}
