/**
 * What a persist costs, as seen from the caller's event loop, and how long it takes to be durable.
 *
 *   pnpm exec tsx libs/storage/bench/persist.ts [rounds]
 *
 * For deltas of 1, 100 and 1000 keys it prints:
 * - persist p50/p99: from the call to completion, fsync'd commit included (sequential persists);
 * - call (sync) p50/max: time the call itself holds the main thread (clone + postMessage);
 * - main busy/persist: main-thread time per persist (event-loop utilization: includes the Effect
 *   runtime, the clone, postMessage and handling the reply; on a loaded machine also preemption);
 * - loop delay p99/max: monitorEventLoopDelay (1 ms resolution) while persists run back to back:
 *   how late the event loop serves a timer, i.e. the stall other work sees;
 * - main-thread sqlite p50/max: the same transaction done synchronously on the main thread with
 *   better-sqlite3 (WAL, synchronous=FULL), where the whole fsync'd commit is an event-loop stall.
 */
import Database from "better-sqlite3"
import type { Delta } from "@dse/core"
import { version, worldLine } from "@dse/core"
import { Effect, Exit, Fiber, Scope } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { monitorEventLoopDelay } from "node:perf_hooks"
import * as v8 from "node:v8"
import * as SqliteCheckpointStore from "../src/SqliteCheckpointStore"

const rounds = Number(process.argv[2] ?? 200)
const sizes = [1, 100, 1000]

const deltaOf = (keys: number, v: number): Delta =>
  Array.from({ length: keys }, (_, i) => [`key-${i}`, { id: i, v, name: `item ${i}`, tags: ["a", "b"], score: i * 1.5 }] as const)

const quantile = (xs: ReadonlyArray<number>, q: number) => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN
}
const maxOf = (xs: ReadonlyArray<number>) => xs.reduce((m, x) => (x > m ? x : m), 0)
const ms = (x: number) => (x < 1 ? x.toFixed(3) : x.toFixed(2))

/** Runs `body` under monitorEventLoopDelay: how late a 1 ms timer fires, in ms. */
const withDelayMonitor = async (body: () => Promise<void>) => {
  const histogram = monitorEventLoopDelay({ resolution: 1 })
  histogram.enable()
  await body()
  histogram.disable()
  // Nanoseconds; the monitor's own 1 ms resolution is subtracted, so 0 means "on time".
  const late = (ns: number) => Math.max(0, ns / 1e6 - 1)
  return { p50: late(histogram.percentile(50)), p99: late(histogram.percentile(99)), max: late(histogram.max) }
}

const mainThreadBaseline = (dataDir: string, keys: number) => {
  const db = new Database(path.join(dataDir, `baseline-${keys}.db`))
  db.pragma("journal_mode = WAL")
  db.pragma("synchronous = FULL")
  if (db.pragma("synchronous", { simple: true }) !== 2) throw new Error("synchronous is not FULL")
  db.exec(`CREATE TABLE checkpoints (version INTEGER PRIMARY KEY, world_line INTEGER, deps TEXT, created_at INTEGER);
           CREATE TABLE deltas (version INTEGER, key TEXT, value BLOB, PRIMARY KEY (version, key));`)
  const cp = db.prepare("INSERT INTO checkpoints VALUES (?, ?, ?, ?)")
  const row = db.prepare("INSERT INTO deltas VALUES (?, ?, ?)")
  const tx = db.transaction((v: number, delta: Delta) => {
    cp.run(v, 1, "[]", Date.now())
    for (const [k, value] of delta) row.run(v, k, value === undefined ? null : v8.serialize(value))
  })
  const stalls: Array<number> = []
  for (let v = 1; v <= rounds; v++) {
    const delta = deltaOf(keys, v)
    const t0 = performance.now()
    tx.immediate(v, delta)
    stalls.push(performance.now() - t0)
  }
  db.close()
  return stalls
}

const main = async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-bench-persist-"))
  const scope = Effect.runSync(Scope.make())
  const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) => Effect.runPromise(Scope.extend(effect, scope))
  try {
    const store = await run(SqliteCheckpointStore.make({ dataDir }))
    // Reference: the same monitor with nothing running (shows the machine's own scheduling noise).
    const idle = await withDelayMonitor(() => new Promise((resolve) => setTimeout(resolve, 1000)))
    const rows: Array<Record<string, string>> = []
    for (const keys of sizes) {
      const w = await run(store.open(`bench-${keys}`))
      let v = 0
      const persistOnce = async () => {
        v++
        const t0 = performance.now()
        const fiber = Effect.runFork(w.persist({ worldLine: worldLine(1), version: version(v), deps: [] }, deltaOf(keys, v)))
        const sync = performance.now() - t0
        const exit = await Effect.runPromise(Fiber.await(fiber))
        if (Exit.isFailure(exit)) throw new Error(String(exit.cause))
        return { sync, total: performance.now() - t0 }
      }
      for (let i = 0; i < 10; i++) await persistOnce() // warm-up
      const latency: Array<number> = []
      const sync: Array<number> = []
      const elu = performance.eventLoopUtilization()
      for (let i = 0; i < rounds; i++) {
        const r = await persistOnce()
        latency.push(r.total)
        sync.push(r.sync)
      }
      const busy = performance.eventLoopUtilization(elu).active / rounds
      const delay = await withDelayMonitor(async () => {
        for (let i = 0; i < rounds; i++) await persistOnce()
      })
      const baseline = mainThreadBaseline(dataDir, keys)
      rows.push({
        "delta keys": String(keys),
        "bytes/delta": String(deltaOf(keys, 1).reduce((n, [k, value]) => n + k.length + v8.serialize(value).byteLength, 0)),
        "persist p50 ms": ms(quantile(latency, 0.5)),
        "persist p99 ms": ms(quantile(latency, 0.99)),
        "call (sync) p50 ms": ms(quantile(sync, 0.5)),
        "call (sync) max ms": ms(maxOf(sync)),
        "main busy/persist ms": ms(busy),
        "loop delay p99 ms": ms(delay.p99),
        "loop delay max ms": ms(delay.max),
        "main-thread sqlite p50 ms": ms(quantile(baseline, 0.5)),
        "main-thread sqlite max ms": ms(maxOf(baseline))
      })
    }
    console.log(`SqliteCheckpointStore persist, ${rounds} sequential persists per size, node ${process.version}, ${os.cpus().length} CPUs`)
    console.log(`loop delay with nothing running: p99 ${ms(idle.p99)} ms, max ${ms(idle.max)} ms`)
    console.table(rows)
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
