/**
 * The closed-loop throughput part shared by the workflow suites (saga, chain): every engine at
 * every client concurrency, interleaved, running workflows of `n` steps; one row per cell.
 */
import { Effect } from "effect"
import type { Cell } from "../Measure"
import { interleaved } from "../Measure"
import type { Row, SuiteContext } from "../Suite"
import { rowOf } from "../Suite"

/** Something that runs one workflow of `n` steps, in one mode and storage latency. */
export interface WorkflowEngine {
  readonly mode: string
  readonly latency: number
  readonly execute: (id: string, n: number) => Effect.Effect<unknown, unknown>
}

export const throughputRows = (
  ctx: SuiteContext,
  options: {
    readonly suite: string
    readonly runId: string
    readonly engines: ReadonlyArray<WorkflowEngine>
    readonly concurrencies: ReadonlyArray<number>
    readonly n: number
  }
): Effect.Effect<Array<Row>> =>
  Effect.gen(function* () {
    const cells: Array<Cell & { readonly mode: string; readonly latency: number }> = []
    for (const c of options.concurrencies) {
      for (const e of options.engines) {
        cells.push({
          id: `${e.mode}@${e.latency}/c=${c}`,
          mode: e.mode,
          latency: e.latency,
          concurrency: c,
          request: (i) => e.execute(`${options.runId}-tp-${e.mode}-${e.latency}-${c}-${i}`, options.n)
        })
      }
    }
    const results = yield* interleaved(cells, {
      warmup: 0,
      rounds: ctx.quick ? 1 : 2,
      perRound: { millis: ctx.quick ? 800 : 1500 },
      timeoutMs: 60_000,
      progress: ctx.progress,
      label: `${options.suite} throughput (N=${options.n})`
    })
    return cells.map((c, k) =>
      rowOf(c.mode, options.n, results[k]!, { concurrency: c.concurrency, storageLatencyMs: c.latency, kind: "throughput" })
    )
  })
