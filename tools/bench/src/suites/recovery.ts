/**
 * `recovery`: a cluster of its own per mode (coordinator + K KV shard processes), a steady workload of
 * outside-client puts (commit-gated: a reply means committed) spread over every shard; at a fixed
 * point the bench SIGKILLs KV shard 0 (by pid) and starts it again on the same data directory and
 * port. Measured: the time until commits flow again (the first put issued after the kill that
 * succeeds, on any shard, and on the killed shard), the restart time of the process, and the latency
 * timeline around the kill.
 *
 * Speculative and durable run one after the other (a kill cannot be interleaved); ephemeral keeps
 * nothing across a crash, so it is not measured here.
 */
import { Effect, Duration } from "effect"
import type { Scope } from "effect"
import type { Row, Suite, SuiteContext, SuiteResult } from "../Suite"
import { cdf, round3 } from "../Suite"
import { now, summarize } from "../Stats"
import type { ChartSpec } from "../Svg"

const MODES = ["speculative", "durable"] as const

interface Sample {
  readonly issuedAt: number
  readonly doneAt: number
  readonly ok: boolean
  readonly shard: number
}

const runMode = (ctx: SuiteContext, mode: (typeof MODES)[number]) =>
  Effect.scoped(
    Effect.gen(function* () {
      const shards = ctx.quick ? 2 : 3
      ctx.progress(`recovery (${mode}): starting a cluster of its own (coordinator, ${shards} KV shards)`)
      const cluster = yield* ctx.privateCluster({
        name: `recovery-${mode}`,
        mode,
        storageLatencyMs: 0,
        kvShards: shards,
        wal: false,
        host: false
      })
      const kv = yield* cluster.kvClient()
      const before = ctx.quick ? 1_000 : 5_000
      // After the restarted shard is ready, keep the load on this long (the recovery tail).
      const tail = ctx.quick ? 2_000 : 8_000
      const clients = 4
      const samples: Array<Sample> = []
      // Warm-up: puts to every shard, committed.
      for (let s = 0; s < (ctx.quick ? 50 : 200); s++) yield* kv.put(`recovery-warm-${s}`, s).pipe(Effect.retry({ times: 20 }))
      ctx.progress(`recovery (${mode}): ${clients} outside clients putting; SIGKILL of kv-0 at ${before / 1000} s`)
      const origin = now()
      let stop = false
      let i = 0
      const worker = Effect.gen(function* () {
        while (!stop) {
          const key = `recovery-${mode}-${i++ % 500}`
          const issuedAt = now()
          const exit = yield* Effect.exit(Effect.timeout(kv.put(key, { at: issuedAt }), Duration.seconds(10)))
          const doneAt = now()
          samples.push({ issuedAt: issuedAt - origin, doneAt: doneAt - origin, ok: exit._tag === "Success", shard: kv.shardOf(key) })
          // A failing shard fails at once: do not spin on it.
          if (exit._tag === "Failure") yield* Effect.sleep("20 millis")
        }
      })
      const killer = Effect.gen(function* () {
        yield* Effect.sleep(Duration.millis(before))
        const killedAt = (yield* cluster.killOnly(0)) - origin
        const readyAt = (yield* cluster.restartKv(0)) - origin
        ctx.progress(`recovery (${mode}): kv-0 restarted ${((readyAt - killedAt) / 1000).toFixed(1)} s after the SIGKILL`)
        yield* Effect.sleep(Duration.millis(tail))
        return { killedAt, readyAt }
      }).pipe(Effect.ensuring(Effect.sync(() => (stop = true))))
      const [, marks] = yield* Effect.all([Effect.forEach(Array.from({ length: clients }), () => worker, { concurrency: "unbounded", discard: true }), killer], {
        concurrency: "unbounded"
      })
      const elapsedMs = marks.readyAt + tail
      const firstOkAfter = (pred: (s: Sample) => boolean) => {
        const ok = samples.filter((s) => s.ok && s.issuedAt >= marks.killedAt && pred(s)).sort((a, b) => a.doneAt - b.doneAt)[0]
        return ok ? ok.doneAt - marks.killedAt : Number.NaN
      }
      const okSamples = samples.filter((s) => s.ok)
      const latencies = okSamples.map((s) => s.doneAt - s.issuedAt)
      const s = summarize(latencies)
      const steady = summarize(okSamples.filter((x) => x.doneAt < marks.killedAt).map((x) => x.doneAt - x.issuedAt))
      const row: Row = {
        mode,
        n: shards,
        p50: round3(s.p50),
        p95: round3(s.p95),
        p99: round3(s.p99),
        throughput: round3(okSamples.length / (elapsedMs / 1000)),
        count: okSamples.length,
        errors: samples.length - okSamples.length,
        steadyP50: round3(steady.p50),
        max: round3(s.max),
        restartMs: round3(marks.readyAt - marks.killedAt),
        commitsResumeMs: round3(firstOkAfter(() => true)),
        killedShardResumeMs: round3(firstOkAfter((x) => x.shard === 0)),
        otherShardsResumeMs: round3(firstOkAfter((x) => x.shard !== 0)),
        cdf: cdf(latencies),
        timeline: okSamples.map((x) => [round3((x.doneAt - marks.killedAt) / 1000), round3(x.doneAt - x.issuedAt)] as const)
      }
      return { row, marks: { killedAt: marks.killedAt, readyAt: marks.readyAt } }
    })
  )

const run = (ctx: SuiteContext): Effect.Effect<SuiteResult, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const results = []
    for (const mode of MODES) results.push(yield* runMode(ctx, mode))
    const rows = results.map((r) => r.row)
    const charts: Array<ChartSpec> = [
      {
        file: "recovery-timeline.svg",
        title: "Recovery: put latency around a SIGKILL of KV shard 0 (outside client)",
        subtitle: "x = completion time relative to the kill; restarted shard ready at the dashed line of its mode",
        xLabel: "time since kill (s)",
        yLabel: "latency (ms)",
        yLog: true,
        series: rows.map((r) => ({ name: r.mode, scatter: true, points: r.timeline as ReadonlyArray<readonly [number, number]> })),
        vlines: [
          { x: 0, label: "SIGKILL kv-0" },
          ...rows.map((r) => ({ x: round3((r.restartMs as number) / 1000), label: `${r.mode}: kv-0 ready` }))
        ]
      }
    ]
    return {
      rows: rows.map(({ timeline: _t, ...rest }) => rest as Row),
      tables: [
        {
          title: "Recovery after SIGKILL of one KV shard (ms), 4 outside clients",
          header: ["mode", "shards", "restart", "commits resume", "killed shard resumes", "other shards resume", "steady p50", "p99", "max", "ok", "err"],
          rows: rows.map((r) => [
            r.mode,
            r.n!,
            r.restartMs as number,
            r.commitsResumeMs as number,
            r.killedShardResumeMs as number,
            r.otherShardsResumeMs as number,
            r.steadyP50 as number,
            r.p99,
            r.max as number,
            r.count as number,
            r.errors as number
          ])
        }
      ],
      charts,
      notes: [
        "restart = from the SIGKILL until the new shard process printed its ready line (a node process loading TypeScript through tsx: most of it is start-up).",
        "commits resume = from the SIGKILL until the first successful commit-gated put issued after the kill; killed shard / other shards: the same, restricted to keys of that shard.",
        "Modes run one after the other, each on a cluster of its own."
      ],
      skipped: [{ mode: "ephemeral", reason: "keeps no state across a crash: nothing to recover" }],
      targets: []
    }
  })

export const suite: Suite = {
  name: "recovery",
  title: "Recovery after SIGKILL of a KV shard",
  description:
    "A steady workload of outside-client puts over K KV shard processes; shard 0 is SIGKILLed at a fixed point and restarted on its data directory. " +
    "Time until commits flow again, restart time, and the latency timeline around the kill, speculative and durable. Rows: n = shards.",
  modes: ["speculative", "durable"],
  requiredModes: ["speculative", "durable"],
  run
}
