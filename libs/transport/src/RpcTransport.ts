/**
 * Plain @effect/rpc over our transports, for groups without the DSE middleware (the
 * coordinator's own RPCs, tools): the same endpoints, wire format, frame limit, reconnects and
 * per-call timeouts as `DseRpcServer` / `DseRpcClient`, without DSE headers.
 *
 *   const { endpoint } = yield* RpcTransport.makeServer(Rpcs, { endpoint: Endpoint.tcp(0) })
 *   const client = yield* RpcTransport.makeClient(Rpcs, { endpoint })
 */
import type { Rpc, RpcGroup } from "@effect/rpc"
import { RpcClient, RpcClientError, RpcSchema, RpcServer } from "@effect/rpc"
import { PayloadTooLarge } from "@dse/core"
import * as Socket from "@effect/platform/Socket"
import type { Scope } from "effect"
import { Duration, Effect, Fiber, FiberRef, Layer, Option, Schedule } from "effect"
import type { Endpoint } from "./Endpoint"
import { format } from "./Endpoint"
import { InProcessHub } from "./InProcessHub"
import * as InProcess from "./internal/inProcess"
import * as Serialization from "./internal/serialization"
import { FrameTooLarge } from "./internal/serialization"
import * as Tcp from "./internal/tcp"
import type { ListenError } from "./ListenError"

export interface TransportOptions {
  /** The largest frame sent or accepted, in bytes. Default 1 MiB. */
  readonly maxFrameBytes?: number | undefined
  /** TCP_NODELAY on every connection. Default true. */
  readonly noDelay?: boolean | undefined
  /** @effect/rpc spans for every call. Default false: spans cost more than a DSE header. */
  readonly tracing?: boolean | undefined
}

export interface ServerOptions extends TransportOptions {
  /** Where to listen. `Endpoint.tcp(0)` asks for a free port on 127.0.0.1. */
  readonly endpoint: Endpoint
  /** How many requests run at once. Default unbounded. */
  readonly concurrency?: number | "unbounded" | undefined
}

export interface ClientOptions extends TransportOptions {
  readonly endpoint: Endpoint
  /** Per-call timeout of non-streaming calls (RpcClientError when it expires). Default 30 s. */
  readonly timeout?: Duration.DurationInput | undefined
  /** When to try again after the connection dropped or could not open. Default every 250 ms. */
  readonly reconnect?: Schedule.Schedule<unknown, unknown> | undefined
  /** TCP connect timeout. Default 2 s. */
  readonly connectTimeout?: Duration.DurationInput | undefined
}

/** A running server: where it listens (the bound port when it asked for port 0). */
export interface BoundServer {
  readonly endpoint: Endpoint
}

export const DEFAULT_TIMEOUT = Duration.seconds(30)
export const DEFAULT_RECONNECT: Schedule.Schedule<unknown, unknown> = Schedule.spaced(Duration.millis(250))

const serializationOf = (options: TransportOptions) =>
  Serialization.make(options.maxFrameBytes ?? Serialization.DEFAULT_MAX_FRAME_BYTES)

/** The RpcServer Protocol of `options.endpoint`, listening until the scope closes. */
export const serverProtocol = (
  options: ServerOptions
): Effect.Effect<{ readonly protocol: RpcServer.Protocol["Type"]; readonly endpoint: Endpoint }, ListenError, Scope.Scope> => {
  const serialization = serializationOf(options)
  const endpoint = options.endpoint
  if (endpoint._tag === "Tcp") {
    return Tcp.serverProtocol({ host: endpoint.host, port: endpoint.port, noDelay: options.noDelay ?? true, serialization })
  }
  return Effect.flatMap(InProcessHub, (hub) =>
    Effect.map(
      InProcess.makeServerProtocol(hub, endpoint.name, serialization, options.maxFrameBytes ?? Serialization.DEFAULT_MAX_FRAME_BYTES),
      (protocol) => ({ protocol, endpoint })
    )
  )
}

/**
 * The RpcClient Protocol of `options.endpoint`, connected until the scope closes. A request above
 * the frame limit fails alone with RpcClientError (cause: PayloadTooLarge); the connection stays.
 * A write that fails (the peer just died) is an RpcClientError too, never a defect.
 */
export const clientProtocol = (options: ClientOptions): Effect.Effect<RpcClient.Protocol["Type"], never, Scope.Scope> => {
  const serialization = serializationOf(options)
  const endpoint = options.endpoint
  const protocol =
    endpoint._tag === "Tcp"
      ? Tcp.clientProtocol({
        host: endpoint.host,
        port: endpoint.port,
        noDelay: options.noDelay ?? true,
        connectTimeout: options.connectTimeout ?? Duration.seconds(2),
        reconnect: options.reconnect ?? DEFAULT_RECONNECT,
        serialization
      })
      : Effect.flatMap(InProcessHub, (hub) =>
        InProcess.makeClientProtocol(hub, endpoint.name, serialization, options.maxFrameBytes ?? Serialization.DEFAULT_MAX_FRAME_BYTES)
      )
  return Effect.map(protocol, typedSendFailures)
}

/**
 * @effect/rpc's socket protocol dies on a failed write (EPIPE when the peer just died) and on our
 * frame limit: both are failures of this call, typed as RpcClientError so callers can retry them.
 */
const typedSendFailures = (inner: RpcClient.Protocol["Type"]): RpcClient.Protocol["Type"] => ({
  ...inner,
  send: (request, transferables) =>
    Effect.suspend(() => inner.send(request, transferables)).pipe(
      Effect.catchAllDefect((defect) => {
        if (defect instanceof FrameTooLarge) {
          return Effect.fail(
            new RpcClientError.RpcClientError({
              reason: "Protocol",
              message: defect.message,
              cause: new PayloadTooLarge({ size: defect.size, limit: defect.limit, what: "request" })
            })
          )
        }
        if (Socket.isSocketError(defect)) {
          return Effect.fail(
            new RpcClientError.RpcClientError({ reason: "Protocol", message: `send failed: ${defect.message}`, cause: defect })
          )
        }
        return Effect.die(defect)
      })
    )
})

/** The settings every server of this package runs with. */
export const serverSettings = (options: ServerOptions) => ({
  disableTracing: options.tracing !== true,
  // A handler's defect fails its own call only, never the whole connection.
  disableFatalDefects: true,
  ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {})
})

/** Serves `group` on `options.endpoint` until the scope closes. */
export const makeServer = <Rpcs extends Rpc.Any>(
  group: RpcGroup.RpcGroup<Rpcs>,
  options: ServerOptions
): Effect.Effect<
  BoundServer,
  ListenError,
  Scope.Scope | Rpc.ToHandler<Rpcs> | Rpc.Middleware<Rpcs> | Rpc.Context<Rpcs>
> =>
  Effect.gen(function* () {
    const { endpoint, protocol } = yield* serverProtocol(options)
    yield* RpcServer.make(group, serverSettings(options)).pipe(
      Effect.provideService(RpcServer.Protocol, protocol),
      Effect.interruptible,
      Effect.forkScoped
    )
    yield* Effect.logDebug(`serving on ${format(endpoint)}`)
    return { endpoint }
  })

/** `makeServer` as a layer. */
export const layerServer = <Rpcs extends Rpc.Any>(
  group: RpcGroup.RpcGroup<Rpcs>,
  options: ServerOptions
): Layer.Layer<never, ListenError, Rpc.ToHandler<Rpcs> | Rpc.Middleware<Rpcs> | Rpc.Context<Rpcs>> =>
  Layer.scopedDiscard(makeServer(group, options))

/** A client of `group` at `options.endpoint`, connected until the scope closes. */
export const makeClient = <Rpcs extends Rpc.Any>(
  group: RpcGroup.RpcGroup<Rpcs>,
  options: ClientOptions
): Effect.Effect<RpcClient.RpcClient<Rpcs, RpcClientError.RpcClientError>, never, Scope.Scope | Rpc.MiddlewareClient<Rpcs>> =>
  Effect.flatMap(clientProtocol(options), (protocol) => clientOf(group, protocol, options))

/** @internal A typed client over an already built Protocol, with the per-call timeout. */
export const clientOf = <Rpcs extends Rpc.Any>(
  group: RpcGroup.RpcGroup<Rpcs>,
  protocol: RpcClient.Protocol["Type"],
  options: ClientOptions
): Effect.Effect<RpcClient.RpcClient<Rpcs, RpcClientError.RpcClientError>, never, Scope.Scope | Rpc.MiddlewareClient<Rpcs>> =>
  RpcClient.make(group, { disableTracing: options.tracing !== true }).pipe(
    Effect.provideService(RpcClient.Protocol, protocol),
    Effect.map((client) => withTimeouts(group, client, Duration.decode(options.timeout ?? DEFAULT_TIMEOUT)))
  )

/** A per-call override of the client's timeout (`Duration.infinity` disables it). */
export const currentTimeout: FiberRef.FiberRef<Option.Option<Duration.Duration>> = FiberRef.unsafeMake(Option.none())

/** Runs `effect` with calls timing out after `timeout` instead of the client's default. */
export const withTimeout: {
  (timeout: Duration.DurationInput): <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(effect: Effect.Effect<A, E, R>, timeout: Duration.DurationInput): Effect.Effect<A, E, R>
} = ((...args: Array<any>) => {
  if (args.length === 1) {
    return (effect: Effect.Effect<any, any, any>) => Effect.locally(effect, currentTimeout, Option.some(Duration.decode(args[0])))
  }
  return Effect.locally(args[0], currentTimeout, Option.some(Duration.decode(args[1])))
}) as any

const timeoutError = (tag: string, timeout: Duration.Duration) =>
  new RpcClientError.RpcClientError({
    reason: "Protocol",
    message: `no reply to ${tag} within ${Duration.format(timeout)} (it may or may not have run)`
  })

/**
 * `Effect.timeoutFail` with one fork and one timer: it costs a third of it, and it sits on every
 * call. On expiry the call is interrupted (which tells the server) before the failure is returned.
 * The call runs interruptible even when the caller is not (a finalizer): otherwise the expiry
 * would wait for ever on a call that never answers.
 */
const withDeadline = <A, E, R, E2>(self: Effect.Effect<A, E, R>, millis: number, onTimeout: () => E2): Effect.Effect<A, E | E2, R> =>
  Effect.flatMap(Effect.fork(Effect.interruptible(self)), (fiber) =>
    Effect.async<A, E | E2>((resume) => {
      const timer = setTimeout(() => resume(Effect.zipRight(Fiber.interrupt(fiber), Effect.fail(onTimeout()))), millis)
      fiber.addObserver((exit) => {
        clearTimeout(timer)
        resume(exit)
      })
      return Effect.suspend(() => {
        clearTimeout(timer)
        return Fiber.interrupt(fiber)
      })
    })
  )

/** Wraps every non-streaming method with the per-call timeout (streams can be long-lived). */
const withTimeouts = <Client>(group: RpcGroup.RpcGroup<any>, client: Client, fallback: Duration.Duration): Client => {
  const out: Record<string, any> = { ...(client as any) }
  for (const rpc of group.requests.values() as Iterable<Rpc.AnyWithProps>) {
    if (RpcSchema.isStreamSchema(rpc.successSchema)) continue
    const dot = rpc._tag.indexOf(".")
    const prefix = dot === -1 ? undefined : rpc._tag.slice(0, dot)
    const name = dot === -1 ? rpc._tag : rpc._tag.slice(dot + 1)
    const target: Record<string, any> = prefix === undefined ? out : (out[prefix] = { ...out[prefix] })
    const call = target[name] as (payload: unknown, options?: unknown) => Effect.Effect<unknown, unknown, unknown>
    target[name] = (payload: unknown, callOptions?: unknown) =>
      Effect.flatMap(FiberRef.get(currentTimeout), (override) => {
        const timeout = Option.getOrElse(override, () => fallback)
        if (!Duration.isFinite(timeout)) return call(payload, callOptions)
        return withDeadline(call(payload, callOptions), Duration.toMillis(timeout), () => timeoutError(rpc._tag, timeout))
      })
  }
  return out as Client
}
