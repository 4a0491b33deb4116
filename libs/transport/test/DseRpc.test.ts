/**
 * The DSE header on the wire, on both transports (the in-process hub and real TCP sockets in this
 * process): requests carry the caller's sthread, replies carry what the handler's Actions added,
 * outside calls wait for commit, and bad headers are refused with typed errors.
 */
import { describe, expect, it } from "@effect/vitest"
import { DependencySet, Dse, Sthread } from "@dse/core"
import type { Version, WorkerId } from "@dse/core"
import { Cause, Chunk, Effect, Exit, Fiber, Option, Stream } from "effect"
import type { Scope } from "effect"
import { DseRpcClient, DseRpcServer, Endpoint, InProcessHub } from "../src/index"
import type { Counter } from "./fixtures/TestRpcs"
import { handlers, makeCounter, TestRpcs } from "./fixtures/TestRpcs"
import type { ProcessOptions } from "./support/cluster"
import { eventually, makeCluster } from "./support/cluster"

type Transport = { readonly name: string; readonly endpoint: (service: string) => Endpoint.Endpoint }

const transports: ReadonlyArray<Transport> = [
  { name: "in-process", endpoint: (service) => Endpoint.inProcess(service) },
  { name: "tcp", endpoint: () => Endpoint.tcp(0) }
]

const sthreadOf = (worldLine: number, deps: ReadonlyArray<readonly [number, number]>) =>
  new Sthread.Sthread(worldLine, DependencySet.fromIterable(deps as ReadonlyArray<readonly [WorkerId, Version]>))

const failureOf = <A, E>(exit: Exit.Exit<A, E>): unknown =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined

for (const transport of transports) {
  describe(`DSE header over ${transport.name}`, () => {
    const setup = Effect.gen(function* () {
      const cluster = yield* makeCluster
      /** A process that serves TestRpcs from one counter StateObject. */
      const service = (name: string, options: ProcessOptions = {}, downstream?: Endpoint.Endpoint) =>
        Effect.gen(function* () {
          const context = yield* cluster.spawn(options)
          const so: Counter = yield* Effect.provide(makeCounter(name), context)
          const down = downstream ? yield* DseRpcClient.make(TestRpcs, { endpoint: downstream }) : undefined
          const { endpoint } = yield* DseRpcServer.make(TestRpcs, { endpoint: transport.endpoint(name) }).pipe(
            Effect.provide(TestRpcs.toLayer(handlers(so, down))),
            Effect.provide(context)
          )
          const client = yield* DseRpcClient.make(TestRpcs, { endpoint })
          return { so, endpoint, client, context }
        })
      const caller = yield* cluster.spawn()
      const inCaller = <A, E>(effect: Effect.Effect<A, E, Dse.Dse>) => Effect.provide(effect, caller)
      return { cluster, service, caller, inCaller }
    })

    const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) =>
      Effect.provide(effect, InProcessHub.layer)

    it.scopedLive("a success reply carries the version of the handler's Action into the caller's sthread", () =>
      run(
        Effect.gen(function* () {
          const { service, inCaller } = yield* setup
          const a = yield* service("a")
          const [added, thread] = yield* inCaller(Dse.sthread(a.client.Add({ key: "k", amount: 2 })))
          expect(added.value).toBe(2)
          expect(thread.worldLine).toBe(1)
          expect(thread.deps.get(a.so.id)).toBe(added.version)
        })
      ))

    it.scopedLive("a typed failure reply carries the reply header too", () =>
      run(
        Effect.gen(function* () {
          const { service } = yield* setup
          const a = yield* service("a")
          const thread = sthreadOf(1, [])
          const exit = yield* Effect.exit(Sthread.within(a.client.AddThenFail({ key: "k", amount: 1 }), thread))
          const boom = failureOf(exit) as { _tag: string; version: number }
          expect(boom._tag).toBe("Boom")
          expect(thread.deps.get(a.so.id)).toBe(boom.version)
        })
      ))

    it.scopedLive("each chunk of a stream carries the header so far, absorbed before the chunk is seen", () =>
      run(
        Effect.gen(function* () {
          const { service } = yield* setup
          const a = yield* service("a", { sealPeriod: "10 seconds" })
          const thread = sthreadOf(1, [])
          const seen: Array<readonly [number, number | undefined]> = []
          const items = yield* a.client.Count({ key: "k", n: 3 }).pipe(
            Stream.tap((item) => Effect.sync(() => seen.push([item.version, thread.deps.get(a.so.id)]))),
            Stream.runCollect,
            Sthread.within(thread)
          )
          const versions = Chunk.toReadonlyArray(items).map((i) => i.version)
          // Sealed between Actions: three versions, each visible in the sthread with its own chunk.
          expect(new Set(versions).size).toBe(3)
          expect(seen).toEqual(versions.map((v) => [v, v]))
        })
      ))

    it.scopedLive("the caller's header reaches the handler's sthread", () =>
      run(
        Effect.gen(function* () {
          const { service } = yield* setup
          const a = yield* service("a")
          const b = yield* service("b")
          const view = yield* Sthread.within(a.client.Inspect(), sthreadOf(1, [[b.so.id, 7]]))
          expect(view).toEqual(Option.some({ worldLine: 1, deps: [[b.so.id, 7]] }))
          // Outside a sthread the call carries no header: the handler runs in a fresh sthread.
          expect(yield* a.client.Inspect()).toEqual(Option.some({ worldLine: 1, deps: [] }))
        })
      ))

    it.scopedLive("nested calls propagate: B's Action, called inside A's, commits with A's", () =>
      run(
        Effect.gen(function* () {
          const { cluster, service, inCaller } = yield* setup
          // Long seal periods: B's version commits only if something that depends on it is awaited.
          const b = yield* service("b", { sealPeriod: "1 hour" })
          const a = yield* service("a", { sealPeriod: "1 hour" }, b.endpoint)
          const [result, thread] = yield* inCaller(Dse.sthread(a.client.Forward({ key: "k", amount: 1 })))
          expect(thread.deps.get(a.so.id)).toBe(result.local.version)
          expect(yield* cluster.committed(b.so.id)).toBeLessThan(result.remote.version)
          yield* inCaller(Dse.awaitCommitOf(thread))
          expect(yield* cluster.committed(b.so.id)).toBeGreaterThanOrEqual(result.remote.version)
        })
      ))

    it.scopedLive("concurrent sthreads on one connection do not mix their headers", () =>
      run(
        Effect.gen(function* () {
          const { service } = yield* setup
          const a = yield* service("a")
          const b = yield* service("b")
          const x = sthreadOf(1, [[b.so.id, 50]])
          const y = sthreadOf(1, [[b.so.id, 60]])
          const twenty = Array.from({ length: 20 }, (_, i) => i)
          // x runs Actions on a (its replies name a's version); y only looks (its replies name nothing).
          const xs = Effect.forEach(twenty, () => Sthread.within(a.client.Add({ key: "k", amount: 1 }), x), { concurrency: 4 })
          const ys = Effect.forEach(
            twenty,
            () => Effect.map(Sthread.within(a.client.Inspect(), y), (view) => Option.getOrThrow(view).deps),
            { concurrency: 4 }
          )
          const [, views] = yield* Effect.all([xs, ys], { concurrency: 2 })
          // Every request carried its own sthread's header...
          expect(views.every((deps) => deps.some(([w, v]) => w === b.so.id && v === 60))).toBe(true)
          // ...and every reply went to the sthread that sent the request.
          expect(x.deps.get(a.so.id)).toBeDefined()
          expect(y.deps.get(a.so.id)).toBeUndefined()
          expect([x.deps.get(b.so.id), y.deps.get(b.so.id)]).toEqual([50, 60])
        })
      ))

    it.scopedLive("a call from outside (no sthread) is released only after its dependencies commit", () =>
      run(
        Effect.gen(function* () {
          const { cluster, service, inCaller } = yield* setup
          const a = yield* service("a", { persistDelay: "500 millis" })
          // Speculative: the reply does not wait for the persist.
          const [fast] = yield* inCaller(Dse.sthread(a.client.Add({ key: "k", amount: 1 })))
          expect(yield* cluster.committed(a.so.id)).toBeLessThan(fast.version)
          // Outside: released only once the coordinator has committed the Action's version.
          const slow = yield* a.client.Add({ key: "k", amount: 1 })
          expect(yield* cluster.committed(a.so.id)).toBeGreaterThanOrEqual(slow.version)
        })
      ))

    it.scopedLive("a stream to an outside caller releases each chunk only after it commits", () =>
      run(
        Effect.gen(function* () {
          const { cluster, service } = yield* setup
          const a = yield* service("a", { persistDelay: "50 millis", sealPeriod: "1 hour" })
          const seen: Array<boolean> = []
          yield* a.client.Count({ key: "k", n: 3 }).pipe(
            Stream.mapEffect((item) => Effect.map(cluster.committed(a.so.id), (c) => seen.push(c >= item.version))),
            Stream.runDrain
          )
          expect(seen).toEqual([true, true, true])
        })
      ))

    it.scopedLive("a stream to an outside caller whose dependencies are lost fails with RolledBack and sends nothing", () =>
      run(
        Effect.gen(function* () {
          const { cluster, service } = yield* setup
          // Nothing of a commits in time: its persists take longer than the test.
          const a = yield* service("a", { persistDelay: "1 hour", sealPeriod: "1 hour" })
          const seen: Array<number> = []
          const fiber = yield* Effect.fork(
            Effect.exit(a.client.Count({ key: "k", n: 3 }).pipe(Stream.runForEach((item) => Effect.sync(() => seen.push(item.version)))))
          )
          // The first Action ran and was sealed: its chunk now waits for a commit that cannot come.
          yield* eventually(Effect.sync(() => a.so.stats().sealed >= 1))
          // A restarted member with a past moves the cluster to world-line 2; a's first chunk is lost.
          yield* cluster.coordinator.register({ name: "ghost", worldLine: 0, committed: 1, checkpoints: [] })
          const exit = yield* Fiber.join(fiber)
          expect(failureOf(exit)).toMatchObject({ _tag: "RolledBack" })
          expect(seen).toEqual([])
        })
      ))

    it.scopedLive("a header of an older world-line whose dependencies were lost fails with RolledBack at the caller", () =>
      run(
        Effect.gen(function* () {
          const { cluster, service } = yield* setup
          const a = yield* service("a")
          // A restarted member with a past moves the cluster to world-line 2.
          yield* cluster.coordinator.register({ name: "ghost", worldLine: 0, committed: 1, checkpoints: [] })
          yield* eventually(Effect.provide(Effect.map(Dse.Dse, (dse) => dse.worldLine() === 2), a.context))
          const lost = sthreadOf(1, [[a.so.id, 99]])
          const exit = yield* Effect.exit(Sthread.within(a.client.Add({ key: "k", amount: 1 }), lost))
          expect(failureOf(exit)).toMatchObject({ _tag: "RolledBack", worldLine: 2 })
          expect(a.so.stats().version).toBeLessThan(99)
          // An old header whose dependencies all committed carries no speculation: it is accepted.
          const safe = sthreadOf(1, [])
          expect((yield* Sthread.within(a.client.Add({ key: "k", amount: 1 }), safe)).value).toBe(1)
          expect(safe.worldLine).toBe(2)
        })
      ))

    it.scopedLive("a dependency on a worker the cluster does not know fails with UnknownWorker", () =>
      run(
        Effect.gen(function* () {
          const { service } = yield* setup
          const a = yield* service("a")
          const exit = yield* Effect.exit(Sthread.within(a.client.Inspect(), sthreadOf(1, [[999, 1]])))
          expect(failureOf(exit)).toMatchObject({ _tag: "UnknownWorker", worker: 999 })
        })
      ))

    it.scopedLive("a member that joined after the server's last cut is accepted after one refresh", () =>
      run(
        Effect.gen(function* () {
          const { cluster, service } = yield* setup
          const a = yield* service("a")
          // A new member without a past: the coordinator publishes no cut for it.
          const late = yield* cluster.coordinator.register({ name: "late", worldLine: 0, committed: 0, checkpoints: [] })
          expect(yield* Effect.provide(Effect.map(Dse.Dse, (d) => d.cut().has(late.id as WorkerId)), a.context)).toBe(false)
          const view = yield* Sthread.within(a.client.Inspect(), sthreadOf(1, [[late.id, 3]]))
          expect(Option.getOrThrow(view).deps).toEqual([[late.id, 3]])
        })
      ))

    it.scopedLive("a header of a world-line the server has not reached waits, then fails with FutureWorldLine", () =>
      run(
        Effect.gen(function* () {
          const { service } = yield* setup
          const a = yield* service("a", { futureWorldLineWait: "300 millis" })
          const started = Date.now()
          const exit = yield* Effect.exit(Sthread.within(a.client.Inspect(), sthreadOf(5, [])))
          expect(failureOf(exit)).toMatchObject({ _tag: "FutureWorldLine", received: 5, current: 1 })
          expect(Date.now() - started).toBeGreaterThanOrEqual(250)
        })
      ))
  })
}

