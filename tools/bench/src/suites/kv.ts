/**
 * `kv`: puts to a sharded KV store (each shard its own process), in the three modes side by side,
 * inside the domain at several client concurrencies and from an outside client (see operations.ts).
 * Keys are spread over 1000 keys of all shards; values are small records.
 */
import { Effect } from "effect"
import * as Operations from "./operations"

export const suite = Operations.make({
  name: "kv",
  title: "KV store: put throughput and latency",
  description:
    "Puts of small records to the sharded KV store (shards are processes; keys spread over all shards), closed loop at 1, 8, 32 clients inside the domain " +
    "(every put in a fresh sthread) and at 1 outside client (reply after commit), speculative vs durable vs ephemeral, interleaved. " +
    "Rows: n = client concurrency; `client` says inside or outside.",
  op: "put",
  need: (quick) => ({ kvShards: quick ? 2 : 4 }),
  prepare: (cluster, mode) =>
    Effect.map(cluster.kvClient(), (kv) => ({
      call: (i: number) => kv.put(`bench-kv-${mode}-${i % 1000}`, { i, at: Date.now(), pad: "x".repeat(64) })
    }))
})
