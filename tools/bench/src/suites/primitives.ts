/**
 * Primitive throughput of the runtime (ops/s) in the three modes, and the cost of sealing a
 * version with N changed keys: the event-loop stall of the seal (taking the delta and handing it
 * to the storage thread) and the time until it is durable (fsync'd).
 */
import type { ExecutionMode } from "@dse/core"
import { Dse, StateObject, Sthread, VersionedCell, VersionedMap } from "@dse/core"
import { InProcessNetwork } from "@dse/testing"
import { Effect, Layer } from "effect"
import { localRuntime, tempDir } from "../internal/localRuntime"
import { now, summarize } from "../Stats"
import type { Row, Suite } from "../Suite"
import { fmt, round3 } from "../Suite"

export interface PrimitiveRow {
  readonly primitive: string
  readonly mode: ExecutionMode
  readonly ops: number
  readonly opsPerSecond: number
}

export interface SealRow {
  readonly keys: number
  readonly stallP50: number
  readonly stallMax: number
  readonly durableP50: number
  readonly durableP95: number
}

export interface PrimitivesResult {
  readonly primitives: ReadonlyArray<PrimitiveRow>
  readonly seal: ReadonlyArray<SealRow>
}

const timed = <E, R>(ops: number, effect: Effect.Effect<void, E, R>) =>
  Effect.gen(function* () {
    const start = now()
    yield* effect
    const ms = now() - start
    return ops / (ms / 1000)
  })

const primitivesIn = (mode: ExecutionMode, quick: boolean) =>
  Effect.scoped(
    Effect.gen(function* () {
      const dir = yield* tempDir
      const context = yield* Layer.build(localRuntime(mode, dir))
      return yield* Effect.gen(function* () {
        const rows: Array<PrimitiveRow> = []
        const counter = yield* StateObject.make({ name: "bench-counter", state: VersionedCell.make(0) })
        const increment = counter.action((c) => Effect.sync(() => c.update((n) => n + 1)))
        // Durable actions each wait for an fsync: fewer of them, and also 64 at once (group commit).
        const n = mode === "durable" ? (quick ? 100 : 1_000) : quick ? 2_000 : 50_000
        yield* Effect.repeatN(increment, 100)
        rows.push({ primitive: "local action", mode, ops: n, opsPerSecond: yield* timed(n, Effect.repeatN(increment, n - 1)) })
        rows.push({
          primitive: "local action x64 concurrent",
          mode,
          ops: n,
          opsPerSecond: yield* timed(n, Effect.forEach(Array.from({ length: n }), () => increment, { concurrency: 64, discard: true }))
        })
        const inSthread = Effect.asVoid(Dse.sthread(increment))
        rows.push({ primitive: "action in a new sthread", mode, ops: n, opsPerSecond: yield* timed(n, Effect.repeatN(inSthread, n - 1)) })

        // Send and receive: a call through the in-process network (header encoded, decoded, served, absorbed).
        const network = InProcessNetwork.make()
        yield* network.serve("counter", () => increment)
        const call = network.call<void, number, never>("counter", undefined)
        const calls = mode === "durable" ? n : quick ? 1_000 : 20_000
        const sendReceive = Effect.asVoid(Dse.sthread(Effect.repeatN(call, calls - 1)))
        rows.push({ primitive: "send/receive (in-process)", mode, ops: calls, opsPerSecond: yield* timed(calls, sendReceive) })

        // Sthread detach and merge.
        const m = quick ? 10_000 : 200_000
        const detachMerge = Effect.flatMap(Sthread.detach(Effect.void), ([, child]) => Sthread.merge(child))
        rows.push({
          primitive: "sthread detach+merge",
          mode,
          ops: m,
          opsPerSecond: yield* timed(m, Effect.asVoid(Dse.sthread(Effect.repeatN(detachMerge, m - 1))))
        })
        return rows
      }).pipe(Effect.provide(context))
    })
  )


/** Seal cost: an Action changes N keys, then the version is sealed; stall = the seal's synchronous time. */
const sealCost = (quick: boolean) =>
  Effect.scoped(
    Effect.gen(function* () {
      const dir = yield* tempDir
      const context = yield* Layer.build(localRuntime("speculative", dir))
      return yield* Effect.gen(function* () {
        const rows: Array<SealRow> = []
        for (const keys of quick ? [1, 100, 1000] : [1, 10, 100, 1000, 10_000]) {
          const so = yield* StateObject.make({ name: `bench-seal-${keys}`, state: VersionedMap.make<{ v: number; s: string }>() })
          const stalls: Array<number> = []
          const durable: Array<number> = []
          const rounds = quick ? 5 : 30
          for (let round = 0; round < rounds + 2; round++) {
            yield* so.action((m) =>
              Effect.sync(() => {
                for (let k = 0; k < keys; k++) m.set(`key-${k}`, { v: round, s: "x".repeat(32) })
              })
            )
            const before = so.stats().persisted
            const t0 = now()
            yield* so.seal
            const t1 = now()
            while (so.stats().persisted <= before) yield* Effect.sleep("50 micros")
            const t2 = now()
            if (round >= 2) {
              stalls.push(t1 - t0)
              durable.push(t2 - t0)
            }
          }
          const stall = summarize(stalls)
          const dur = summarize(durable)
          rows.push({ keys, stallP50: stall.p50, stallMax: stall.max, durableP50: dur.p50, durableP95: dur.p95 })
        }
        return rows
      }).pipe(Effect.provide(context))
    })
  )

export const run = (options: { readonly quick: boolean }): Effect.Effect<PrimitivesResult, unknown> =>
  Effect.gen(function* () {
    const primitives: Array<PrimitiveRow> = []
    for (const mode of ["speculative", "durable", "ephemeral"] as const) {
      primitives.push(...(yield* primitivesIn(mode, options.quick)))
    }
    const seal = yield* sealCost(options.quick)
    return { primitives, seal }
  })

/** Primitives as a suite of the engine: one row per (primitive, mode), and one per seal size. */
export const suite: Suite = {
  name: "primitives",
  title: "Runtime primitives: action, send/receive, detach/merge, seal",
  description:
    "Throughput of the runtime's primitives in one process (in-process coordinator, sqlite checkpoints synchronous=FULL on a worker thread) " +
    "in the three modes: a local action, 64 concurrent actions (group commit in durable mode), an action in a new sthread, a send/receive " +
    "through the in-process network, sthread detach+merge; and the cost of sealing a version with N changed keys (event-loop stall, time until durable). " +
    "Rows: n = null, throughput = ops/s, no latency; seal rows: n = keys, p50/p95 = time until durable.",
  modes: ["speculative", "durable", "ephemeral"],
  requiredModes: ["speculative", "durable", "ephemeral"],
  run: (ctx) =>
    Effect.gen(function* () {
      ctx.progress(`primitives: ${ctx.quick ? "quick" : "full"} run in the three modes`)
      const result = yield* run({ quick: ctx.quick })
      const rows: Array<Row> = [
        ...result.primitives.map(
          (p): Row => ({
            mode: p.mode,
            n: null,
            p50: Number.NaN,
            p95: Number.NaN,
            p99: Number.NaN,
            throughput: round3(p.opsPerSecond),
            primitive: p.primitive,
            ops: p.ops
          })
        ),
        ...result.seal.map(
          (s): Row => ({
            mode: "speculative",
            n: s.keys,
            p50: round3(s.durableP50),
            p95: round3(s.durableP95),
            p99: Number.NaN,
            throughput: Number.NaN,
            primitive: "seal",
            stallP50: round3(s.stallP50),
            stallMax: round3(s.stallMax)
          })
        )
      ]
      const primitives = Array.from(new Set(result.primitives.map((p) => p.primitive)))
      const modes = ["speculative", "durable", "ephemeral"] as const
      const ops = (primitive: string, mode: string) => result.primitives.find((p) => p.primitive === primitive && p.mode === mode)?.opsPerSecond
      return {
        rows,
        tables: [
          {
            title: "Primitive throughput (ops/s), one process",
            header: ["primitive", ...modes, "spec / eph"],
            rows: primitives.map((p) => [
              p,
              ...modes.map((m) => Math.round(ops(p, m) ?? Number.NaN)),
              `${fmt((ops(p, "speculative") ?? Number.NaN) / (ops(p, "ephemeral") ?? Number.NaN), 2)}`
            ])
          },
          {
            title: "Sealing a version with N changed keys (ms): event-loop stall, and time until durable",
            header: ["keys", "stall p50", "stall max", "durable p50", "durable p95"],
            rows: result.seal.map((r) => [r.keys, r.stallP50, r.stallMax, r.durableP50, r.durableP95])
          }
        ],
        charts: [],
        notes: ["Measured one mode after the other in this process (each primitive is a tight loop; interleaving would measure the switch)."],
        skipped: [],
        targets: []
      }
    })
}
