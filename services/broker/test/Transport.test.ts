/**
 * The broker over @dse/transport (the in-process hub, the same wire format as TCP): the RPC group
 * with its Schemas, the streaming subscription (speculative and committed), typed errors on the
 * wire, and the processor library over it. Real clock.
 */
import { describe, expect, it } from "@effect/vitest"
import { Dse } from "@dse/core"
import { InProcessCluster } from "@dse/testing"
import { Endpoint, InProcessHub } from "@dse/transport"
import { Chunk, Effect, Fiber, Stream } from "effect"
import * as Broker from "../src/Broker"
import * as BrokerServer from "../src/BrokerServer"
import * as BrokerTransport from "../src/BrokerTransport"
import * as Processor from "../src/Processor"

const topics = [
  { name: "in", partitions: 2 },
  { name: "out", partitions: 1 }
]

const setup = Effect.gen(function* () {
  const hub = InProcessHub.make()
  const withHub = Effect.provideService(InProcessHub, hub)
  const cluster = yield* InProcessCluster.make()
  // Two broker processes, each serving its partitions on its own endpoint; each reaches the other through the transport.
  const endpointOf = (topic: string) => Endpoint.inProcess(topic === "in" ? "broker-a" : "broker-b")
  const program = (name: string, hosts: (topic: string) => boolean) =>
    withHub(
      Effect.gen(function* () {
        const link = yield* BrokerTransport.make({ topics, endpoints: (t) => endpointOf(t) })
        const broker = yield* Broker.make({ topics, hosts, link: { forward: link.forward } })
        yield* BrokerServer.serve(broker, { endpoint: Endpoint.inProcess(name) })
      })
    )
  const a = yield* cluster.spawn("broker-a", program("broker-a", (t) => t === "in"))
  const b = yield* cluster.spawn("broker-b", program("broker-b", (t) => t === "out"))
  const clientProcess = yield* cluster.spawn("client", Effect.void)
  const client = yield* withHub(BrokerTransport.make({ topics, endpoints: (t) => endpointOf(t) }))
  const run = <A, E>(effect: Effect.Effect<A, E, Dse.Dse>) => Effect.provide(effect, clientProcess.context())
  return { cluster, a, b, client, run, hub, withHub }
})

describe("over @dse/transport", () => {
  it.scopedLive("produce, committed and speculative streaming subscriptions, typed errors", () =>
    Effect.gen(function* () {
      const { client, run } = yield* setup
      const r = yield* run(client.produce("in", [{ value: 1 }, { value: 2 }], { partition: 0 }))
      expect(r.offsets).toEqual([0, 1])
      const committed = yield* run(
        client.subscribe({ topic: "in", partition: 0, from: 0, mode: "committed" }).pipe(Stream.take(1), Stream.runCollect)
      )
      expect(Chunk.toArray(committed)[0]!.events.map((e) => e.value)).toEqual([1, 2])
      // In an sthread: a speculative produce, seen by a speculative subscription at once.
      const spec = yield* run(
        Effect.fork(
          Dse.sthread(client.subscribe({ topic: "in", partition: 1, from: 0, mode: "speculative" }).pipe(Stream.take(1), Stream.runCollect))
        )
      )
      yield* run(Dse.sthread(client.produce("in", { value: "s" }, { partition: 1 })))
      const [batches] = yield* Fiber.join(spec)
      expect(Chunk.toArray(batches)[0]!.events.map((e) => e.value)).toEqual(["s"])
      const bad = yield* run(Effect.flip(client.produce("in", { value: 1 }, { partition: 0, producerId: "@reserved", seq: 1 })))
      expect(bad._tag).toBe("InvalidRequest")
      const ok = yield* run(client.produce("in", { value: 1 }, { partition: 0, producerId: "p", seq: 1 }))
      const dup = yield* run(client.produce("in", { value: 1 }, { partition: 0, producerId: "p", seq: 1 }))
      expect(dup).toMatchObject({ duplicate: true, offsets: ok.offsets })
      const badGap = yield* run(Effect.flip(client.produce("in", { value: 1 }, { partition: 0, producerId: "p", seq: 5 })))
      expect(badGap).toMatchObject({ _tag: "SequenceGap", expected: 2 })
      const range = yield* run(Effect.flip(client.fetch({ topic: "in", partition: 0, from: 99, mode: "committed" })))
      expect(range._tag).toBe("OffsetOutOfRange")
    })
  )

  it.scopedLive("a processor over the transport: outputs cross to the other broker process exactly once", () =>
    Effect.gen(function* () {
      const { client, run, cluster, withHub } = yield* setup
      const proc = yield* cluster.spawn(
        "processor",
        withHub(
          Effect.asVoid(
            Effect.forkScoped(
              Processor.runWith(client, {
                name: "copy",
                input: "in",
                output: "out",
                handler: (e) => Effect.succeed({ key: String(e.value), value: e.value })
              })
            )
          )
        )
      )
      for (let i = 0; i < 10; i++) yield* run(client.produce("in", { key: `k${i}`, value: i }))
      const out = yield* run(
        client.consume("out", 0, { from: 0 }).pipe(Stream.take(10), Stream.runCollect, Effect.timeout("10 seconds"))
      )
      expect(Chunk.toArray(out).map((e) => e.value as number).sort((x, y) => x - y)).toEqual(Array.from({ length: 10 }, (_, i) => i))
      expect(proc.alive()).toBe(true)
    })
  )
})
