/**
 * The KV as real processes: a coordinator process and three shard processes (src/main.ts) on
 * loopback TCP, sqlite files in a temporary data directory, a client in the test process (outside
 * the DSE domain: every reply it gets is commit-gated). Processes are killed by pid, with SIGKILL.
 */
import { describe, expect, it } from "@effect/vitest"
import { Endpoint } from "@dse/transport"
import { Duration, Effect, Fiber, Option, Schedule } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as KvClient from "../../src/KvClient"
import { keyOn } from "../support"
import { coordinator, kill, shard } from "./processes"

const SHARDS = 3
const TRANSIENT = new Set(["ShardUnavailable", "RolledBack", "FutureWorldLine", "StaleWorldLine"])

/** Retries a call until it gets an answer (a crashed shard comes back within the test). */
const retrying = <A, E extends { readonly _tag: string }>(effect: Effect.Effect<A, E>) =>
  Effect.retry(effect, {
    schedule: Schedule.spaced("50 millis").pipe(Schedule.upTo(Duration.seconds(90))),
    while: (e) => TRANSIENT.has(e._tag)
  })

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "dse-kv-test-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const connect = (ports: ReadonlyArray<number>) =>
  KvClient.connect({
    shards: ports.map((port) => Endpoint.tcp(port)),
    timeout: "5 seconds",
    reconnect: Schedule.spaced("50 millis")
  })

describe("the KV as real processes", () => {
  it.scopedLive(
    "3 shards under an idempotent mixed workload, one SIGKILLed mid-run: every acknowledged write is there exactly once, and an outside reader never sees a value vanish",
    () =>
      Effect.gen(function* () {
        const dataDir = yield* tempDir
        yield* coordinator(dataDir)
        const procs = yield* Effect.forEach(Array.from({ length: SHARDS }, (_, i) => i), (i) => shard(dataDir, i), {
          concurrency: "unbounded"
        })
        const ports = procs.map((p) => p.port)
        const kv = yield* connect(ports)

        // Two counters on every shard; each client also writes keys of its own.
        const counters = Array.from({ length: SHARDS * 2 }, (_, i) => keyOn(i % SHARDS, SHARDS, `counter-${i}-`))
        const increments = new Map<string, number>(counters.map((c) => [c, 0]))
        const puts = new Map<string, number>()
        let acknowledged = 0
        const client = (c: number) =>
          Effect.forEach(
            Array.from({ length: 30 }, (_, i) => i),
            (i) =>
              i % 2 === 0
                ? Effect.map(retrying(kv.put(`u/${c}/${i}`, c * 1000 + i, { idempotencyKey: `put-${c}-${i}` })), () => {
                    puts.set(`u/${c}/${i}`, c * 1000 + i)
                    acknowledged++
                  })
                : Effect.gen(function* () {
                    const counter = counters[(c + i) % counters.length]!
                    yield* retrying(kv.increment(counter, undefined, 1, { idempotencyKey: `inc-${c}-${i}` }))
                    increments.set(counter, increments.get(counter)! + 1)
                    acknowledged++
                  }),
            { discard: true }
          )
        // An outside reader: what it sees of each counter, in order.
        const seen = new Map<string, Array<number>>(counters.map((c) => [c, []]))
        const reader = yield* Effect.fork(
          Effect.forever(
            Effect.zipRight(
              Effect.forEach(counters, (counter) =>
                Effect.ignore(
                  Effect.map(kv.get(counter), (entry) => {
                    if (Option.isSome(entry)) seen.get(counter)!.push(entry.value.value as number)
                  })
                )
              ),
              Effect.sleep("20 millis")
            )
          )
        )
        const clients = yield* Effect.fork(
          Effect.forEach(Array.from({ length: 6 }, (_, c) => c), client, { concurrency: "unbounded", discard: true })
        )
        // Mid-run: SIGKILL shard 1, and start it again on the same port.
        yield* Effect.repeat(Effect.sync(() => acknowledged), {
          until: (n) => n >= 40,
          schedule: Schedule.spaced("20 millis")
        })
        const victim = procs[1]!
        expect(yield* kill(victim, "SIGKILL")).toBe("SIGKILL")
        yield* Effect.sleep("300 millis")
        yield* shard(dataDir, 1, victim.port)
        yield* Fiber.join(clients)
        yield* Fiber.interrupt(reader)

        // Every acknowledged put is there.
        for (const [key, value] of puts) {
          const entry = yield* retrying(kv.get(key))
          expect(Option.map(entry, (e) => e.value)).toEqual(Option.some(value))
        }
        // Every acknowledged increment was applied exactly once.
        for (const [counter, count] of increments) {
          const entry = yield* retrying(kv.get(counter))
          expect([counter, Option.getOrThrow(entry).value]).toEqual([counter, count])
          // The outside reader only ever saw committed values: they never went back, nor past the end.
          const values = seen.get(counter)!
          for (let i = 1; i < values.length; i++) expect(values[i]!).toBeGreaterThanOrEqual(values[i - 1]!)
          for (const v of values) expect(v).toBeLessThanOrEqual(count)
        }
        expect(puts.size + Array.from(increments.values()).reduce((a, b) => a + b, 0)).toBe(6 * 30)
        expect(Array.from(seen.values()).some((v) => v.length > 0)).toBe(true)
      }),
    240_000
  )

  it.scopedLive(
    "durability: after committed replies, SIGKILL of every process and a fresh start, all committed data is there",
    () =>
      Effect.gen(function* () {
        const dataDir = yield* tempDir
        const first = yield* coordinator(dataDir)
        const procs = yield* Effect.forEach(Array.from({ length: SHARDS }, (_, i) => i), (i) => shard(dataDir, i), {
          concurrency: "unbounded"
        })
        const ports = procs.map((p) => p.port)
        const written = yield* Effect.scoped(
          Effect.gen(function* () {
            const kv = yield* connect(ports)
            const values = Array.from({ length: 60 }, (_, i) => [`key/${i}`, { i, text: `value ${i}` }] as const)
            yield* Effect.forEach(values, ([key, value]) => retrying(kv.put(key, value, { idempotencyKey: key })), {
              concurrency: 8,
              discard: true
            })
            yield* retrying(kv.put("stock:{h}", { rooms: 3 }))
            yield* retrying(kv.reserve({ key: "stock:{h}", field: "rooms", amount: 2, reservationKey: "resv:{h}:1" }))
            return values
          })
        )
        // Everything dies at once.
        yield* Effect.forEach([first, ...procs], (p) => kill(p, "SIGKILL"), { concurrency: "unbounded", discard: true })

        yield* coordinator(dataDir)
        yield* Effect.forEach(ports.map((port, i) => [port, i] as const), ([port, i]) => shard(dataDir, i, port), {
          concurrency: "unbounded",
          discard: true
        })
        const kv = yield* connect(ports)
        for (const [key, value] of written) {
          expect(Option.map(yield* retrying(kv.get(key)), (e) => e.value)).toEqual(Option.some(value))
        }
        expect(Option.map(yield* retrying(kv.get("stock:{h}")), (e) => e.value)).toEqual(Option.some({ rooms: 1 }))
        // The dedup table came back with the data: repeating a write changes nothing.
        const again = yield* retrying(kv.put("key/7", { i: 7, text: "value 7" }, { idempotencyKey: "key/7" }))
        expect(again.created).toBe(true)
        expect((yield* retrying(kv.scan("key/", { limit: 1000 }))).entries).toHaveLength(60)
      }),
    240_000
  )
})
