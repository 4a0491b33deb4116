/**
 * The travel-reservation saga over KV shards (each its own process in an in-process cluster,
 * served with @dse/transport's in-process hub), driven by an outside client, with crashes of
 * shards and of the workflow host.
 */
import type { ProcessHandle } from "@dse/testing"
import { KvClient, KvHandlers, KvRpcs, KvServer, KvShard } from "@dse/kv"
import { DseRpcServer, Endpoint } from "@dse/transport"
import { describe, expect, it } from "@effect/vitest"
import type { Duration, Fiber } from "effect"
import { Effect, Exit, Layer, Option, Schedule, TestClock } from "effect"
import type { Reservation } from "../src/examples/TravelSaga"
import { FIELD, offerings, SoldOut, stock, TravelSaga, TravelSagaLayer } from "../src/examples/TravelSaga"
import * as WorkflowClient from "../src/WorkflowClient"
import type { HostHandle } from "./support"
import { drive, makeCluster, spawnHost } from "./support"

let runs = 0

const setup = (shards: number, persistDelay: Duration.DurationInput = "1 millis") =>
  Effect.gen(function* () {
    const run = `wf-saga-${process.pid}-${++runs}`
    const cluster = yield* makeCluster({ persistDelay })
    const endpoints = Array.from({ length: shards }, (_, i) => Endpoint.inProcess(`${run}/kv-${i}`))
    const processes: Array<ProcessHandle> = []
    for (let i = 0; i < shards; i++) {
      processes.push(
        yield* cluster.spawn(`kv-${i}`, Effect.flatMap(KvShard.make({ index: i }), (shard) => KvServer.serve(shard, { endpoint: endpoints[i]! })))
      )
    }
    const kvLayer = KvClient.layer({ shards: endpoints, reconnect: Schedule.spaced("2 millis") })
    const host = yield* spawnHost(cluster, TravelSagaLayer.pipe(Layer.provide(kvLayer)), { serve: `${run}/wf` })
    const client = yield* WorkflowClient.connect({ endpoint: Endpoint.inProcess(`${run}/wf`), reconnect: Schedule.spaced("2 millis") })
    const kv = yield* KvClient.connect({ shards: endpoints, reconnect: Schedule.spaced("2 millis") })
    const keys = offerings(shards)
    return { cluster, processes, host, client, kv, keys }
  })

const available = (kv: KvClient.KvClientService, key: string) =>
  Effect.map(Effect.orDie(kv.get(key)), (entry) => (Option.getOrThrow(entry).value as Record<string, number>)[FIELD]!)

const reservationStatus = (kv: KvClient.KvClientService, key: string) =>
  Effect.map(Effect.orDie(kv.get(key)), (entry) =>
    Option.match(entry, { onNone: () => "none", onSome: (e) => (e.value as { status: string }).status })
  )

describe("TravelSaga", () => {
  it.scoped("reserves at each shard in order; when one is sold out, the earlier ones are cancelled in reverse order", () =>
    Effect.gen(function* () {
      const { client, keys, kv } = yield* setup(3)
      yield* drive(yield* Effect.fork(Effect.provideService(stock(keys.slice(0, 2), 5), KvClient.KvClient, kv)))
      yield* drive(yield* Effect.fork(Effect.provideService(stock(keys.slice(2), 0), KvClient.KvClient, kv)))

      const exit = yield* drive(yield* Effect.fork(Effect.exit(client.execute(TravelSaga, { tripId: "trip-1", offerings: keys }))))
      expect(exit).toEqual(Exit.fail(new SoldOut({ offering: keys[2]!, available: 0 })))
      expect(yield* drive(yield* Effect.fork(Effect.forEach(keys, (k) => available(kv, k))))).toEqual([5, 5, 0])

      yield* drive(yield* Effect.fork(Effect.provideService(stock(keys.slice(2), 1, "restock"), KvClient.KvClient, kv)))
      const ok = yield* drive(yield* Effect.fork(client.execute(TravelSaga, { tripId: "trip-2", offerings: keys })))
      expect(ok.map((r) => r.remaining)).toEqual([4, 4, 0])
      expect(yield* drive(yield* Effect.fork(Effect.forEach(ok, (r) => reservationStatus(kv, r.reservationKey))))).toEqual(["held", "held", "held"])
    })
  )

  it.scoped("a compensation whose KV call never answers times out and retries; the saga still ends compensated", () =>
    Effect.gen(function* () {
      const run = `wf-saga-${process.pid}-${++runs}`
      const cluster = yield* makeCluster()
      const endpoints = [Endpoint.inProcess(`${run}/kv-0`), Endpoint.inProcess(`${run}/kv-1`)]
      let cancels = 0
      // Shard 0 takes its first cancellation and never answers it (a hung disk, a lost reply).
      yield* cluster.spawn("kv-0", Effect.gen(function* () {
        const shard = yield* KvShard.make({ index: 0 })
        const handlers = KvHandlers.make(shard)
        const context = yield* KvRpcs.toHandlersContext({
          ...handlers,
          KvCancelReservation: (payload) => (++cancels === 1 ? Effect.never : handlers.KvCancelReservation(payload))
        })
        yield* Effect.provide(DseRpcServer.make(KvRpcs, { endpoint: endpoints[0]! }), context)
      }))
      yield* cluster.spawn("kv-1", Effect.flatMap(KvShard.make({ index: 1 }), (shard) => KvServer.serve(shard, { endpoint: endpoints[1]! })))
      // The per-call timeout is real time: it is what has to end the hung call.
      const kvLayer = KvClient.layer({ shards: endpoints, reconnect: Schedule.spaced("2 millis"), timeout: "100 millis" })
      const host = yield* spawnHost(cluster, TravelSagaLayer.pipe(Layer.provide(kvLayer)), { serve: `${run}/wf` })
      const client = yield* WorkflowClient.connect({ endpoint: Endpoint.inProcess(`${run}/wf`), reconnect: Schedule.spaced("2 millis") })
      const kv = yield* KvClient.connect({ shards: endpoints, reconnect: Schedule.spaced("2 millis") })
      const keys = offerings(2)
      yield* drive(yield* Effect.fork(Effect.provideService(stock([keys[0]!], 5), KvClient.KvClient, kv)))
      yield* drive(yield* Effect.fork(Effect.provideService(stock([keys[1]!], 0), KvClient.KvClient, kv)))

      const saga = yield* Effect.fork(Effect.exit(client.execute(TravelSaga, { tripId: "hung", offerings: keys })))
      // Test time and real time both move: the retry waits on the one, the call timeout on the other.
      for (let i = 0; i < 2_000 && saga.unsafePoll() === null; i++) {
        yield* TestClock.adjust("5 millis")
        yield* Effect.promise(() => new Promise<void>((r) => setTimeout(r, 2)))
      }
      expect(saga.unsafePoll()).not.toBeNull()
      expect(yield* saga).toEqual(Exit.fail(new SoldOut({ offering: keys[1]!, available: 0 })))
      expect(cancels).toBeGreaterThanOrEqual(2)
      expect(yield* drive(yield* Effect.fork(reservationStatus(kv, `resv:{${keys[0]!.slice(keys[0]!.indexOf("{") + 1, -1)}}:hung`)))).toBe("cancelled")
      expect(yield* drive(yield* Effect.fork(available(kv, keys[0]!)))).toBe(5)
      expect(host.engine().stats().runs).toEqual([])
    }),
    60_000
  )

  it.scoped(
    "under crashes of shards and of the host: every saga ends fully reserved or fully compensated, inventory is conserved, no reservation is made twice, every returned result survives",
    () =>
      Effect.gen(function* () {
        const shards = 5
        const sagas = 12
        const stocks = [12, 12, 9, 12, 7]
        const { client, cluster, host, keys, kv, processes } = yield* setup(shards, "3 millis")
        for (let i = 0; i < shards; i++) {
          yield* drive(yield* Effect.fork(Effect.provideService(stock([keys[i]!], stocks[i]!), KvClient.KvClient, kv)))
        }
        const fibers: Array<Fiber.RuntimeFiber<Exit.Exit<ReadonlyArray<Reservation>, unknown>>> = []
        for (let s = 0; s < sagas; s++) {
          fibers.push(yield* Effect.fork(Effect.exit(client.execute(TravelSaga, { tripId: `trip-${s}`, offerings: keys }))))
        }
        // Crashes at fixed points of test time (a seeded schedule): shards and the host.
        let seed = Number(process.env.SAGA_SEED ?? 7)
        const random = (n: number) => {
          seed = (seed * 1103515245 + 12345) % 2 ** 31
          return seed % n
        }
        const victims: Array<ProcessHandle | HostHandle> = [processes[0]!, host, processes[2]!, processes[4]!, host, processes[1]!, processes[3]!, host]
        let crashes = 0
        for (let step = 0; step < 60 && fibers.some((f) => f.unsafePoll() === null); step++) {
          yield* drive(yield* Effect.fork(Effect.sleep(`${1 + random(6)} millis`)), 1)
          if (crashes < victims.length && random(2) === 0) {
            const victim = victims[crashes]!
            const proc = "process" in victim ? victim.process : victim
            crashes++
            yield* proc.crash
            yield* drive(yield* Effect.fork(Effect.sleep(`${random(10)} millis`)), 1)
            yield* drive(yield* Effect.fork(proc.restart), 1)
          }
        }
        expect(crashes).toBeGreaterThan(2)
        // The schedule crashes the host as well as shards.
        expect(host.process.crashes()).toBeGreaterThan(0)
        expect(processes.some((p) => p.crashes() > 0)).toBe(true)
        const exits = yield* drive(yield* Effect.fork(Effect.forEach(fibers, (f) => f.await)), 5, 4000)
        const results = exits.map((e) => Exit.flatten(e))

        const check = Effect.gen(function* () {
          let reserved = 0
          for (let s = 0; s < sagas; s++) {
            const result = results[s]!
            const statuses = yield* Effect.forEach(keys, (key) => reservationStatus(kv, `resv:{${key.slice(key.indexOf("{") + 1, -1)}}:trip-${s}`))
            if (Exit.isSuccess(result)) {
              reserved++
              // Fully reserved.
              expect(statuses).toEqual(keys.map(() => "held"))
            } else {
              expect(result).toEqual(Exit.fail(expect.any(SoldOut)))
              // Fully compensated: nothing held.
              for (const status of statuses) expect(["none", "cancelled"]).toContain(status)
            }
          }
          // Inventory conserved: each offering lost exactly one unit per completed trip.
          const left = yield* Effect.forEach(keys, (key) => available(kv, key))
          expect(left).toEqual(stocks.map((n) => n - reserved))
          return reserved
        })
        const reserved = yield* drive(yield* Effect.fork(check))
        expect(reserved).toBe(7)
        expect(host.engine().stats().failed).toBe(false)

        // Everything crashes at once: what was returned to the client is still true.
        for (const p of processes) yield* p.crash
        yield* host.process.crash
        yield* cluster.crashCoordinator
        yield* cluster.restartCoordinator
        yield* drive(yield* Effect.fork(Effect.forEach([...processes, host.process], (p) => p.restart, { concurrency: "unbounded" })), 1)
        expect(yield* drive(yield* Effect.fork(check))).toBe(reserved)
        // And executing any saga again returns the same result.
        const again = yield* drive(yield* Effect.fork(Effect.forEach(Array.from({ length: sagas }, (_, s) => s), (s) =>
          Effect.exit(client.execute(TravelSaga, { tripId: `trip-${s}`, offerings: keys })))))
        expect(again.map((e) => Exit.isSuccess(e))).toEqual(results.map((e) => Exit.isSuccess(e)))
      }),
    120_000
  )
})
