/**
 * The handlers of the broker RPC group: each routes the request to the hosted partition it names
 * and calls the partition's operation. The transport runs every handler in an sthread made from the
 * incoming DSE header (`Dse.serve`), so the partition's Actions join the caller's speculation, and
 * a caller outside the domain gets its reply only after what it depends on has committed.
 */
import type { Rpc } from "@effect/rpc"
import type { Layer } from "effect"
import { Effect, Stream } from "effect"
import type { BrokerService } from "./Broker"
import { Broker } from "./Broker"
import type { BrokerRpc } from "./BrokerRpcs"
import { BrokerRpcs } from "./BrokerRpcs"

/** The handlers of one broker node, as a plain object (what `BrokerRpcs.toLayer` and the in-process adapter take). */
export const make = (broker: BrokerService) =>
  BrokerRpcs.of({
    BrokerProduce: (payload) => Effect.flatMap(broker.get(payload.topic, payload.partition), (p) => p.produce(payload)),
    BrokerForward: (payload) => Effect.flatMap(broker.get(payload.topic, payload.partition), (p) => p.forward(payload)),
    BrokerFetch: (payload) => Effect.flatMap(broker.get(payload.topic, payload.partition), (p) => p.fetch(payload)),
    BrokerSubscribe: (payload) =>
      Stream.unwrap(Effect.map(broker.get(payload.topic, payload.partition), (p) => p.subscribe(payload))),
    BrokerRegister: (payload) => Effect.flatMap(broker.get(payload.topic, payload.partition), (p) => p.register(payload)),
    BrokerStep: (payload) => Effect.flatMap(broker.get(payload.topic, payload.partition), (p) => p.step(payload)),
    BrokerCommitOffset: (payload) => Effect.flatMap(broker.get(payload.topic, payload.partition), (p) => p.commitOffset(payload)),
    BrokerGetOffset: (payload) => Effect.flatMap(broker.get(payload.topic, payload.partition), (p) => p.getOffset(payload)),
    BrokerDeleteGroup: (payload) =>
      Effect.flatMap(broker.get(payload.topic, payload.partition), (p) => p.deleteGroup(payload.group)),
    BrokerPartitionInfo: (payload) => Effect.flatMap(broker.get(payload.topic, payload.partition), (p) => p.info),
    BrokerTopics: () => Effect.succeed(broker.topics.list)
  })

export type BrokerHandlers = ReturnType<typeof make>

/** The handlers of the broker in context, for `DseRpcServer.layer(BrokerRpcs, ...)`. */
export const layer: Layer.Layer<Rpc.ToHandler<BrokerRpc>, never, Broker> = BrokerRpcs.toLayer(Effect.map(Broker, make))
