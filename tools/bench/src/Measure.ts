/**
 * Interleaved measurement: the cells of a suite (one per mode and parameter) are measured in
 * rounds, each round visiting every cell once in a rotated order, so that drift of the machine
 * (other jobs, thermal, GC, disk) hits every mode alike. Each cell first gets a warm-up.
 *
 * A cell is a closed loop: `concurrency` workers each issue the cell's request, one after the other;
 * every request's latency is recorded (milliseconds). A round gives each cell either a number of
 * requests or a time budget. Throughput is completed requests over the time the cell was measured.
 * A request that fails or exceeds `timeoutMs` counts as an error (its time is not a sample).
 */
import { Cause, Duration, Effect } from "effect"
import { now } from "./Stats"

export interface Cell {
  readonly id: string
  readonly concurrency: number
  /** The i-th request of this cell (i is unique per cell: use it for ids). */
  readonly request: (i: number) => Effect.Effect<unknown, unknown>
}

export interface CellResult {
  readonly id: string
  readonly samples: Array<number>
  /** (completion time since the start of measurement, latency) of every measured request. */
  readonly timeline: Array<readonly [number, number]>
  ok: number
  errors: number
  /** Time spent measuring this cell (ms), summed over rounds. */
  elapsedMs: number
  firstError: string | undefined
}

export interface Plan {
  /** Requests per cell before measuring (at the cell's concurrency). */
  readonly warmup: number
  readonly rounds: number
  /** Per cell and round: a number of requests, or a time budget in ms. */
  readonly perRound: { readonly requests: number } | { readonly millis: number }
  /** A request slower than this is abandoned and counted as an error. Default 30 s. */
  readonly timeoutMs?: number
  readonly progress?: (line: string) => void
  /** A label for progress lines. */
  readonly label?: string
}

const describe = (cause: Cause.Cause<unknown>): string => {
  const text = Cause.pretty(cause)
  return text.split("\n").slice(0, 3).join(" ").slice(0, 300)
}

/** Runs `n` requests (or until `deadline`) with `concurrency` workers, recording into `result`. */
const batch = (
  cell: Cell,
  result: CellResult,
  counter: { next: number },
  budget: { readonly requests: number } | { readonly millis: number },
  origin: number,
  record: boolean,
  timeoutMs: number
) =>
  Effect.gen(function* () {
    const start = now()
    const deadline = "millis" in budget ? start + budget.millis : Number.POSITIVE_INFINITY
    let remaining = "requests" in budget ? budget.requests : Number.POSITIVE_INFINITY
    const worker = Effect.gen(function* () {
      while (remaining > 0 && now() < deadline) {
        remaining--
        const i = counter.next++
        const t0 = now()
        const exit = yield* Effect.exit(Effect.timeout(cell.request(i), Duration.millis(timeoutMs)))
        const t1 = now()
        if (!record) continue
        if (exit._tag === "Success") {
          result.ok++
          result.samples.push(t1 - t0)
          result.timeline.push([t1 - origin, t1 - t0])
        } else {
          result.errors++
          if (result.firstError === undefined) result.firstError = describe(exit.cause)
        }
      }
    })
    yield* Effect.forEach(Array.from({ length: cell.concurrency }), () => worker, { concurrency: "unbounded", discard: true })
    if (record) result.elapsedMs += now() - start
  })

/** Measures every cell as `plan` says; returns one result per cell, in the cells' order. */
export const interleaved = (cells: ReadonlyArray<Cell>, plan: Plan): Effect.Effect<Array<CellResult>> =>
  Effect.gen(function* () {
    const timeoutMs = plan.timeoutMs ?? 30_000
    const results = cells.map(
      (c): CellResult => ({ id: c.id, samples: [], timeline: [], ok: 0, errors: 0, elapsedMs: 0, firstError: undefined })
    )
    const counters = cells.map(() => ({ next: 0 }))
    const origin = now()
    if (plan.warmup > 0) {
      plan.progress?.(`${plan.label ?? "measure"}: warm-up (${plan.warmup} requests per cell, ${cells.length} cells)`)
      for (let c = 0; c < cells.length; c++) {
        yield* batch(cells[c]!, results[c]!, counters[c]!, { requests: plan.warmup }, origin, false, timeoutMs)
      }
    }
    for (let round = 0; round < plan.rounds; round++) {
      plan.progress?.(`${plan.label ?? "measure"}: round ${round + 1}/${plan.rounds}`)
      for (let k = 0; k < cells.length; k++) {
        const c = (k + round) % cells.length
        yield* batch(cells[c]!, results[c]!, counters[c]!, plan.perRound, origin, true, timeoutMs)
      }
    }
    return results
  })

/** Requests per second of a result. */
export const throughput = (r: CellResult): number => (r.elapsedMs > 0 ? r.ok / (r.elapsedMs / 1000) : Number.NaN)
