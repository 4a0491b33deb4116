/**
 * The WAL over libs/testing's InProcessNetwork: for tests that compose a log and its clients in
 * one process (with crashes, lost messages, TestClock). It applies the same DSE semantics as the
 * real transport (`Dse.serve` on the log, `Dse.call` on the client) and, like a wire, encodes every
 * payload, success and error with the RPC group's Schemas and copies it, so a Schema mistake or an
 * aliased value shows up here too.
 *
 * The in-process network has no streams: a client's `tail` follows the log with long-poll scans
 * (`WalScan` with `waitMs`), which keeps its position across lost messages and restarts.
 */
import type { CheckpointStore, Dse } from "@dse/core"
import type { InProcessNetwork } from "@dse/testing"
import { EndpointUnavailable, MessageLost } from "@dse/testing"
import type { Rpc } from "@effect/rpc"
import type { Scope } from "effect"
import { Effect, Layer, Schema } from "effect"
import type { WalApi } from "./WalClient"
import * as WalClient from "./WalClient"
import { WalUnavailable } from "./WalErrors"
import * as WalHandlers from "./WalHandlers"
import { Signal } from "./internal/signal"
import type { WalLogOptions, WalLogService } from "./WalLog"
import { DEFAULT_NAME, make as makeLog } from "./WalLog"
import type { WalRpcTag } from "./WalRpcs"
import { WalRpcs } from "./WalRpcs"

interface Envelope {
  readonly tag: WalRpcTag
  readonly payload: unknown
}

/** The serving process died while the call was in flight. */
class ConnectionLost {
  readonly _tag = "ConnectionLost"
  readonly message = "the log's process died while the call was in flight"
}

/** A handler's typed failure, encoded (as it would cross the wire). */
class EncodedFailure {
  readonly _tag = "EncodedFailure"
  constructor(readonly encoded: unknown) {}
}

const rpcOf = (tag: string): Rpc.AnyWithProps => {
  const rpc = WalRpcs.requests.get(tag)
  if (!rpc) throw new Error(`unknown WAL rpc ${tag}`)
  return rpc as unknown as Rpc.AnyWithProps
}

const copy = <A>(a: A): A => structuredClone(a)

/**
 * Per network and endpoint: notified whenever a process serving it dies. The network runs a call
 * (and `Dse.serve`'s commit wait for a caller outside the domain, which sits outside the handler)
 * on the caller's fiber against the serving process's runtime; when that process dies, a call in
 * flight must fail the way a broken connection does instead of waiting forever on a runtime that
 * is gone. A call races the first death after it started, whichever process instance it reached
 * (messages are delayed: a call sent while the log was down can reach its next instance).
 */
const deaths = new WeakMap<InProcessNetwork, Map<string, Signal>>()

const deathsOf = (network: InProcessNetwork, name: string): Signal => {
  let map = deaths.get(network)
  if (!map) {
    map = new Map()
    deaths.set(network, map)
  }
  let signal = map.get(name)
  if (!signal) {
    signal = new Signal()
    map.set(name, signal)
  }
  return signal
}

/** Unary RPCs (the network carries no streams). */
const UNARY: ReadonlyArray<WalRpcTag> = ["WalAppend", "WalScan", "WalTruncate", "WalInfo"]

/** Serves `log` on the network under its worker name until the scope closes. */
export const serve = (network: InProcessNetwork, log: WalLogService): Effect.Effect<void, never, Dse.Dse | Scope.Scope> =>
  Effect.gen(function* () {
    const handlers = WalHandlers.make(log) as unknown as Record<
      string,
      (payload: unknown, options: unknown) => Effect.Effect<unknown, unknown>
    >
    const died = deathsOf(network, log.name)
    yield* Effect.addFinalizer(() => Effect.sync(() => died.notify()))
    yield* network.serve(log.name, (envelope: Envelope) => {
      if (!UNARY.includes(envelope.tag)) return Effect.die(new Error(`${envelope.tag} is not a unary WAL rpc`))
      const rpc = rpcOf(envelope.tag)
      const handler = handlers[envelope.tag]!
      return Schema.decodeUnknown(rpc.payloadSchema as Schema.Schema<unknown, unknown>)(envelope.payload).pipe(
        Effect.orDie,
        Effect.flatMap((payload) => handler(payload, { clientId: 0, headers: {} })),
        Effect.flatMap((a) => Effect.orDie(Schema.encode(rpc.successSchema as Schema.Schema<unknown, unknown>)(a))),
        Effect.catchAll((e) =>
          Effect.flatMap(Effect.orDie(Schema.encode(rpc.errorSchema as Schema.Schema<unknown, unknown>)(e)), (encoded) =>
            Effect.fail(new EncodedFailure(copy(encoded)))
          )
        ),
        Effect.map(copy)
      )
    })
  })

/** The calls of the log `name` over the network. */
export const connect = (network: InProcessNetwork, name: string = DEFAULT_NAME): WalApi => {
  const call = (tag: WalRpcTag) => {
    const rpc = rpcOf(tag)
    const encodePayload = Schema.encode(rpc.payloadSchema as Schema.Schema<unknown, unknown>)
    const decodeSuccess = Schema.decodeUnknown(rpc.successSchema as Schema.Schema<unknown, unknown>)
    const decodeError = Schema.decodeUnknown(rpc.errorSchema as Schema.Schema<unknown, unknown>)
    const send = (encoded: unknown) =>
      Effect.suspend(() => {
        const call = network.call<Envelope, unknown, EncodedFailure>(name, { tag, payload: copy(encoded) })
        const died = deathsOf(network, name).subscribe()
        return Effect.raceFirst(call, Effect.zipRight(died, Effect.fail(new ConnectionLost())))
      })
    return (payload: unknown) =>
      Effect.flatMap(Effect.orDie(encodePayload(payload)), (encoded) =>
        send(encoded).pipe(
          Effect.flatMap((out) => Effect.orDie(decodeSuccess(out))),
          Effect.catchAll((e): Effect.Effect<never, unknown> => {
            if (e instanceof EncodedFailure) return Effect.flatMap(Effect.orDie(decodeError(e.encoded)), Effect.fail)
            if (e instanceof MessageLost || e instanceof ConnectionLost || e instanceof EndpointUnavailable) {
              return Effect.fail(new WalUnavailable({ wal: name, reason: e.message }))
            }
            return Effect.fail(e)
          })
        )
      )
  }
  return {
    WalAppend: call("WalAppend"),
    WalScan: call("WalScan"),
    WalTruncate: call("WalTruncate"),
    WalInfo: () => call("WalInfo")(undefined)
  } as unknown as WalApi
}

/** A WalClient of the log `name` served on `network`. */
export const layerClient = (options: { readonly network: InProcessNetwork; readonly name?: string }): Layer.Layer<WalClient.WalClient> =>
  Layer.sync(WalClient.WalClient, () => {
    const name = options.name ?? DEFAULT_NAME
    return WalClient.make(name, connect(options.network, name))
  })

/** A client of the log `name` served on `network` (not as a layer). */
export const client = (network: InProcessNetwork, name: string = DEFAULT_NAME): WalClient.WalClientService =>
  WalClient.make(name, connect(network, name))

/**
 * The program of one log process in an InProcessCluster: starts the log (restoring it after a
 * restart) and serves it. `onStart` receives the live log (again after every restart).
 */
export const walProgram = (
  network: InProcessNetwork,
  options: WalLogOptions = {},
  onStart: (log: WalLogService) => void = () => {}
): Effect.Effect<void, unknown, Dse.Dse | CheckpointStore | Scope.Scope> =>
  Effect.gen(function* () {
    const log = yield* makeLog(options)
    onStart(log)
    yield* serve(network, log)
  })
