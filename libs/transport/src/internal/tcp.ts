/**
 * The TCP transport: @effect/rpc's socket protocols over node:net, with our settings (loopback by
 * default, TCP_NODELAY, a connect timeout, a reconnect schedule that does not grow).
 */
// Subpath imports: the package indexes pull in HTTP, WebSocket and undici, which cost process start-up time.
import * as Socket from "@effect/platform/Socket"
import * as SocketServer from "@effect/platform/SocketServer"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import { RpcClient, RpcSerialization, RpcServer } from "@effect/rpc"
import type { Duration, Schedule, Scope } from "effect"
import { Effect } from "effect"
import * as Endpoint from "../Endpoint"
import { ListenError } from "../ListenError"

const describeListenFailure = (cause: unknown): string => {
  const code = (cause as { code?: unknown } | undefined)?.code
  switch (code) {
    case "EADDRINUSE":
      return "the port is already in use (EADDRINUSE)"
    case "EACCES":
      return "permission denied (EACCES)"
    case "EADDRNOTAVAIL":
      return "the address is not available on this machine (EADDRNOTAVAIL)"
    default:
      return cause instanceof Error ? cause.message : String(cause)
  }
}

export interface TcpServerSettings {
  readonly host: string
  readonly port: number
  readonly noDelay: boolean
  readonly serialization: RpcSerialization.RpcSerialization["Type"]
}

/** Listens on host:port; returns the RpcServer Protocol and the bound endpoint (port 0 resolved). */
export const serverProtocol = (
  settings: TcpServerSettings
): Effect.Effect<{ readonly protocol: RpcServer.Protocol["Type"]; readonly endpoint: Endpoint.Endpoint }, ListenError, Scope.Scope> =>
  Effect.gen(function* () {
    const server = yield* NodeSocketServer.make({ host: settings.host, port: settings.port, noDelay: settings.noDelay }).pipe(
      Effect.mapError(
        (error) =>
          new ListenError({
            endpoint: Endpoint.format(Endpoint.tcp(settings.port, settings.host)),
            reason: describeListenFailure(error.cause)
          })
      )
    )
    const protocol = yield* RpcServer.makeProtocolSocketServer.pipe(
      Effect.provideService(SocketServer.SocketServer, server),
      Effect.provideService(RpcSerialization.RpcSerialization, settings.serialization)
    )
    const port = server.address._tag === "TcpAddress" ? server.address.port : settings.port
    return { protocol, endpoint: Endpoint.tcp(port, settings.host) }
  })

export interface TcpClientSettings {
  readonly host: string
  readonly port: number
  readonly noDelay: boolean
  readonly connectTimeout: Duration.DurationInput
  readonly reconnect: Schedule.Schedule<unknown, unknown>
  readonly serialization: RpcSerialization.RpcSerialization["Type"]
}

/**
 * A client Protocol that (re)connects to host:port. Transient errors are not retried silently:
 * while the connection is down every send fails at once with RpcClientError, and the protocol
 * keeps reconnecting on `reconnect` (the default @effect/rpc backoff grows and never resets).
 */
export const clientProtocol = (settings: TcpClientSettings): Effect.Effect<RpcClient.Protocol["Type"], never, Scope.Scope> =>
  Effect.gen(function* () {
    const socket = yield* Effect.orDie(
      NodeSocket.makeNet({
        host: settings.host,
        port: settings.port,
        noDelay: settings.noDelay,
        openTimeout: settings.connectTimeout
      })
    )
    return yield* RpcClient.makeProtocolSocket({ retryTransientErrors: false, retrySchedule: settings.reconnect }).pipe(
      Effect.provideService(Socket.Socket, socket),
      Effect.provideService(RpcSerialization.RpcSerialization, settings.serialization)
    )
  })
