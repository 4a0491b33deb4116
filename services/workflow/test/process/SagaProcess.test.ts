/**
 * The saga across real processes: a coordinator, 5 KV shards and the workflow host, each its own
 * `node` process on loopback TCP with its sqlite files (synchronous=FULL), an outside client in the
 * test process, and SIGKILLs of shards and of the host at random moments.
 *
 * Checks: every saga ends fully reserved or fully compensated; inventory is conserved; no
 * reservation is made twice; every result returned to the outside client survives a SIGKILL of
 * every process at once.
 *
 * Takes a minute or two (processes start with tsx).
 */
import { KvClient } from "@dse/kv"
import { Endpoint } from "@dse/transport"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Option, Random, Schedule } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Reservation } from "../../src/examples/TravelSaga"
import { FIELD, offerings, reservationKey, SoldOut, stock, TravelSaga } from "../../src/examples/TravelSaga"
import * as WorkflowClient from "../../src/WorkflowClient"
import type { Managed } from "../../bench/processes"
import { freePort, managed } from "../../bench/processes"

const SHARDS = 5
const SAGAS = 16
const STOCKS = [14, 14, 11, 14, 9]

describe("TravelSaga across processes", () => {
  it.scopedLive(
    "under random SIGKILLs of shards and of the workflow host: every saga ends fully reserved or fully compensated, inventory is conserved, no reservation is made twice, every returned result survives",
    () =>
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "dse-wf-process-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => (process.env.DSE_KEEP_DATA ? undefined : rmSync(dir, { recursive: true, force: true }))))
        const coordinatorPort = yield* freePort
        const kvPorts = yield* Effect.forEach(Array.from({ length: SHARDS }), () => freePort)
        const hostPort = yield* freePort
        const coordinator = yield* managed({ name: "coordinator", service: "coordinator", args: ["--data", dir, "--port", `${coordinatorPort}`] }, dir)
        const shards = yield* Effect.forEach(kvPorts, (port, i) =>
          managed({ name: `kv-${i}`, service: "kv", args: ["--shard", `${i}`, "--data", dir, "--port", `${port}`] }, dir)
        )
        const host = yield* managed(
          {
            name: "wf",
            service: "workflow",
            args: ["--data", dir, "--port", `${hostPort}`, "--kv", kvPorts.map((p) => `127.0.0.1:${p}`).join(",")]
          },
          dir
        )
        yield* coordinator.start
        yield* Effect.forEach([...shards, host], (p) => p.start, { concurrency: "unbounded", discard: true })

        const kv = yield* KvClient.connect({ shards: kvPorts.map((p) => Endpoint.tcp(p)) })
        const client = yield* WorkflowClient.connect({ endpoint: Endpoint.tcp(hostPort), retryFor: Duration.minutes(4) })
        const keys = offerings(SHARDS)
        const outside = Schedule.spaced("200 millis").pipe(Schedule.upTo("2 minutes"))
        for (let i = 0; i < SHARDS; i++) {
          yield* Effect.provideService(stock([keys[i]!], STOCKS[i]!), KvClient.KvClient, kv).pipe(Effect.retry(outside), Effect.orDie)
        }

        const sagas = yield* Effect.forEach(Array.from({ length: SAGAS }, (_, s) => s), (s) =>
          Effect.fork(
            Effect.exit(
              Effect.zipRight(Effect.sleep(Duration.millis(s * 150)), client.execute(TravelSaga, { tripId: `trip-${s}`, offerings: keys }))
            )
          )
        )

        // SIGKILLs while the sagas run: shards and the host, restarted after a moment.
        const victims: Array<Managed> = [...shards, host]
        let kills = 0
        let hostKills = 0
        // At least 3 kills (the second one of the host) whatever the machine's speed: on a loaded
        // machine a restart alone can take 10 s, and a wall-clock budget then left only 2.
        const deadline = Date.now() + 25_000
        while (kills < 3 || (Date.now() < deadline && sagas.some((f) => f.unsafePoll() === null))) {
          yield* Effect.sleep(Duration.millis(300 + (yield* Random.nextIntBetween(0, 1200))))
          const victim = kills % 3 === 1 ? host : victims[yield* Random.nextIntBetween(0, victims.length)]!
          yield* victim.kill
          kills++
          if (victim === host) hostKills++
          yield* Effect.sleep(Duration.millis(yield* Random.nextIntBetween(100, 800)))
          yield* victim.start
        }
        const results = yield* Effect.forEach(sagas, (f) => f.await).pipe(Effect.map((exits) => exits.map(Exit.flatten)))
        expect(kills).toBeGreaterThanOrEqual(3)
        expect(hostKills).toBeGreaterThanOrEqual(1)

        const read = (key: string) => Effect.orDie(Effect.retry(kv.get(key), outside))
        const check = Effect.gen(function* () {
          let reserved = 0
          for (let s = 0; s < SAGAS; s++) {
            const result = results[s]!
            const statuses = yield* Effect.forEach(keys, (key) =>
              Effect.map(read(reservationKey(key, `trip-${s}`)), Option.match({ onNone: () => "none", onSome: (e) => (e.value as { status: string }).status }))
            )
            if (Exit.isSuccess(result)) {
              reserved++
              expect(statuses).toEqual(keys.map(() => "held"))
              expect((result.value as ReadonlyArray<Reservation>).map((r) => r.offering)).toEqual(keys)
            } else {
              expect(result).toEqual(Exit.fail(expect.any(SoldOut)))
              for (const status of statuses) expect(["none", "cancelled"]).toContain(status)
            }
          }
          const left = yield* Effect.forEach(keys, (key) =>
            Effect.map(read(key), (e) => (Option.getOrThrow(e).value as Record<string, number>)[FIELD]!)
          )
          expect(left).toEqual(STOCKS.map((n) => n - reserved))
          return reserved
        })
        const reserved = yield* check
        expect(reserved).toBe(Math.min(...STOCKS))

        // SIGKILL everything at once: what the client was told is still true after the restart.
        yield* Effect.forEach([coordinator, ...shards, host], (p) => p.kill, { discard: true })
        yield* coordinator.start
        yield* Effect.forEach([...shards, host], (p) => p.start, { concurrency: "unbounded", discard: true })
        expect(yield* check).toBe(reserved)
        const again = yield* Effect.forEach(Array.from({ length: SAGAS }, (_, s) => s), (s) =>
          Effect.exit(client.execute(TravelSaga, { tripId: `trip-${s}`, offerings: keys }))
        )
        expect(again.map(Exit.isSuccess)).toEqual(results.map(Exit.isSuccess))
      }),
    300_000
  )
})
