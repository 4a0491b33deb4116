/**
 * The broker's part of the demo: one event per transfer on topic `transfers`, produced inside the
 * transfer's sthread (deduplicated by producer id and sequence number), and a committed read of
 * every partition to check that each committed transfer is there exactly once.
 *
 * Loaded with a dynamic import only when the broker service exists, so that the demo still runs
 * while the broker is being built.
 */
import type { ClusterStatus, CoordinatorUnavailable } from "@dse/core"
import { BrokerTransport, Topics } from "@dse/broker"
import type { Scope } from "effect"
import { Effect, Schedule } from "effect"

import { BROKER_PARTITIONS as PARTITIONS, BROKER_TOPIC as TOPIC, BROKER_TOPICS as TOPICS } from "./BankWorkload"

export interface BrokerStep {
  /** Produces `value` as batch `seq` (1, 2, 3, ...) of `producerId` on `partition`. */
  readonly produce: (partition: number, producerId: string, seq: number, key: string, value: unknown) => Effect.Effect<void, { readonly _tag: string }>
  /** Every committed event of the topic. */
  readonly committedEvents: Effect.Effect<ReadonlyArray<{ readonly partition: number; readonly key: string | undefined; readonly value: unknown }>, { readonly _tag: string }>
}

export const make = (
  discover: Effect.Effect<ClusterStatus, CoordinatorUnavailable>
): Effect.Effect<BrokerStep, { readonly _tag: string }, Scope.Scope> =>
  Effect.gen(function* () {
    const topics = yield* Topics.parse(TOPICS)
    const client = yield* BrokerTransport.make({ topics, discover, timeout: "10 seconds" })
    // Reach every partition once before the workload, so that its first transfers do not find
    // the connections still opening (BrokerUnavailable, then driven again).
    for (let partition = 0; partition < PARTITIONS; partition++) {
      yield* client.fetch({ topic: TOPIC, partition, from: 0, mode: "committed", maxEvents: 1 }).pipe(
        Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("20 seconds"))),
        Effect.ignore
      )
    }
    return {
      produce: (partition, producerId, seq, key, value) =>
        Effect.asVoid(client.produce(TOPIC, { key, value }, { partition, producerId, seq })),
      committedEvents: Effect.gen(function* () {
        const out: Array<{ partition: number; key: string | undefined; value: unknown }> = []
        for (let partition = 0; partition < PARTITIONS; partition++) {
          let from = 0
          for (;;) {
            const batch = yield* client.fetch({ topic: TOPIC, partition, from, mode: "committed", maxEvents: 1000 })
            for (const e of batch.events) out.push({ partition, key: e.key, value: e.value })
            if (batch.events.length === 0 || batch.next >= batch.end) break
            from = batch.next
          }
        }
        return out
      })
    }
  })
