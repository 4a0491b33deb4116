/**
 * The in-process transport: named endpoints on a hub, and RpcServer / RpcClient Protocols whose
 * connections are pairs of queues. Every message is encoded and decoded with the same msgpack
 * serialization as TCP (with the same frame limit), so wire bugs show up in unit tests.
 *
 * Each side reads its queue in a fiber of its own runtime (never the peer's), so FiberRefs such as
 * the ambient sthread cannot leak from a client into a server's handler, exactly as over a socket.
 */
import { RpcClient, RpcClientError, RpcServer } from "@effect/rpc"
import type { RpcSerialization } from "@effect/rpc"
import type { FromClientEncoded, FromServerEncoded } from "@effect/rpc/RpcMessage"
import { Effect, FiberSet, Mailbox, Option, Queue } from "effect"
import type { Scope } from "effect"
import { ListenError } from "../ListenError"

const CLOSE = Symbol.for("@dse/transport/InProcess/close")
type Frame = Uint8Array | typeof CLOSE

/** One connection: a queue each way. Either side closing ends both. */
export interface Connection {
  readonly toServer: Queue.Queue<Frame>
  readonly toClient: Queue.Queue<Frame>
  open: boolean
}

interface Listener {
  readonly accept: (connection: Connection) => void
}

export interface HubStats {
  /** Names served right now. */
  readonly endpoints: ReadonlyArray<string>
  /** Connections opened since the hub was made. */
  readonly connections: number
  /** Frames and bytes carried since the hub was made (both directions). */
  readonly frames: number
  readonly bytes: number
}

export class Hub {
  private readonly listeners = new Map<string, Listener>()
  private connections = 0
  private frames = 0
  private bytes = 0

  stats(): HubStats {
    return {
      endpoints: Array.from(this.listeners.keys()),
      connections: this.connections,
      frames: this.frames,
      bytes: this.bytes
    }
  }

  /** @internal Serves `name` until the scope closes. */
  listen(name: string, listener: Listener): Effect.Effect<void, ListenError, Scope.Scope> {
    return Effect.acquireRelease(
      Effect.suspend(() => {
        if (this.listeners.has(name)) {
          return Effect.fail(new ListenError({ endpoint: `inproc://${name}`, reason: "the name is already served" }))
        }
        this.listeners.set(name, listener)
        return Effect.void
      }),
      () =>
        Effect.sync(() => {
          if (this.listeners.get(name) === listener) this.listeners.delete(name)
        })
    )
  }

  /** @internal Opens a connection to `name`, or returns undefined when nobody serves it. */
  connect(name: string): Connection | undefined {
    const listener = this.listeners.get(name)
    if (!listener) return undefined
    const connection: Connection = {
      toServer: Effect.runSync(Queue.unbounded<Frame>()),
      toClient: Effect.runSync(Queue.unbounded<Frame>()),
      open: true
    }
    this.connections++
    listener.accept(connection)
    return connection
  }

  /** @internal */
  deliver(queue: Queue.Queue<Frame>, frame: Uint8Array): void {
    this.frames++
    this.bytes += frame.length
    queue.unsafeOffer(frame)
  }
}

export const close = (connection: Connection): void => {
  if (!connection.open) return
  connection.open = false
  connection.toServer.unsafeOffer(CLOSE)
  connection.toClient.unsafeOffer(CLOSE)
}

const protocolError = (message: string, cause?: unknown) =>
  new RpcClientError.RpcClientError({ reason: "Protocol", message, ...(cause !== undefined ? { cause } : {}) })

/** The server side of `name` on `hub`. */
export const makeServerProtocol = (
  hub: Hub,
  name: string,
  serialization: RpcSerialization.RpcSerialization["Type"],
  maxFrameBytes: number
): Effect.Effect<RpcServer.Protocol["Type"], ListenError, Scope.Scope> =>
  RpcServer.Protocol.make((writeRequest) =>
    Effect.gen(function* () {
      const disconnects = yield* Mailbox.make<number>()
      const clients = new Map<number, { readonly connection: Connection; readonly encode: (m: FromServerEncoded) => unknown }>()
      const clientIds = new Set<number>()
      // Connection loops run in this server's runtime, not in the connecting client's fiber.
      const run = yield* FiberSet.runtime(yield* FiberSet.make())<never>()
      let nextId = 0

      const serve = (id: number, connection: Connection, decode: (bytes: Uint8Array) => ReadonlyArray<unknown>) =>
        Effect.gen(function* () {
          for (;;) {
            const frame = yield* Queue.take(connection.toServer)
            if (frame === CLOSE) return
            // A frame above the limit closes the connection, as the socket server does (code 1009).
            if (frame.length > maxFrameBytes) return
            const messages = decode(frame) as ReadonlyArray<FromClientEncoded>
            for (const message of messages) yield* writeRequest(id, message)
          }
        }).pipe(
          // An undecodable frame (or a message the server chokes on) ends the connection, not the server.
          Effect.catchAllCause((cause) => Effect.logDebug("in-process connection closed after a bad frame", cause)),
          Effect.ensuring(
            Effect.suspend(() => {
              close(connection)
              clients.delete(id)
              clientIds.delete(id)
              return disconnects.offer(id)
            })
          )
        )

      yield* hub.listen(name, {
        accept(connection) {
          const id = nextId++
          const parser = serialization.unsafeMake()
          clients.set(id, { connection, encode: (m) => parser.encode(m) })
          clientIds.add(id)
          run(serve(id, connection, (bytes) => parser.decode(bytes) as ReadonlyArray<unknown>))
        }
      })
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          for (const { connection } of clients.values()) close(connection)
        })
      )

      return {
        disconnects,
        send: (clientId, response) =>
          Effect.sync(() => {
            const client = clients.get(clientId)
            if (!client || !client.connection.open) return
            const encoded = client.encode(response) as Uint8Array | undefined
            if (encoded !== undefined) hub.deliver(client.connection.toClient, encoded)
          }),
        end: () => Effect.void,
        clientIds: Effect.sync(() => clientIds),
        initialMessage: Effect.succeed(Option.none()),
        supportsAck: true,
        supportsTransferables: false,
        supportsSpanPropagation: true
      }
    })
  )

/**
 * The client side of `name` on `hub`. It connects on the first send and again on the first send
 * after its connection closed (the in-process analogue of reconnecting); while nobody serves the
 * name, sends fail at once with RpcClientError.
 */
export const makeClientProtocol = (
  hub: Hub,
  name: string,
  serialization: RpcSerialization.RpcSerialization["Type"],
  maxFrameBytes: number
): Effect.Effect<RpcClient.Protocol["Type"], never, Scope.Scope> =>
  RpcClient.Protocol.make((writeResponse) =>
    Effect.gen(function* () {
      const run = yield* FiberSet.runtime(yield* FiberSet.make())<never>()
      let current: { readonly connection: Connection; readonly encode: (m: FromClientEncoded) => unknown } | undefined

      const read = (connection: Connection, decode: (bytes: Uint8Array) => ReadonlyArray<unknown>) =>
        Effect.gen(function* () {
          for (;;) {
            const frame = yield* Queue.take(connection.toClient)
            if (frame === CLOSE) return yield* Effect.fail(protocolError(`in-process endpoint "${name}" closed the connection`))
            if (frame.length > maxFrameBytes) {
              return yield* Effect.fail(protocolError(`a reply frame of ${frame.length} bytes exceeds the limit of ${maxFrameBytes}`))
            }
            const messages = yield* Effect.try({
              try: () => decode(frame) as ReadonlyArray<FromServerEncoded>,
              catch: (cause) => protocolError("Error decoding message", cause)
            })
            for (const message of messages) yield* writeResponse(message)
          }
        }).pipe(
          Effect.catchAll((error) =>
            Effect.suspend(() => {
              close(connection)
              if (current?.connection === connection) current = undefined
              // In-flight calls of this connection fail; the next send connects again.
              return writeResponse({ _tag: "ClientProtocolError", error })
            })
          )
        )

      const connect = Effect.suspend(() => {
        if (current) {
          // A closed connection is replaced only once its reader has failed the calls in flight
          // on it: @effect/rpc fails every call on a protocol error, new ones included.
          return current.connection.open
            ? Effect.succeed(current)
            : Effect.fail(protocolError(`the connection to in-process endpoint "${name}" closed`))
        }
        const connection = hub.connect(name)
        if (!connection) return Effect.fail(protocolError(`nobody serves the in-process endpoint "${name}"`))
        const parser = serialization.unsafeMake()
        current = { connection, encode: (m) => parser.encode(m) }
        run(read(connection, (bytes) => parser.decode(bytes) as ReadonlyArray<unknown>))
        return Effect.succeed(current)
      })

      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          if (current) close(current.connection)
          current = undefined
        })
      )

      return {
        send: (request) =>
          Effect.flatMap(connect, (link) => {
            // Throws FrameTooLarge for an oversize request: the caller's frame-limit wrapper types it.
            const encoded = link.encode(request) as Uint8Array | undefined
            if (encoded !== undefined) hub.deliver(link.connection.toServer, encoded)
            return Effect.void
          }),
        supportsAck: true,
        supportsTransferables: false
      }
    })
  )

