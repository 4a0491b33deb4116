/**
 * The transports themselves, in this process: malformed headers, timeouts, an endpoint that is
 * down, the frame limit, plain groups, reconnecting in-process, and the Endpoint string form.
 */
import { describe, expect, it } from "@effect/vitest"
import { PayloadTooLarge, Sthread } from "@dse/core"
import type { RpcClient } from "@effect/rpc"
import { RpcServer } from "@effect/rpc"
import type { FromClientEncoded } from "@effect/rpc/RpcMessage"
import { Cause, Effect, Either, Exit, Option, Schema, Scope } from "effect"
import { DseRpcClient, DseRpcServer, Endpoint, InProcessHub, RpcTransport } from "../src/index"
import { handlers, makeCounter, PlainRpcs, plainHandlers, TestRpcs } from "./fixtures/TestRpcs"
import { makeCluster } from "./support/cluster"

const failureOf = <A, E>(exit: Exit.Exit<A, E>): unknown =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined

const transports = [
  { name: "in-process", endpoint: (service: string) => Endpoint.inProcess(service) },
  { name: "tcp", endpoint: (_: string) => Endpoint.tcp(0) }
] as const

/** One DSE service process serving TestRpcs. */
const serveTestRpcs = (endpoint: Endpoint.Endpoint, options: Partial<RpcTransport.ServerOptions> = {}) =>
  Effect.gen(function* () {
    const cluster = yield* makeCluster
    const context = yield* cluster.spawn()
    const so = yield* Effect.provide(makeCounter("a"), context)
    const bound = yield* DseRpcServer.make(TestRpcs, { ...options, endpoint }).pipe(
      Effect.provide(TestRpcs.toLayer(handlers(so))),
      Effect.provide(context)
    )
    return { so, endpoint: bound.endpoint }
  })

/** A client whose requests carry `field` as their DSE header, whatever it is. */
const tamperedClient = (endpoint: Endpoint.Endpoint, field: unknown) =>
  Effect.gen(function* () {
    const protocol = yield* RpcTransport.clientProtocol({ endpoint })
    const tampered: RpcClient.Protocol["Type"] = {
      ...protocol,
      send: (message: FromClientEncoded, transferables) =>
        protocol.send(message._tag === "Request" ? ({ ...message, dse: field } as FromClientEncoded) : message, transferables)
    }
    return yield* RpcTransport.clientOf(TestRpcs, tampered, { endpoint })
  })

for (const transport of transports) {
  describe(`transport over ${transport.name}`, () => {
    const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) => Effect.provide(effect, InProcessHub.layer)

    it.scopedLive("undecodable header bytes fail with MalformedHeader", () =>
      run(
        Effect.gen(function* () {
          const { endpoint } = yield* serveTestRpcs(transport.endpoint("a"))
          const garbage = yield* tamperedClient(endpoint, new Uint8Array([0xd5, 0x00, 0x81]))
          expect(failureOf(yield* Effect.exit(garbage.Inspect()))).toMatchObject({ _tag: "MalformedHeader" })
          const notBytes = yield* tamperedClient(endpoint, "world-line 1")
          expect(failureOf(yield* Effect.exit(notBytes.Inspect()))).toMatchObject({
            _tag: "MalformedHeader",
            reason: "expected header bytes, got string"
          })
        })
      ))

    it.scopedLive("a server that shuts down with a call in flight fails it with RpcClientError, not an interruption", () =>
      run(
        Effect.gen(function* () {
          const cluster = yield* makeCluster
          const context = yield* cluster.spawn()
          const so = yield* Effect.provide(makeCounter("a"), context)
          const serverScope = yield* Scope.make()
          const bound = yield* DseRpcServer.make(TestRpcs, { endpoint: transport.endpoint("closing") }).pipe(
            Effect.provide(TestRpcs.toLayer(handlers(so))),
            Effect.provide(context),
            Effect.provideService(Scope.Scope, serverScope)
          )
          const client = yield* DseRpcClient.make(TestRpcs, { endpoint: bound.endpoint })
          const call = yield* Effect.fork(Effect.exit(client.Sleep({ ms: 5_000 })))
          yield* Effect.sleep("200 millis")
          yield* Scope.close(serverScope, Exit.void)
          const exit = yield* call.await.pipe(Effect.flatten)
          expect(Exit.isFailure(exit)).toBe(true)
          if (Exit.isFailure(exit)) {
            expect(Cause.isInterruptedOnly(exit.cause)).toBe(false)
            expect(failureOf(exit)).toMatchObject({ _tag: "RpcClientError" })
          }
        })
      ))

    it.scopedLive("a reply whose header cannot be decoded fails the call with MalformedHeader at the caller", () =>
      run(
        Effect.gen(function* () {
          const cluster = yield* makeCluster
          const context = yield* cluster.spawn()
          const so = yield* Effect.provide(makeCounter("a"), context)
          const { protocol, endpoint } = yield* RpcTransport.serverProtocol({ endpoint: transport.endpoint("evil") })
          const evil: RpcServer.Protocol["Type"] = {
            ...protocol,
            send: (clientId, response, transferables) =>
              protocol.send(clientId, response._tag === "Exit" ? ({ ...response, dse: new Uint8Array([1, 2, 3]) } as typeof response) : response, transferables)
          }
          yield* RpcServer.make(TestRpcs, { disableFatalDefects: true }).pipe(
            Effect.provideService(RpcServer.Protocol, evil),
            Effect.provide(TestRpcs.toLayer(handlers(so))),
            Effect.provide(DseRpcServer.middleware),
            Effect.provide(context),
            Effect.forkScoped
          )
          const client = yield* DseRpcClient.make(TestRpcs, { endpoint })
          const exit = yield* Effect.exit(Sthread.within(client.Add({ key: "k", amount: 1 }), new Sthread.Sthread(1)))
          expect(failureOf(exit)).toMatchObject({ _tag: "MalformedHeader" })
          // An outside call absorbs nothing, so it does not look at the header.
          expect((yield* client.Add({ key: "k", amount: 1 })).value).toBe(2)
        })
      ))

    it.scopedLive("a call without a reply within the timeout fails with RpcClientError", () =>
      run(
        Effect.gen(function* () {
          const { endpoint } = yield* serveTestRpcs(transport.endpoint("a"))
          const client = yield* DseRpcClient.make(TestRpcs, { endpoint, timeout: "100 millis" })
          const exit = yield* Effect.exit(client.Sleep({ ms: 5_000 }))
          expect(failureOf(exit)).toMatchObject({ _tag: "RpcClientError", message: expect.stringContaining("no reply to Sleep") })
          // The override is per call.
          yield* DseRpcClient.withTimeout(client.Sleep({ ms: 150 }), "1 second")
        })
      ))

    it.scopedLive("the timeout also ends a call made from an uninterruptible region (a finalizer)", () =>
      run(
        Effect.gen(function* () {
          const { endpoint } = yield* serveTestRpcs(transport.endpoint("a"))
          const client = yield* DseRpcClient.make(TestRpcs, { endpoint, timeout: "100 millis" })
          const exit = yield* Effect.exit(Effect.uninterruptible(client.Sleep({ ms: 5_000 }))).pipe(
            // Without the fix the call never ends; disconnect lets this guard give up on it anyway.
            Effect.disconnect,
            Effect.timeoutFail({ duration: "3 seconds", onTimeout: () => "the call was never ended" }),
            Effect.either
          )
          expect(exit._tag).toBe("Right")
          if (exit._tag === "Right") {
            expect(failureOf(exit.right)).toMatchObject({ _tag: "RpcClientError", message: expect.stringContaining("no reply to Sleep") })
          }
        })
      ))

    it.scopedLive("calls to an endpoint nobody serves fail at once with RpcClientError", () =>
      run(
        Effect.gen(function* () {
          // A port that was free a moment ago: nothing listens there now.
          const endpoint =
            transport.name === "tcp"
              ? yield* Effect.scoped(Effect.map(RpcTransport.serverProtocol({ endpoint: Endpoint.tcp(0) }), (s) => s.endpoint))
              : Endpoint.inProcess("nobody")
          const client = yield* DseRpcClient.make(TestRpcs, { endpoint })
          const started = Date.now()
          const exit = yield* Effect.exit(client.Ping())
          expect(failureOf(exit)).toMatchObject({ _tag: "RpcClientError" })
          expect(Date.now() - started).toBeLessThan(1_000)
        })
      ))

    it.scopedLive("an oversize request fails alone with a typed error; the connection keeps working", () =>
      run(
        Effect.gen(function* () {
          const { endpoint } = yield* serveTestRpcs(transport.endpoint("a"), { maxFrameBytes: 64 * 1024 })
          const client = yield* DseRpcClient.make(TestRpcs, { endpoint, maxFrameBytes: 64 * 1024 })
          const exit = yield* Effect.exit(client.Length({ data: new Uint8Array(100 * 1024) }))
          const error = failureOf(exit) as { _tag: string; cause: unknown }
          expect(error._tag).toBe("RpcClientError")
          expect(error.cause).toBeInstanceOf(PayloadTooLarge)
          expect(yield* client.Length({ data: new Uint8Array(1024) })).toBe(1024)
        })
      ))

    it.scopedLive("an oversize reply fails that call with a defect; the connection keeps working", () =>
      run(
        Effect.gen(function* () {
          const { endpoint } = yield* serveTestRpcs(transport.endpoint("a"), { maxFrameBytes: 64 * 1024 })
          const client = yield* DseRpcClient.make(TestRpcs, { endpoint, maxFrameBytes: 64 * 1024 })
          const exit = yield* Effect.exit(client.Blob({ size: 100 * 1024 }))
          expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
          expect(String(Exit.isFailure(exit) ? Cause.squash(exit.cause) : "")).toContain("exceeds the frame limit")
          expect((yield* client.Blob({ size: 1024 })).length).toBe(1024)
        })
      ))

    it.scopedLive("a plain group is served and called without DSE headers", () =>
      run(
        Effect.gen(function* () {
          const { endpoint } = yield* RpcTransport.makeServer(PlainRpcs, { endpoint: transport.endpoint("plain") }).pipe(
            Effect.provide(PlainRpcs.toLayer(plainHandlers()))
          )
          const client = yield* RpcTransport.makeClient(PlainRpcs, { endpoint })
          expect(yield* client.Add({ key: "k", amount: 2 })).toBe(2)
          expect(yield* client.Add({ key: "k", amount: 3 })).toBe(5)
        })
      ))

    it.scopedLive("a second server on a taken endpoint fails with ListenError", () =>
      run(
        Effect.gen(function* () {
          const first = yield* RpcTransport.serverProtocol({ endpoint: transport.endpoint("taken") })
          const second = yield* Effect.either(RpcTransport.serverProtocol({ endpoint: first.endpoint }))
          const error = Option.getOrThrow(Either.getLeft(second))
          expect(error._tag).toBe("ListenError")
          expect(error.reason).toContain(transport.name === "tcp" ? "EADDRINUSE" : "already served")
        })
      ))
  })
}

describe("DseRpcServer", () => {
  it.scopedLive("refuses a group with an RPC that does not use DseMiddleware", () =>
    Effect.gen(function* () {
      const cluster = yield* makeCluster
      const context = yield* cluster.spawn()
      const exit = yield* Effect.exit(
        DseRpcServer.make(PlainRpcs as any, { endpoint: Endpoint.inProcess("plain") }).pipe(
          Effect.provide(PlainRpcs.toLayer(plainHandlers())),
          Effect.provide(context),
          Effect.provide(InProcessHub.layer)
        )
      )
      expect(Exit.isFailure(exit) && String(Cause.squash(exit.cause))).toContain("does not use DseMiddleware")
    })
  )
})

describe("in-process hub", () => {
  it.scopedLive("every message goes through the msgpack wire format", () =>
    Effect.gen(function* () {
      const hub = InProcessHub.make()
      yield* Effect.gen(function* () {
        const { endpoint } = yield* serveTestRpcs(Endpoint.inProcess("a"))
        const client = yield* DseRpcClient.make(TestRpcs, { endpoint })
        // A schema that does not survive msgpack would fail here, as it would over TCP.
        expect(Array.from(yield* client.Blob({ size: 3 }))).toEqual([0, 0, 0])
      }).pipe(Effect.provideService(InProcessHub, hub))
      const stats = hub.stats()
      expect(stats.frames).toBeGreaterThanOrEqual(2)
      expect(stats.bytes).toBeGreaterThan(0)
    })
  )

  it.scopedLive("a client reconnects when its endpoint is served again; meanwhile calls fail at once", () =>
    Effect.gen(function* () {
      const plain = (scope: Scope.Scope) =>
        RpcTransport.makeServer(PlainRpcs, { endpoint: Endpoint.inProcess("p") }).pipe(
          Effect.provide(PlainRpcs.toLayer(plainHandlers())),
          Scope.extend(scope)
        )
      const first = yield* Scope.make()
      yield* plain(first)
      const client = yield* RpcTransport.makeClient(PlainRpcs, { endpoint: Endpoint.inProcess("p") })
      expect(yield* client.Add({ key: "k", amount: 1 })).toBe(1)
      yield* Scope.close(first, Exit.void)
      expect(failureOf(yield* Effect.exit(client.Add({ key: "k", amount: 1 })))).toMatchObject({ _tag: "RpcClientError" })
      yield* plain(yield* Effect.scope)
      expect(yield* client.Add({ key: "k", amount: 5 })).toBe(5)
    }).pipe(Effect.provide(InProcessHub.layer))
  )
})

describe("Endpoint", () => {
  it("formats and parses both forms", () => {
    for (const endpoint of [Endpoint.tcp(7001), Endpoint.tcp(0, "::1"), Endpoint.inProcess("kv-0")]) {
      expect(Endpoint.parse(Endpoint.format(endpoint))).toEqual(Either.right(endpoint))
    }
    expect(Endpoint.format(Endpoint.tcp(7001))).toBe("tcp://127.0.0.1:7001")
    expect(Endpoint.parse("localhost:80")).toEqual(Either.right(Endpoint.tcp(80, "localhost")))
    expect(Either.isLeft(Endpoint.parse("tcp://127.0.0.1:99999"))).toBe(true)
    expect(Either.isLeft(Endpoint.parse("http://x"))).toBe(true)
  })

  it("is a Schema", () => {
    expect(Schema.decodeUnknownSync(Endpoint.Endpoint)({ _tag: "Tcp", host: "127.0.0.1", port: 1 })).toEqual(Endpoint.tcp(1))
    expect(() => Schema.decodeUnknownSync(Endpoint.Endpoint)({ _tag: "Tcp", host: "127.0.0.1", port: -1 })).toThrow()
  })
})

