/**
 * The broker's pipeline benchmark (bench/pipeline.ts), loaded on first use so that importing the
 * package does not load the benchmark's process helpers:
 *
 *   const rows = yield* PipelineBench.run({ quick: true })   // or { rate, seconds, configs, setups, writeLatencyMs, log }
 *   // rows: [{ setup, mode, sealPeriodMs, p50, p95, p99, max, throughput, bytesWritten, bytesPerEvent, produced, failedProduces, events }]
 *   console.log(PipelineBench.table(rows))
 *
 * End-to-end latency is from just before a reading is produced at the source (an outside producer)
 * to its alert's committed delivery at the sink (an outside committed consumer), in ms.
 */
import { Effect } from "effect"
import type * as Bench from "../bench/pipeline"

export type Options = Bench.Options
export type Row = Bench.Row
export type Config = Bench.Config
export type Setup = Bench.Setup

const load = Effect.promise(() => import("../bench/pipeline"))

/** Runs the configurations (default: speculative and durable at seal periods 10 and 500 ms, and ephemeral). */
export const run = (options: Options = {}): Effect.Effect<ReadonlyArray<Row>, unknown> => Effect.flatMap(load, (bench) => bench.run(options))

/** The rows as a plain-text table. */
export const table = (rows: ReadonlyArray<Row>): Effect.Effect<string> => Effect.map(load, (bench) => bench.table(rows))
