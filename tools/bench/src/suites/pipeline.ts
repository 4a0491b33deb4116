/**
 * `pipeline`: the paper's event-processing experiment on the broker, run by services/broker's own
 * benchmark (services/broker/bench/pipeline.ts, `run(options)`): a 3-stage sensor pipeline
 * (filter/map -> running total per key -> alert per threshold crossing) over real processes (a
 * coordinator, two broker processes, the processor process), fed at a fixed rate by an outside
 * producer; end-to-end latency from produce at the source to committed delivery at the sink, and
 * bytes written to storage, for speculative and durable mode at seal periods of 10 and 500 ms, and
 * ephemeral. Each configuration runs on fresh processes, one after the other (not interleaved:
 * every configuration needs its own cluster).
 */
import { Effect } from "effect"
import type { Row, Suite } from "../Suite"
import { round3 } from "../Suite"

type PipelineModule = typeof import("../../../../services/broker/bench/pipeline")

const toRow = (r: PipelineModule extends { run: (...a: any) => Effect.Effect<ReadonlyArray<infer R>, any> } ? R : never, storageLatencyMs: number, seconds: number): Row => ({
  mode: r.mode,
  n: r.sealPeriodMs,
  p50: round3(r.p50),
  p95: round3(r.p95),
  p99: round3(r.p99),
  throughput: round3(r.events / seconds),
  sealPeriodMs: r.sealPeriodMs,
  storageLatencyMs,
  setup: r.setup,
  produced: r.produced,
  failedProduces: r.failedProduces,
  events: r.events,
  max: round3(r.max),
  bytesWritten: r.bytesWritten,
  bytesPerEvent: round3(r.bytesPerEvent)
})

export const suite: Suite = {
  name: "pipeline",
  title: "Broker pipeline: produce-to-committed-delivery latency",
  description:
    "services/broker's pipeline benchmark: a 3-stage processor pipeline over real broker processes fed at a fixed rate by an outside producer; " +
    "end-to-end latency (produce at the source to committed delivery at the sink) and bytes written to storage, speculative vs durable at seal periods " +
    "of 10 and 500 ms, and ephemeral. Rows: n = seal period (ms); throughput = delivered events per second (the offered rate).",
  modes: ["speculative", "durable", "ephemeral"],
  requiredModes: ["speculative", "durable", "ephemeral"],
  run: (ctx) =>
    Effect.gen(function* () {
      const Pipeline: PipelineModule = yield* Effect.tryPromise(() => import("../../../../services/broker/bench/pipeline"))
      const seconds = ctx.quick ? 1 : 6
      const rate = ctx.quick ? 50 : 100
      const latencies = [0, ...(ctx.storageLatencyMs > 0 ? [ctx.storageLatencyMs] : [])]
      const rows: Array<Row> = []
      for (const writeLatencyMs of latencies) {
        // Each configuration starts 4 processes of its own: --quick keeps the 10 ms seal period only.
        const configs = ctx.quick ? Pipeline.CONFIGS.filter((c) => c.sealPeriodMs === 10) : Pipeline.CONFIGS
        const result = yield* Pipeline.run({ rate, seconds, writeLatencyMs, configs, setups: ["processes"], log: ctx.progress })
        rows.push(...result.map((r) => toRow(r, writeLatencyMs, seconds)))
      }
      const L = ctx.storageLatencyMs
      return {
        rows,
        tables: [
          {
            title: `Pipeline end-to-end latency (ms), ${rate} events/s for ${seconds} s per configuration`,
            header: ["mode", "storage", "seal ms", "produced", "failed", "delivered", "p50", "p95", "p99", "max", "MB written", "bytes/event"],
            rows: rows.map((r) => [
              r.mode,
              r.storageLatencyMs ? `+${r.storageLatencyMs} ms` : "local",
              r.n!,
              r.produced as number,
              r.failedProduces as number,
              r.events as number,
              r.p50,
              r.p95,
              r.p99,
              r.max as number,
              (r.bytesWritten as number) / 1e6,
              Math.round(r.bytesPerEvent as number)
            ])
          }
        ],
        charts: [],
        notes: [
          "Bytes written: the broker processes' write_bytes (/proc/<pid>/io) over the measured run (sqlite WAL and fsyncs included).",
          ...(L > 0 ? [`--storage-latency ${L}: rows marked +${L} ms ran with every durable checkpoint write completing ${L} ms after its fsync.`] : [])
        ],
        skipped: [],
        targets: []
      }
    })
}
