/**
 * The demo's workflow step: the travel-reservation saga of the paper (services/workflow's example
 * `TravelSaga`) run on the workflow host from outside the DSE domain (each result is released once
 * committed). One seat is stocked on each KV shard, two on all but the last: `trip-1` reserves a
 * seat on every shard; `trip-2` finds the last shard sold out and cancels its earlier reservations
 * in reverse. Committed reads then check the inventory: nothing reserved twice, nothing lost.
 */
import type { ClusterStatus } from "@dse/core"
import type { KvClient } from "@dse/kv"
import { Endpoint } from "@dse/transport"
import { Examples, WorkflowClient } from "@dse/workflow"
import type { Scope } from "effect"
import { Effect, Either } from "effect"
import * as CliError from "../CliError"
import type { Check } from "./BankWorkload"

const { TravelSaga, offerings, FIELD } = Examples.TravelSaga

export interface SagaResult {
  readonly lines: ReadonlyArray<string>
  readonly checks: ReadonlyArray<Check>
}

const availableOf = (value: unknown): number =>
  typeof value === "object" && value !== null && typeof (value as Record<string, unknown>)[FIELD] === "number"
    ? ((value as Record<string, number>)[FIELD] as number)
    : Number.NaN

export const run = (
  status: ClusterStatus,
  kv: KvClient.KvClientService
): Effect.Effect<SagaResult, CliError.CliError, Scope.Scope> =>
  Effect.gen(function* () {
    const host = status.workers.find((w) => w.kind === "workflow" && w.address !== undefined)
    if (host === undefined) return yield* CliError.fail("the coordinator knows no workflow host")
    const endpoint = Endpoint.parse(host.address!)
    if (Either.isLeft(endpoint)) return yield* CliError.fail(`${host.name}: ${endpoint.left}`)
    const client = yield* WorkflowClient.connect({ endpoint: endpoint.right, timeout: "60 seconds" })

    const seats = offerings(kv.shards, "seat")
    const stock = seats.map((_, i) => (i === seats.length - 1 ? 1 : 2))
    yield* Effect.forEach(seats, (key, i) => kv.put(key, { [FIELD]: stock[i]! }, { idempotencyKey: `demo-stock:${key}` }), {
      discard: true
    }).pipe(Effect.mapError((e) => CliError.fail(`stocking the seats: ${CliError.describe(e)}`)))

    const trip = (tripId: string) =>
      Effect.gen(function* () {
        const started = performance.now()
        const result = yield* Effect.either(client.execute(TravelSaga, { tripId, offerings: seats }))
        return { result, ms: performance.now() - started }
      })
    const first = yield* trip("trip-1")
    const second = yield* trip("trip-2")
    const after = yield* Effect.forEach(seats, (key) => kv.get(key, { committed: true })).pipe(
      Effect.mapError((e) => CliError.fail(`reading the seats: ${CliError.describe(e)}`))
    )
    const left = after.map((entry) => (entry._tag === "Some" ? availableOf(entry.value.value) : Number.NaN))
    // trip-1 took one seat everywhere; trip-2's reservations were all cancelled.
    const expected = stock.map((n) => n - 1)

    const lines = [
      `workflow host ${host.name}: TravelSaga over ${seats.length} shards, started from outside (results released once committed)`,
      Either.isRight(first.result)
        ? `  trip-1: reserved a seat on each of ${first.result.right.length} shards in ${first.ms.toFixed(0)} ms`
        : `  trip-1: failed: ${CliError.describe(first.result.left)}`,
      Either.isLeft(second.result) && second.result.left._tag === "SoldOut"
        ? `  trip-2: sold out at ${second.result.left.offering}; its earlier reservations were cancelled in reverse (${second.ms.toFixed(0)} ms)`
        : `  trip-2: ${Either.isRight(second.result) ? "unexpectedly reserved everything" : `failed: ${CliError.describe(second.result.left)}`}`
    ]
    const checks: Array<Check> = [
      {
        name: "the saga trip-1 reserved a seat on every shard",
        passed: Either.isRight(first.result) && first.result.right.length === seats.length,
        detail: Either.isRight(first.result) ? `${first.result.right.length} reservations` : CliError.describe(first.result.left)
      },
      {
        name: "the saga trip-2 sold out and compensated: seats left = stock - trip-1's",
        passed: Either.isLeft(second.result) && second.result.left._tag === "SoldOut" && left.every((n, i) => n === expected[i]),
        detail: `seats left ${left.join(", ")} (expected ${expected.join(", ")})`
      }
    ]
    return { lines, checks }
  })
