/**
 * How the DSE header travels on the client side (see serverHeaders.ts for the wire form).
 *
 * The client Protocol's `send` runs in a fiber forked from the caller, so it sees the caller's
 * ambient sthread: a Request is tagged with its header (none outside an sthread or in world-line 0:
 * the call is then from outside the domain) and remembered by request id. Reply headers (on every
 * Chunk and on the Exit) are absorbed into that sthread here, before @effect/rpc hands the reply to
 * the caller, so the caller resumes with its dependencies already updated.
 */
import type { RpcClient } from "@effect/rpc"
import { RpcClientError } from "@effect/rpc/RpcClientError"
import type { FromServerEncoded } from "@effect/rpc/RpcMessage"
import { Header, MalformedHeader, Sthread, SpeculationError } from "@dse/core"
import { Effect, Either, FiberRef, Schema } from "effect"

const encodeSpeculationError = Schema.encodeSync(SpeculationError)

const malformedReply = (requestId: string, error: MalformedHeader): FromServerEncoded => ({
  _tag: "Exit",
  requestId,
  exit: { _tag: "Failure", cause: { _tag: "Fail", error: encodeSpeculationError(error) } }
})

const decodeField = (field: unknown): Either.Either<Header.Header, MalformedHeader> =>
  field instanceof Uint8Array
    ? Header.decode(field)
    : Either.left(new MalformedHeader({ reason: `expected header bytes, got ${typeof field}` }))

/** True for an encoded Cause made only of interruptions (what a server sends when it shuts down). */
const onlyInterrupted = (cause: any): boolean => {
  switch (cause?._tag) {
    case "Interrupt":
      return true
    case "Sequential":
    case "Parallel":
      return (onlyInterrupted(cause.left) || cause.left?._tag === "Empty") &&
        (onlyInterrupted(cause.right) || cause.right?._tag === "Empty") &&
        (cause.left?._tag !== "Empty" || cause.right?._tag !== "Empty")
    default:
      return false
  }
}

const serverWentAway: FromServerEncoded = {
  _tag: "ClientProtocolError",
  error: new RpcClientError({ reason: "Protocol", message: "the server shut down while calls were in flight" })
} as FromServerEncoded

export const wrap = (inner: RpcClient.Protocol["Type"]): RpcClient.Protocol["Type"] => {
  /** The sthread of every tagged request still waiting for its Exit. */
  const pending = new Map<string, Sthread.Sthread>()
  /** Requests this client interrupted itself: their interrupted Exit is expected. */
  const interrupted = new Set<string>()
  return {
    ...inner,
    send: (message, transferables) => {
      if (message._tag === "Interrupt") {
        pending.delete(message.requestId)
        interrupted.add(message.requestId)
        return inner.send(message, transferables)
      }
      if (message._tag !== "Request") return inner.send(message, transferables)
      return Effect.flatMap(FiberRef.get(Sthread.currentSthread), (thread) => {
        const header = thread?.header()
        if (!thread || !header) return inner.send(message, transferables)
        pending.set(message.id, thread)
        // In place: @effect/rpc builds a fresh message object for every send.
        return inner.send(Object.assign(message, { dse: Header.encode(header) }), transferables).pipe(
          Effect.tapErrorCause(() => Effect.sync(() => pending.delete(message.id)))
        )
      })
    },
    run: (f) =>
      inner.run((message) => {
        switch (message._tag) {
          case "Chunk":
          case "Exit": {
            if (message._tag === "Exit") {
              const asked = interrupted.delete(message.requestId)
              const exit = (message as { exit?: any }).exit
              if (!asked && exit?._tag === "Failure" && onlyInterrupted(exit.cause)) {
                // A server that shuts down interrupts its calls; to the caller that is a lost
                // connection (a typed RpcClientError, like a crash), not an interruption of its own fiber.
                pending.clear()
                return f(serverWentAway)
              }
            }
            const thread = pending.get(message.requestId)
            if (message._tag === "Exit") pending.delete(message.requestId)
            const field = (message as { dse?: unknown }).dse
            if (!thread || field === undefined) return f(message)
            const decoded = decodeField(field)
            if (Either.isLeft(decoded)) {
              // The sthread cannot learn what the reply depends on: fail the call, stop the server.
              pending.delete(message.requestId)
              return Effect.zipRight(
                f(malformedReply(message.requestId, decoded.left)),
                Effect.ignore(inner.send({ _tag: "Interrupt", requestId: message.requestId }))
              )
            }
            thread.absorb(decoded.right)
            return f(message)
          }
          case "ClientProtocolError":
          case "Defect":
            // @effect/rpc fails every call in flight on these.
            pending.clear()
            return f(message)
          default:
            return f(message)
        }
      })
  }
}
