/**
 * How the DSE header travels on the server side. @effect/rpc has no header slot in its replies, so
 * the header rides as an extra `dse` field of the encoded Request, Chunk and Exit messages (msgpack
 * carries unknown fields; the field holds core's compact binary header).
 *
 * The wrapped server Protocol hands each Request's raw field to the middleware through an
 * `Exchange` held in a FiberRef: the fiber that runs the Protocol's `run` callback is the one whose
 * FiberRefs the handler fiber inherits. Chunks and the Exit are sent from the handler fiber, so the
 * wrapped `send` finds the same Exchange there and attaches the reply header the middleware left.
 */
import type { RpcServer } from "@effect/rpc"
import type { FromServerEncoded } from "@effect/rpc/RpcMessage"
import { Effect, FiberRef, Schema } from "effect"
import { SpeculationError } from "@dse/core"

/** The per-request state shared by the wrapped Protocol and the middleware. */
export class Exchange {
  /** The binary reply header, set by the middleware when the handler has finished. */
  reply: Uint8Array | undefined = undefined
  /**
   * Run before each Chunk is sent, set by the middleware for streaming calls: it yields the header
   * to attach (speculative caller), or waits for commit (outside caller), or fails when the
   * stream's dependencies were lost.
   */
  beforeChunk: Effect.Effect<Uint8Array | undefined, SpeculationError> | undefined = undefined
  /** The Exit went out (or the call was failed by us): drop anything else for this request. */
  done = false

  constructor(
    readonly clientId: number,
    readonly requestId: string,
    /** The request's `dse` field as it came off the wire (undefined: an outside caller). */
    readonly header: unknown
  ) {}
}

export const currentExchange: FiberRef.FiberRef<Exchange | undefined> = FiberRef.unsafeMake<Exchange | undefined>(undefined)

const encodeSpeculationError = Schema.encodeSync(SpeculationError)

const failureExit = (requestId: string, error: SpeculationError): FromServerEncoded => ({
  _tag: "Exit",
  requestId,
  exit: { _tag: "Failure", cause: { _tag: "Fail", error: encodeSpeculationError(error) } }
})

/** Adds the header field in place: @effect/rpc builds a fresh message object for every send. */
const withHeader = (response: FromServerEncoded, header: Uint8Array | undefined): FromServerEncoded =>
  header ? Object.assign(response, { dse: header }) : response

/** Reads the `dse` field of Requests into an Exchange, and writes reply headers into Chunks and Exits. */
export const wrap = (inner: RpcServer.Protocol["Type"]): RpcServer.Protocol["Type"] => ({
  ...inner,
  run: (f) =>
    inner.run((clientId, message) =>
      // Set, not `locally`: every message sets it (a Request opens an exchange, anything else
      // clears it), and this runs for every message, where `locally` costs three FiberRefs copies.
      Effect.zipRight(
        FiberRef.set(
          currentExchange,
          message._tag === "Request" ? new Exchange(clientId, String(message.id), (message as { dse?: unknown }).dse) : undefined
        ),
        f(clientId, message)
      )
    ),
  send: (clientId, response, transferables) => {
    if (response._tag !== "Exit" && response._tag !== "Chunk") return inner.send(clientId, response, transferables)
    return Effect.flatMap(FiberRef.get(currentExchange), (exchange) => {
      if (!exchange || exchange.clientId !== clientId || exchange.requestId !== response.requestId) {
        return inner.send(clientId, response, transferables)
      }
      if (exchange.done) return Effect.void
      if (response._tag === "Exit") {
        exchange.done = true
        return inner.send(clientId, withHeader(response, exchange.reply), transferables)
      }
      if (!exchange.beforeChunk) return inner.send(clientId, response, transferables)
      return Effect.matchEffect(exchange.beforeChunk, {
        onSuccess: (header) =>
          inner.send(clientId, withHeader(response, header), transferables),
        onFailure: (error) => {
          // The stream's dependencies were lost before this chunk could leave: the caller gets the
          // typed failure, and dying here makes @effect/rpc interrupt the rest of the stream.
          exchange.done = true
          return Effect.zipRight(inner.send(clientId, failureExit(exchange.requestId, error)), Effect.die(error))
        }
      })
    })
  }
})
