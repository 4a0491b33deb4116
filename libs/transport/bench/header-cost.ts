/**
 * What the DSE header costs on an RPC between two processes: round-trip latency of calls from this
 * process to a server process (test/fixtures/server.ts) over loopback TCP, plain @effect/rpc
 * (RpcTransport, same wire settings, no middleware) versus DseRpcServer/DseRpcClient.
 *
 *   pnpm exec tsx libs/transport/bench/header-cost.ts        (N=5000 REPS=5 by default)
 *
 * Cases are interleaved over REPS rounds (the machine is shared); each figure is the median over
 * rounds of that round's percentile. It prints figures; it asserts nothing.
 */
import { Sthread } from "@dse/core"
import { Effect } from "effect"
import * as path from "node:path"
import { DseRpcClient, Endpoint, RpcTransport } from "../src/index"
import { PlainRpcs, TestRpcs } from "../test/fixtures/TestRpcs"
import { TestProcess } from "@dse/testing"

const N = Number(process.env.N ?? 5000)
const REPS = Number(process.env.REPS ?? 5)
const WARMUP = 500

interface ServerInfo {
  readonly port: number
  readonly plainPort: number
}

const percentile = (sorted: ReadonlyArray<number>, p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!
const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const measure = (call: Effect.Effect<unknown, unknown>, n: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < WARMUP; i++) yield* call
    const samples: Array<number> = new Array(n)
    for (let i = 0; i < n; i++) {
      const t0 = performance.now()
      yield* call
      samples[i] = (performance.now() - t0) * 1000
    }
    samples.sort((a, b) => a - b)
    return { p50: percentile(samples, 0.5), p99: percentile(samples, 0.99) }
  })

const program = Effect.gen(function* () {
  const cwd = path.resolve(import.meta.dirname, "..")
  const server = yield* TestProcess.start<ServerInfo>("test/fixtures/server.ts", { cwd })
  const plain = yield* RpcTransport.makeClient(PlainRpcs, { endpoint: Endpoint.tcp(server.info.plainPort) })
  const dse = yield* DseRpcClient.make(TestRpcs, { endpoint: Endpoint.tcp(server.info.port) })
  // One session-like sthread per case: it carries what earlier replies made it depend on.
  const inSthread = <A, E>(call: Effect.Effect<A, E>) => {
    const thread = new Sthread.Sthread(1)
    return Sthread.within(call, thread)
  }

  const cases: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown>, number]> = [
    ["plain @effect/rpc: Ping (no handler work)", plain.Ping(), N],
    ["DSE: Ping from outside (middleware, no header)", dse.Ping(), N],
    ["DSE: Ping in an sthread (header both ways)", inSthread(dse.Ping()), N],
    ["plain @effect/rpc: Add (in-memory counter)", plain.Add({ key: "k", amount: 1 }), N],
    ["DSE: Add in an sthread (one Action)", inSthread(dse.Add({ key: "k", amount: 1 })), N],
    ["DSE: Add from outside (reply after commit)", dse.Add({ key: "o", amount: 1 }), Math.max(100, Math.floor(N / 10))]
  ]

  const results = new Map<string, { p50: Array<number>; p99: Array<number> }>()
  for (let rep = 0; rep < REPS; rep++) {
    for (const [label, call, n] of cases) {
      const r = yield* measure(call, n)
      const entry = results.get(label) ?? { p50: [], p99: [] }
      entry.p50.push(r.p50)
      entry.p99.push(r.p99)
      results.set(label, entry)
    }
  }

  const rows = cases.map(([label]) => {
    const r = results.get(label)!
    return { label, p50: median(r.p50), p99: median(r.p99) }
  })
  const base = new Map([
    ["Ping", rows[0]!],
    ["Add", rows[3]!]
  ])
  const width = Math.max(...rows.map((r) => r.label.length))
  const line = (cols: ReadonlyArray<string>) => console.log(cols.join(" | "))
  console.log(`\nheader cost, loopback TCP, N=${N} per case (outside: N/10), ${REPS} interleaved rounds, median of per-round percentiles\n`)
  line(["case".padEnd(width), "p50 (µs)".padStart(9), "p99 (µs)".padStart(9), "p50 vs plain".padStart(13)])
  line(["-".repeat(width), "-".repeat(9), "-".repeat(9), "-".repeat(13)])
  for (const row of rows) {
    const plainRow = row.label.includes("Ping") ? base.get("Ping")! : base.get("Add")!
    const delta = row === plainRow ? "" : `+${(row.p50 - plainRow.p50).toFixed(0)} µs`
    line([row.label.padEnd(width), row.p50.toFixed(0).padStart(9), row.p99.toFixed(0).padStart(9), delta.padStart(13)])
  }
})

Effect.runPromise(Effect.scoped(program)).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
