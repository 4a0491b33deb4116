/**
 * A client of the partitions hosted in this very process, without a transport: each call runs
 * the partition's handler in the caller's fiber (so in the caller's sthread, if any). For
 * applications that embed a broker node, and for single-process benchmarks.
 *
 * It is an in-domain client: unlike a call over the transport from outside any sthread, its replies
 * are not held until commit. A caller outside the domain asks for committed data explicitly
 * (`mode: "committed"` reads) or waits with `Dse.awaitCommit`.
 */
import { Effect, Stream } from "effect"
import type { BrokerService } from "./Broker"
import type { BrokerApi, BrokerClientService } from "./BrokerClient"
import * as BrokerClient from "./BrokerClient"
import * as BrokerHandlers from "./BrokerHandlers"

export const client = (broker: BrokerService): BrokerClientService => {
  const handlers = BrokerHandlers.make(broker) as unknown as Record<string, (payload: unknown, options: unknown) => unknown>
  const options = { clientId: 0, headers: {} }
  const call = (tag: string) => (payload: unknown) => Effect.suspend(() => handlers[tag]!(payload, options) as Effect.Effect<unknown, unknown>)
  const api = {
    BrokerProduce: call("BrokerProduce"),
    BrokerForward: call("BrokerForward"),
    BrokerFetch: call("BrokerFetch"),
    BrokerSubscribe: (payload: unknown) => Stream.suspend(() => handlers.BrokerSubscribe!(payload, options) as Stream.Stream<unknown, unknown>),
    BrokerRegister: call("BrokerRegister"),
    BrokerStep: call("BrokerStep"),
    BrokerCommitOffset: call("BrokerCommitOffset"),
    BrokerGetOffset: call("BrokerGetOffset"),
    BrokerDeleteGroup: call("BrokerDeleteGroup"),
    BrokerPartitionInfo: call("BrokerPartitionInfo"),
    BrokerTopics: () => call("BrokerTopics")(undefined)
  } as unknown as BrokerApi
  return BrokerClient.make({ topics: broker.topics, route: () => api })
}
