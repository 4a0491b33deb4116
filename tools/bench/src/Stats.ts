/**
 * Latency and throughput figures of a benchmark run. Percentiles are nearest-rank over the
 * recorded samples (milliseconds).
 */
export interface Summary {
  readonly count: number
  readonly p50: number
  readonly p95: number
  readonly p99: number
  readonly mean: number
  readonly max: number
}

export const percentile = (sorted: ReadonlyArray<number>, p: number): number => {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]!
}

export const summarize = (samples: ReadonlyArray<number>): Summary => {
  const sorted = samples.slice().sort((a, b) => a - b)
  const sum = sorted.reduce((x, y) => x + y, 0)
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    mean: sorted.length ? sum / sorted.length : Number.NaN,
    max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN
  }
}

/** Milliseconds since an arbitrary origin, with sub-microsecond resolution. */
export const now = (): number => performance.now()
