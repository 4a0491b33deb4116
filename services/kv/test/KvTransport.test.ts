/**
 * The KV over @dse/transport (DseRpcServer / DseRpcClient on the in-process hub, msgpack on the
 * wire): the same guarantees as over the test network.
 */
import { describe, expect, it } from "@effect/vitest"
import { Dse } from "@dse/core"
import { Endpoint } from "@dse/transport"
import { InProcessCluster } from "@dse/testing"
import { Effect, Either, Fiber, Layer, Option } from "effect"
import * as KvClient from "../src/KvClient"
import * as KvServer from "../src/KvServer"
import * as KvShard from "../src/KvShard"
import { drive, isRunning, keyOn, restart, settle, setupKv } from "./support"

describe("over the transport's in-process hub", () => {
  it.scoped("every operation round-trips with its typed result", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv({ transport: "hub", shards: 2 })
      expect(yield* run(kv.put("a", { x: [1, null, "s"] }, { idempotencyKey: "p1" }))).toEqual({ revision: 1, created: true })
      expect(yield* run(kv.get("a"))).toEqual(Option.some({ value: { x: [1, null, "s"] }, revision: 1 }))
      expect(yield* run(kv.compareAndSet("a", { _tag: "Revision", revision: 7 }, 1))).toMatchObject({ _tag: "Mismatch" })
      expect(yield* run(kv.increment("n", undefined, 2))).toMatchObject({ value: 2 })
      yield* run(kv.put("stock:{h}", { rooms: 1 }))
      expect(yield* run(kv.reserve({ key: "stock:{h}", field: "rooms", amount: 1, reservationKey: "r:{h}:1" }))).toMatchObject({ remaining: 0 })
      expect(yield* run(kv.cancelReservation("r:{h}:1"))).toMatchObject({ _tag: "Cancelled" })
      expect(yield* run(kv.batch([{ _tag: "Put", key: "b:{1}", value: 1 }, { _tag: "Delete", key: "c:{1}" }]))).toMatchObject({ existed: [false, false] })
      expect((yield* run(kv.scan(""))).entries.map((e) => e.key).sort()).toEqual(["a", "b:{1}", "n", "r:{h}:1", "stock:{h}"])
      expect(yield* run(kv.delete("a"))).toMatchObject({ existed: true })
    })
  )

  it.scoped("typed errors cross the wire intact", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv({ transport: "hub", shard: { limits: { maxValueBytes: 100 } } })
      yield* run(kv.put("stock:{h}", { n: 0 }))
      const errors = yield* run(
        Effect.all([
          Effect.flip(kv.put("k", "x".repeat(100))),
          Effect.flip(kv.put("", 1)),
          Effect.flip(kv.increment("stock:{h}", "n", -1, { min: 0 })),
          Effect.flip(kv.reserve({ key: "stock:{h}", field: "n", amount: 1, reservationKey: "r:{h}" }))
        ])
      )
      expect(errors.map((e) => e._tag)).toEqual(["ValueTooLarge", "InvalidKey", "OutOfRange", "InsufficientInventory"])
      expect(errors[0]).toMatchObject({ key: "k", size: 102, limit: 100 })
      expect(errors[3]!.message).toContain("1 requested, 0 available")
    })
  )

  it.scoped("an outside caller's failure is released only after what it depends on commits", () =>
    Effect.gen(function* () {
      const { kv, run, fork } = yield* setupKv({ transport: "hub", cluster: { persistDelay: "100 millis" } })
      yield* run(kv.put("stock:{h}", { rooms: 1 }))
      // A speculative reservation takes the last room; it is not durable yet.
      yield* run(Dse.sthread(kv.reserve({ key: "stock:{h}", field: "rooms", amount: 1, reservationKey: "r:{h}:1" })))
      const outside = yield* fork(Effect.flip(kv.reserve({ key: "stock:{h}", field: "rooms", amount: 1, reservationKey: "r:{h}:2" })))
      yield* settle(20)
      expect(isRunning(outside)).toBe(true)
      yield* settle(200)
      expect(yield* Fiber.join(outside)).toMatchObject({ _tag: "InsufficientInventory" })
    })
  )

  it.scoped("a committed read never shows a write that a crash takes back", () =>
    Effect.gen(function* () {
      const { kv, run, fork, procs } = yield* setupKv({ transport: "hub", shards: 2, cluster: { persistDelay: "100 millis" } })
      const a = keyOn(0, 2)
      const b = keyOn(1, 2)
      yield* run(kv.put(a, "committed"))
      yield* run(Dse.sthread(Effect.zipRight(kv.put(b, "lost"), kv.put(a, "lost"))))
      const [speculative] = yield* run(Dse.sthread(kv.get(a)))
      expect(Option.map(speculative, (e) => e.value)).toEqual(Option.some("lost"))
      const committed = yield* fork(Dse.sthread(kv.get(a, { committed: true })))
      const outside = yield* fork(Effect.either(kv.get(a)))
      yield* settle(20)
      yield* procs[1]!.crash
      yield* restart(procs[1]!)
      yield* settle(200)
      const [result] = yield* Fiber.join(committed)
      expect(Option.map(result, (e) => e.value)).toEqual(Option.some("committed"))
      const seen = yield* Fiber.join(outside)
      if (seen._tag === "Right") expect(Option.map(seen.right, (e) => e.value)).toEqual(Option.some("committed"))
      else expect(seen.left._tag).toBe("RolledBack")
    })
  )

  it.scoped("a call in flight to a shard that dies fails with ShardUnavailable; after the restart it works", () =>
    Effect.gen(function* () {
      const { kv, run, fork, procs } = yield* setupKv({ transport: "hub", cluster: { persistDelay: "100 millis" } })
      const pending = yield* fork(Effect.either(kv.put("a", 1, { idempotencyKey: "w" })))
      yield* settle(10)
      yield* procs[0]!.crash
      yield* settle(10)
      const lost = yield* Fiber.join(pending)
      expect(lost._tag === "Left" && lost.left._tag).toBe("ShardUnavailable")
      yield* restart(procs[0]!)
      yield* settle(10)
      expect(yield* run(kv.put("a", 1, { idempotencyKey: "w" }))).toEqual({ revision: 1, created: true })
    })
  )
})

describe("composition", () => {
  it.scoped("a shard and its server compose as layers (KvShard.layer + KvServer.layer, KvClient.layer)", () =>
    Effect.gen(function* () {
      const cluster = yield* InProcessCluster.make()
      const endpoint = Endpoint.inProcess("composition/kv-0")
      yield* cluster.spawn(
        "kv-0",
        Layer.launch(KvServer.layer({ endpoint }).pipe(Layer.provide(KvShard.layer({ index: 0 })))).pipe(Effect.forkScoped, Effect.asVoid)
      )
      const clientProcess = yield* cluster.spawn("client", Effect.void)
      const program = Effect.gen(function* () {
        const kv = yield* KvClient.KvClient
        yield* kv.put("a", 1)
        return yield* kv.get("a")
      }).pipe(Effect.provide(KvClient.layer({ shards: [endpoint] })), Effect.provide(clientProcess.context()))
      expect(Option.map(yield* drive(yield* Effect.fork(program)), (e) => e.value)).toEqual(Option.some(1))
    })
  )
})

describe("finding the shards", () => {
  const worker = (name: string, address?: string) => ({
    id: 1,
    name,
    committed: 0,
    persisted: 0,
    pending: 0,
    registered: true,
    ...(address !== undefined ? { address } : {})
  })
  const status = (workers: ReadonlyArray<ReturnType<typeof worker>>) => ({ worldLine: 1, rebuilding: false, cut: [], workers })

  it("reads every shard's endpoint, in shard order, from the coordinator's status", () => {
    const found = KvClient.endpointsFromStatus(
      status([worker("kv-1", "tcp://127.0.0.1:7002"), worker("wal", "tcp://127.0.0.1:7100"), worker("kv-0", "tcp://127.0.0.1:7001")])
    )
    expect(found).toEqual(Either.right([Endpoint.tcp(7001), Endpoint.tcp(7002)]))
  })

  it("refuses a cluster with a missing shard, a shard without an address, or no shard", () => {
    expect(Either.isLeft(KvClient.endpointsFromStatus(status([worker("kv-0", "tcp://127.0.0.1:1"), worker("kv-2", "tcp://127.0.0.1:3")])))).toBe(true)
    expect(Either.isLeft(KvClient.endpointsFromStatus(status([worker("kv-0")])))).toBe(true)
    expect(Either.isLeft(KvClient.endpointsFromStatus(status([worker("wal", "tcp://127.0.0.1:1")])))).toBe(true)
  })
})
