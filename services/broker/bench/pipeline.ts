/**
 * The event-processing experiment of the paper, on the broker: the 3-stage sensor pipeline
 * (filter/map -> running total per key -> alert per threshold crossing) over real processes (a
 * coordinator, two broker processes, the processor process), fed at a fixed rate by an outside
 * producer; an outside committed consumer reads the alerts. Every reading yields exactly one alert
 * (amount 1, threshold 1), so each reading's end-to-end latency is measured: from just before it is
 * produced at the source to its committed delivery at the sink.
 *
 * Configurations, side by side in one run: speculative and durable mode at checkpoint (seal)
 * periods of 10 ms and 500 ms, and ephemeral as the floor. Bytes written to storage are the broker
 * processes' `write_bytes` (/proc/<pid>/io: what reached the block layer, sqlite WAL and fsyncs
 * included) over the measured run.
 *
 *   node --import tsx bench/pipeline.ts [--quick] [--rate N] [--seconds S] [--write-latency MS]
 *                                       [--setups processes,single-process] [--configs speculative:10,durable:500]
 *
 * As a library (tools/bench's `pipeline` suite): `run(options)` returns one `Row` per (setup,
 * configuration); `PipelineBench.run` of the package index loads this module on first use.
 * `quick: true` runs the single-process setup only, 2 s per configuration (well under a minute).
 */
import { Coordinator } from "@dse/coordinator"
import { Dse } from "@dse/core"
import { MemoryClusterStateStore, SqliteCheckpointStore } from "@dse/storage"
import type { Scope } from "effect"
import { Effect, Fiber, Layer, Schedule, Stream } from "effect"
import * as Broker from "../src/Broker"
import type { BrokerClientService } from "../src/BrokerClient"
import { BrokerClient } from "../src/BrokerClient"
import * as BrokerLocal from "../src/BrokerLocal"
import * as Pipeline from "../src/Pipeline"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { parseArgs } from "node:util"
import * as BrokerProcess from "../src/BrokerProcess"
import * as Topics from "../src/Topics"
import * as Sensor from "../test/fixtures/sensorPipeline"
import type { Proc } from "../test/process/processes"
import { broker, coordinator, pipeline } from "../test/process/processes"

export interface Config {
  readonly mode: "speculative" | "durable" | "ephemeral"
  readonly sealPeriodMs: number
}

export const CONFIGS: ReadonlyArray<Config> = [
  { mode: "speculative", sealPeriodMs: 10 },
  { mode: "durable", sealPeriodMs: 10 },
  { mode: "speculative", sealPeriodMs: 500 },
  { mode: "durable", sealPeriodMs: 500 },
  { mode: "ephemeral", sealPeriodMs: 10 }
]

export type Setup = "processes" | "single-process"

export interface Row {
  readonly setup: Setup
  readonly mode: string
  readonly sealPeriodMs: number
  /** Readings produced while measuring, and how many of those produce calls failed (not appended). */
  readonly produced: number
  readonly failedProduces: number
  /** Alerts delivered for them (the latency samples). */
  readonly events: number
  readonly p50: number
  readonly p95: number
  readonly p99: number
  readonly max: number
  /** Delivered measured events per second of the measured window (the offered rate when the pipeline keeps up). */
  readonly throughput: number
  /** Bytes written to storage during the measured window (see the module comment). */
  readonly bytesWritten: number
  readonly bytesPerEvent: number
}

export interface Options {
  /** Short run: single-process setup only (unless `setups` says otherwise), 2 s per configuration, 50 readings/s. */
  readonly quick?: boolean
  /** Readings per second. Default 100 (quick: 50). */
  readonly rate?: number
  /** Measured seconds per configuration. Default 8 (quick: 2). */
  readonly seconds?: number
  readonly partitions?: number
  readonly configs?: ReadonlyArray<Config>
  /**
   * Extra latency of every durable write, after its fsync (SqliteCheckpointStore's emulation of
   * replicated storage; the paper's setting). Default 0: the local disk's fsync.
   */
  readonly writeLatencyMs?: number
  /** Default both (quick: single-process): real processes over TCP, then everything in this process (no network, same sqlite store). */
  readonly setups?: ReadonlyArray<Setup>
  readonly log?: (line: string) => void
}

const writeBytesOf = (proc: Pick<Proc, "pid">): number => {
  try {
    const io = fs.readFileSync(`/proc/${proc.pid}/io`, "utf8")
    const m = /^write_bytes:\s*(\d+)/m.exec(io)
    return m ? Number(m[1]) : Number.NaN
  } catch {
    return Number.NaN
  }
}

/** Nearest-rank percentile of sorted samples. */
const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!

const summarize = (samples: ReadonlyArray<number>) => {
  const sorted = samples.slice().sort((a, b) => a - b)
  return {
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.length > 0 ? sorted[sorted.length - 1]! : Number.NaN
  }
}

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "dse-broker-bench-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** Starts the cluster of one configuration; returns the client and what to read bytes written from. */
type Started = { readonly client: BrokerClientService; readonly writeBytes: () => number }

const startProcesses = (config: Config, partitions: number, writeLatencyMs: number): Effect.Effect<Started, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const dataDir = yield* tempDir
    const topics = Topics.make(Sensor.topics(partitions))
    const spec = Topics.format(topics)
    const common = [
      "--topics",
      spec,
      "--mode",
      config.mode,
      "--seal-period",
      String(config.sealPeriodMs),
      "--write-latency",
      String(writeLatencyMs)
    ]
    yield* coordinator(dataDir)
    const brokers = [
      yield* broker(dataDir, "broker-a", [...common, "--serve", "readings,totals"]),
      yield* broker(dataDir, "broker-b", [...common, "--serve", "clean,alerts"])
    ]
    yield* pipeline(dataDir, "pipeline", ["--topics", spec, "--threshold", "1", "--max-batch", "50"])
    const client = yield* BrokerProcess.connect({ dataDir, topics, timeout: "10 seconds" })
    return { client, writeBytes: () => brokers.map(writeBytesOf).reduce((a, b) => a + b, 0) }
  })

const startSingleProcess = (config: Config, partitions: number, writeLatencyMs: number): Effect.Effect<Started, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const dataDir = yield* tempDir
    const runtime = yield* Layer.build(
      Layer.provideMerge(
        Dse.layer({ mode: config.mode, sealPeriod: `${config.sealPeriodMs} millis` }),
        Layer.merge(
          Coordinator.layerClient.pipe(Layer.provide(Coordinator.layer), Layer.provide(MemoryClusterStateStore.layer)),
          SqliteCheckpointStore.layer({ dataDir, extraWriteLatencyMs: writeLatencyMs })
        )
      )
    )
    const node = yield* Broker.make({ topics: Sensor.topics(partitions) }).pipe(Effect.provide(runtime))
    const client = BrokerLocal.client(node)
    yield* Effect.forkScoped(
      Pipeline.run(Sensor.pipeline({ threshold: 1, maxBatch: 50 })).pipe(Effect.provideService(BrokerClient, client))
    )
    return { client, writeBytes: () => writeBytesOf({ pid: process.pid }) }
  })

interface Resolved {
  readonly rate: number
  readonly seconds: number
  readonly partitions: number
  readonly writeLatencyMs: number
  /** Pause after the first delivery before measuring, and the longest wait for the measured events to drain. */
  readonly warmMs: number
  readonly drainMs: number
}

const runConfig = (setup: Setup, config: Config, options: Resolved) =>
  Effect.gen(function* () {
    const { client, writeBytes } = yield* (setup === "processes" ? startProcesses : startSingleProcess)(
      config,
      options.partitions,
      options.writeLatencyMs
    )
    const latencies: Array<number> = []
    let measuring = false
    let warm = false
    for (let p = 0; p < options.partitions; p++) {
      yield* Effect.forkScoped(
        Stream.runForEach(client.consume("alerts", p, { from: 0, mode: "committed" }), (e) =>
          Effect.sync(() => {
            warm = true
            const at = (e.value as Sensor.Alert).at
            // Readings produced while measuring carry their produce time (the others -1).
            if (at !== undefined && at >= 0) latencies.push(performance.now() - at)
          })
        )
      )
    }
    const keys = Array.from({ length: 8 }, (_, i) => `k${i}`)
    let n = 0
    let sent = 0
    let failed = 0
    const produceOne = Effect.suspend(() => {
      const key = keys[n++ % keys.length]!
      const at = measuring ? performance.now() : -1
      if (at >= 0) sent++
      return client.produce("readings", { key, value: { key, amount: 1, at } }).pipe(
        Effect.catchAll(() =>
          Effect.sync(() => {
            if (at >= 0) failed++
          })
        )
      )
    })
    // Open loop: one reading every 1000/rate ms, whatever the replies' latency.
    const source = yield* Effect.forkScoped(
      Effect.repeat(Effect.forkScoped(produceOne), Schedule.spaced(`${1000 / options.rate} millis`))
    )
    // Warm up until the pipeline delivers, plus a moment.
    yield* Effect.repeat(Effect.sync(() => warm), { until: (w) => w, schedule: Schedule.spaced("50 millis") }).pipe(
      Effect.timeout("120 seconds")
    )
    yield* Effect.sleep(`${options.warmMs} millis`)
    const before = writeBytes()
    measuring = true
    yield* Effect.sleep(`${options.seconds} seconds`)
    measuring = false
    // Let the measured readings drain to the sink (a failed produce was never appended: no alert to wait for).
    yield* Effect.repeat(Effect.sync(() => latencies.length), {
      until: (count) => count >= sent - failed,
      schedule: Schedule.spaced("50 millis")
    }).pipe(Effect.timeout(`${options.drainMs} millis`), Effect.ignore)
    const bytes = writeBytes() - before
    yield* Fiber.interrupt(source)
    const s = summarize(latencies)
    const row: Row = {
      setup,
      mode: config.mode,
      sealPeriodMs: config.sealPeriodMs,
      produced: sent,
      failedProduces: failed,
      events: latencies.length,
      p50: s.p50,
      p95: s.p95,
      p99: s.p99,
      max: s.max,
      throughput: latencies.length / options.seconds,
      bytesWritten: bytes,
      bytesPerEvent: latencies.length > 0 ? bytes / latencies.length : Number.NaN
    }
    return row
  }).pipe(Effect.scoped)

/** Runs every configuration, one after the other, each on fresh processes and a fresh data directory. */
export const run = (options: Options = {}): Effect.Effect<ReadonlyArray<Row>, unknown> =>
  Effect.gen(function* () {
    const quick = options.quick === true
    const resolved: Resolved = {
      rate: options.rate ?? (quick ? 50 : 100),
      seconds: options.seconds ?? (quick ? 2 : 8),
      partitions: options.partitions ?? 2,
      writeLatencyMs: options.writeLatencyMs ?? 0,
      warmMs: quick ? 300 : 1000,
      drainMs: quick ? 10_000 : 30_000
    }
    const rows: Array<Row> = []
    for (const setup of options.setups ?? (quick ? (["single-process"] as const) : (["processes", "single-process"] as const))) {
      for (const config of options.configs ?? CONFIGS) {
        options.log?.(`pipeline (${setup}): ${config.mode}, seal period ${config.sealPeriodMs} ms ...`)
        rows.push(yield* runConfig(setup, config, resolved))
      }
    }
    return rows
  })

/** The rows as a plain-text table (numbers right-aligned, 1 decimal below 100). */
export const table = (rows: ReadonlyArray<Row>): string => {
  const header = ["setup", "mode", "seal ms", "produced", "failed", "delivered", "p50 ms", "p95 ms", "p99 ms", "max ms", "events/s", "MB written", "bytes/event"]
  const cell = (x: string | number): string =>
    typeof x === "string" ? x : Number.isNaN(x) ? "-" : Math.abs(x) >= 100 || Number.isInteger(x) ? String(Math.round(x)) : x.toFixed(1)
  const body = rows.map((r) =>
    [
      r.setup,
      r.mode,
      r.sealPeriodMs,
      r.produced,
      r.failedProduces,
      r.events,
      r.p50,
      r.p95,
      r.p99,
      r.max,
      r.throughput,
      Number((r.bytesWritten / 1e6).toFixed(2)),
      Math.round(r.bytesPerEvent)
    ].map(cell)
  )
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((line) => line[c]!.length)))
  const line = (cells: ReadonlyArray<string>) => cells.map((x, c) => (c < 2 ? x.padEnd(widths[c]!) : x.padStart(widths[c]!))).join("  ")
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n")
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith("bench/pipeline.ts")) {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      rate: { type: "string" },
      seconds: { type: "string" },
      /** e.g. "speculative:10,durable:10" */
      configs: { type: "string" },
      /** "processes", "single-process" or both (default) */
      setups: { type: "string" },
      "write-latency": { type: "string" }
    }
  })
  const options: Options = {
    quick: values.quick,
    ...(values.rate !== undefined ? { rate: Number(values.rate) } : {}),
    ...(values.seconds !== undefined ? { seconds: Number(values.seconds) } : {}),
    writeLatencyMs: values["write-latency"] !== undefined ? Number(values["write-latency"]) : 0,
    log: (line) => process.stderr.write(`${line}\n`),
    ...(values.setups !== undefined ? { setups: values.setups.split(",") as Array<Setup> } : {}),
    ...(values.configs !== undefined
      ? {
          configs: values.configs.split(",").map((c) => {
            const [mode, seal] = c.split(":")
            return { mode: mode as Config["mode"], sealPeriodMs: Number(seal ?? 10) }
          })
        }
      : {})
  }
  Effect.runPromise(run(options)).then(
    (rows) => {
      process.stdout.write(
        `3-stage event pipeline over the broker (${os.cpus().length} CPUs): produce at the source -> committed delivery at the sink, ` +
          `${options.rate ?? (options.quick ? 50 : 100)} readings/s, ${options.seconds ?? (options.quick ? 2 : 8)} s measured per row, ` +
          `extra write latency ${options.writeLatencyMs} ms, ` +
          `load average ${os.loadavg().map((l) => l.toFixed(1)).join(" ")}\n\n`
      )
      process.stdout.write(`${table(rows)}\n`)
    },
    (error) => {
      process.stderr.write(`${String(error)}\n`)
      process.exit(1)
    }
  )
}
