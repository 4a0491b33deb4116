/**
 * The coordinator's RPC face and RemoteCoordinatorClient, over real TCP inside this process, with
 * the coordinator on an in-memory cluster state.
 */
import { describe, expect, it } from "@effect/vitest"
import { Coordinator } from "@dse/coordinator"
import { CoordinatorClient, Dse, StateObject, VersionedCell } from "@dse/core"
import { MemoryCheckpointStore, MemoryClusterStateStore } from "@dse/storage"
import { Endpoint, RpcTransport } from "@dse/transport"
import { Cause, Chunk, Effect, Exit, Layer, Mailbox, Option, Schedule, Stream } from "effect"
import { CoordinatorRpcs, CoordinatorServer, RemoteCoordinatorClient } from "../src/index"

const serveCoordinator = (options: { readonly maxEventBacklog?: number } = {}) =>
  Effect.gen(function* () {
    const coordinator = yield* Effect.provide(Coordinator.make(), MemoryClusterStateStore.layer)
    const { endpoint } = yield* CoordinatorServer.serve(Endpoint.tcp(0), options).pipe(
      Effect.provideService(Coordinator, coordinator)
    )
    const port = endpoint._tag === "Tcp" ? endpoint.port : 0
    return { coordinator, port }
  })

const eventually = (check: Effect.Effect<boolean, unknown>) =>
  Effect.flatMap(check, (ok) => (ok ? Effect.void : Effect.fail("not yet"))).pipe(
    Effect.retry({ schedule: Schedule.spaced("10 millis"), times: 300 }),
    Effect.orDie
  )

describe("RemoteCoordinatorClient", () => {
  it.scopedLive("register, report and status travel over TCP with core's Schemas", () =>
    Effect.gen(function* () {
      const { port } = yield* serveCoordinator()
      const client = yield* RemoteCoordinatorClient.make({ port })
      const registration = yield* client.register({ name: "w1", worldLine: 0, committed: 0, checkpoints: [], pid: 42 })
      expect(registration).toMatchObject({ id: 1, worldLine: 1 })
      yield* client.report({ worker: 1, worldLine: 1, version: 1, prev: 0, deps: [] })
      yield* eventually(Effect.map(client.status, (s) => s.workers[0]?.committed === 1))
      const status = yield* client.status
      expect(status.workers[0]).toMatchObject({ id: 1, name: "w1", committed: 1, registered: true, pid: 42 })
    }))

  it.scopedLive("a register of a world-line the coordinator has not reached fails with a typed FutureWorldLine", () =>
    Effect.gen(function* () {
      const { port } = yield* serveCoordinator()
      const client = yield* RemoteCoordinatorClient.make({ port })
      const exit = yield* Effect.exit(client.register({ name: "w1", worldLine: 5, committed: 0, checkpoints: [] }))
      expect(Exit.isFailure(exit) && Option.getOrUndefined(Cause.failureOption(exit.cause))).toMatchObject({
        _tag: "FutureWorldLine",
        received: 5
      })
    }))

  it.scopedLive("events start with the current cut and end when the coordinator shuts down", () =>
    Effect.gen(function* () {
      const { coordinator, port } = yield* serveCoordinator()
      const client = yield* RemoteCoordinatorClient.make({ port })
      yield* client.register({ name: "w1", worldLine: 0, committed: 0, checkpoints: [] })
      const collected = yield* Effect.fork(Stream.runCollect(client.events))
      yield* Effect.sleep("100 millis")
      yield* client.report({ worker: 1, worldLine: 1, version: 1, prev: 0, deps: [] })
      yield* Effect.sleep("100 millis")
      yield* coordinator.shutdown
      const events = Chunk.toReadonlyArray(yield* collected.await.pipe(Effect.flatten))
      expect(events[0]).toMatchObject({ _tag: "CutAdvanced", worldLine: 1, cut: [[1, 0]] })
      expect(events.at(-1)).toMatchObject({ _tag: "CutAdvanced", cut: [[1, 1]] })
    }))

  it.scopedLive("report and requestSeal return at once while the coordinator is unreachable", () =>
    Effect.gen(function* () {
      // A port that was free a moment ago: nothing listens there now.
      const endpoint = yield* Effect.scoped(Effect.map(RpcTransport.serverProtocol({ endpoint: Endpoint.tcp(0) }), (s) => s.endpoint))
      const client = yield* RemoteCoordinatorClient.make({ port: endpoint._tag === "Tcp" ? endpoint.port : 0, queueCapacity: 64 })
      const started = Date.now()
      for (let v = 1; v <= 5_000; v++) {
        yield* client.report({ worker: 1, worldLine: 1, version: v, prev: v - 1, deps: [] })
        yield* client.requestSeal([[1, v]])
      }
      expect(Date.now() - started).toBeLessThan(2_000)
      const status = yield* Effect.exit(client.status)
      expect(Exit.isFailure(status) && Option.getOrUndefined(Cause.failureOption(status.cause))).toMatchObject({
        _tag: "CoordinatorUnavailable"
      })
    }))

  it.scopedLive("a subscriber that stops reading is cut off once it falls too far behind", () =>
    Effect.gen(function* () {
      const { port } = yield* serveCoordinator({ maxEventBacklog: 5 })
      const client = yield* RemoteCoordinatorClient.make({ port })
      yield* client.register({ name: "w1", worldLine: 0, committed: 0, checkpoints: [] })
      // A raw subscriber that never reads: its buffer fills, then its acks stop.
      const raw = yield* RpcTransport.makeClient(CoordinatorRpcs, { endpoint: Endpoint.tcp(port) })
      const mailbox = yield* raw.Events({}, { asMailbox: true, streamBufferSize: 2 })
      for (let v = 1; v <= 60; v++) {
        yield* client.report({ worker: 1, worldLine: 1, version: v, prev: v - 1, deps: [] })
        yield* Effect.sleep("2 millis")
      }
      // Reading now: what was buffered arrives, then the failure that ended the subscription.
      const exit = yield* Effect.exit(Stream.runCollect(Mailbox.toStream(mailbox)))
      expect(Exit.isFailure(exit) && Option.getOrUndefined(Cause.failureOption(exit.cause))).toMatchObject({
        _tag: "CoordinatorUnavailable",
        reason: "subscriber fell 5 events behind"
      })
      // The coordinator itself is fine.
      expect((yield* client.status).workers[0]!.committed).toBe(60)
    }))

  it.scopedLive("a Dse runtime over the remote client commits an Action", () =>
    Effect.gen(function* () {
      const { port } = yield* serveCoordinator()
      const context = yield* Layer.build(
        Layer.provideMerge(
          Dse.layer(),
          Layer.merge(RemoteCoordinatorClient.layer({ port }), MemoryCheckpointStore.layer())
        )
      )
      const [version, thread] = yield* Effect.gen(function* () {
        const so = yield* StateObject.make({ name: "counter", state: VersionedCell.make(0) })
        return yield* Dse.sthread(so.action((c) => Effect.sync(() => (c.update((n) => n + 1), so.stats().version))))
      }).pipe(Effect.provide(context))
      yield* Effect.provide(Dse.awaitCommitOf(thread), context)
      const status = yield* Effect.provide(Effect.flatMap(CoordinatorClient, (c) => c.status), context)
      expect(status.workers[0]!.committed).toBeGreaterThanOrEqual(version)
    }))
})
