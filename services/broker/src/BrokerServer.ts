/**
 * Serves a broker node's RPC group over @dse/transport (TCP, or the in-process hub): every call
 * runs in an sthread made from its DSE header, and a caller outside the domain gets its reply (and
 * every chunk of a subscription) only after what it depends on has committed.
 *
 *   const broker = yield* Broker.make({ topics })
 *   const { endpoint } = yield* BrokerServer.serve(broker, { endpoint: Endpoint.tcp(0) })
 */
import type { Dse } from "@dse/core"
import type { ListenError } from "@dse/transport"
import { DseRpcServer } from "@dse/transport"
import type { Scope } from "effect"
import { Effect, Layer } from "effect"
import type { BrokerService } from "./Broker"
import { Broker } from "./Broker"
import * as BrokerHandlers from "./BrokerHandlers"
import { BrokerRpcs } from "./BrokerRpcs"

/** Serves `broker` on `options.endpoint` until the scope closes; returns the bound endpoint. */
export const serve = (
  broker: BrokerService,
  options: DseRpcServer.ServerOptions
): Effect.Effect<DseRpcServer.BoundServer, ListenError, Scope.Scope | Dse.Dse> =>
  Effect.flatMap(BrokerRpcs.toHandlersContext(BrokerHandlers.make(broker)), (handlers) =>
    Effect.provide(DseRpcServer.make(BrokerRpcs, options), handlers)
  )

/** Serves the broker in context on `options.endpoint` for the life of the layer. */
export const layer = (options: DseRpcServer.ServerOptions): Layer.Layer<never, ListenError, Broker | Dse.Dse> =>
  Layer.scopedDiscard(Effect.flatMap(Broker, (broker) => serve(broker, options)))
