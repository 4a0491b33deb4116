/**
 * Clients of a running cluster's services, found through the coordinator's status: the KV shards
 * (workers `kv-<i>` of kind "kv", `KvClient.endpointsFromStatus`) and the WAL (the worker of kind
 * "wal"). The CLI calls them from outside the DSE domain (no sthread), so every reply it gets has
 * committed.
 */
import type { ClusterStatus } from "@dse/core"
import { KvClient } from "@dse/kv"
import { Endpoint } from "@dse/transport"
import { WalClient } from "@dse/wal"
import type { Duration, Scope } from "effect"
import { Effect, Either, Schedule } from "effect"
import * as CliError from "./CliError"
import { Connect } from "@dse/launcher"

/** The cluster's status (through its coordinator). */
export const clusterStatus = (data: string): Effect.Effect<ClusterStatus, CliError.CliError, Scope.Scope> =>
  Effect.gen(function* () {
    const located = yield* Connect.locate(data)
    const client = yield* Connect.coordinator(located, "3 seconds")
    return yield* Connect.status(client, located)
  })

/** A KV client over every shard the coordinator knows. */
export const kv = (
  status: ClusterStatus,
  options: { readonly timeout?: Duration.DurationInput } = {}
): Effect.Effect<KvClient.KvClientService, CliError.CliError, Scope.Scope> =>
  Effect.gen(function* () {
    const shards = KvClient.endpointsFromStatus(status)
    if (Either.isLeft(shards)) return yield* CliError.fail(`cannot reach the KV: ${shards.left}`)
    return yield* KvClient.connect({ shards: shards.right, timeout: options.timeout ?? "30 seconds" })
  })

/** The WAL worker (the one of kind "wal", or the one named `name`) and a client of it. */
export const wal = (
  status: ClusterStatus,
  name?: string
): Effect.Effect<WalClient.WalClientService, CliError.CliError, Scope.Scope> =>
  Effect.gen(function* () {
    const logs = status.workers.filter((w) => (name !== undefined ? w.name === name : w.kind === "wal"))
    if (logs.length === 0) {
      return yield* CliError.fail(name !== undefined ? `the cluster has no worker named ${name}` : "the cluster has no WAL (no worker of kind wal)")
    }
    if (logs.length > 1) return yield* CliError.usage(`the cluster has several logs (${logs.map((w) => w.name).join(", ")}): pick one with --name`)
    const log = logs[0]!
    if (log.address === undefined) return yield* CliError.fail(`${log.name} registered no address`)
    const endpoint = Endpoint.parse(log.address)
    if (Either.isLeft(endpoint)) return yield* CliError.fail(`${log.name}: ${endpoint.left}`)
    return yield* WalClient.makeRemote({ endpoint: endpoint.right, name: log.name, timeout: "30 seconds" })
  })

/** Retries a call while its service is briefly unreachable (a restart), then fails clearly. */
export const call = <A, E extends { readonly _tag?: string }, R>(
  what: string,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, CliError.CliError, R> =>
  effect.pipe(
    Effect.retry({
      while: (e: E) => e._tag === "ShardUnavailable" || e._tag === "WalUnavailable",
      schedule: Schedule.intersect(Schedule.spaced("150 millis"), Schedule.recurs(20))
    }),
    Effect.mapError((e) => CliError.fail(`${what}: ${CliError.describe(e)}`))
  )
