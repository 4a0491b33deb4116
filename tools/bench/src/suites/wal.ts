/**
 * `wal`: appends of small JSON entries to the write-ahead log service (its own process), in the
 * three modes side by side, inside the domain at several client concurrencies and from an outside
 * client (see operations.ts).
 */
import { Effect } from "effect"
import * as Operations from "./operations"

export const suite = Operations.make({
  name: "wal",
  title: "WAL: append throughput and latency",
  description:
    "Appends of one small JSON entry to the WAL service process, closed loop at 1, 8, 32 clients inside the domain (every append in a fresh sthread) " +
    "and at 1 outside client (reply after commit), speculative vs durable vs ephemeral, interleaved. Rows: n = client concurrency; `client` says inside or outside.",
  op: "append",
  need: () => ({ kvShards: 0, wal: true }),
  prepare: (cluster) =>
    Effect.map(cluster.walClient, (wal) => ({
      call: (i: number) => wal.append({ i, at: Date.now(), pad: "x".repeat(64) })
    }))
})
