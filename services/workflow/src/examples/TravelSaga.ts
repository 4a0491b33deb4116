/**
 * The travel-reservation saga of the libDSE paper: reserve one offering (a flight, a hotel room, a
 * car, ...) at each of N KV shards in sequence; if one has none left, cancel the earlier ones in
 * reverse order and fail.
 *
 * Plain `@effect/workflow` code over the KV client: it runs unchanged on dse's engine (where the
 * KV calls are speculative and the whole saga pays one commit wait, at the end) and on Effect's
 * ClusterWorkflowEngine (where every activity result is persisted before the next step, and the
 * KV runs in durable mode).
 *
 * Each reservation and each cancellation carries the activity's idempotency key, so a step that is
 * executed again (after a crash, or a rollback) is applied once by the KV.
 */
import { KvClient, KvRouting } from "@dse/kv"
import { Activity, Workflow } from "@effect/workflow"
import { Effect, Schedule, Schema } from "effect"

/** The offering had nothing left: the saga fails and compensates. */
export class SoldOut extends Schema.TaggedError<SoldOut>()("SoldOut", {
  offering: Schema.String,
  available: Schema.Number
}) {}

export const Reservation = Schema.Struct({
  offering: Schema.String,
  reservationKey: Schema.String,
  /** What was left of the offering after this reservation. */
  remaining: Schema.Number
})
export type Reservation = typeof Reservation.Type

export const TravelSaga = Workflow.make({
  name: "TravelSaga",
  payload: {
    tripId: Schema.String,
    /** The inventory keys to reserve from, in order (one per shard: see `offeringKey`). */
    offerings: Schema.Array(Schema.String)
  },
  success: Schema.Array(Reservation),
  error: SoldOut,
  idempotencyKey: ({ tripId }) => tripId
})

/** The numeric field of an inventory record that reservations take from. */
export const FIELD = "available"

/** Where a trip's reservation of `offering` is recorded: on the offering's shard (same hash tag). */
export const reservationKey = (offering: string, tripId: string): string =>
  `resv:{${KvRouting.routingKey(offering)}}:${tripId}`

/** Transient KV failures (a shard restarting, a lost connection) are retried inside the step. */
const transient = Schedule.exponential("10 millis").pipe(Schedule.either(Schedule.spaced("500 millis")), Schedule.upTo("2 minutes"))

/** Retries a step's KV call on `transient`, logging each failure: a step that keeps retrying is what an operator looks for. */
const retryTransient =
  (step: string) =>
  <A, E extends { readonly _tag: string }, R>(call: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    call.pipe(
      Effect.tapError((e) =>
        e._tag === "ShardUnavailable" ? Effect.logWarning(`${step}: ${"reason" in e ? String(e.reason) : e._tag}; retrying`) : Effect.void
      ),
      Effect.retry({ while: (e) => e._tag === "ShardUnavailable", schedule: transient })
    )

const reserve = (tripId: string, offering: string, step: number) =>
  Activity.make({
    name: `reserve-${step}`,
    success: Reservation,
    error: SoldOut,
    execute: Effect.gen(function* () {
      const kv = yield* KvClient.KvClient
      const idempotencyKey = yield* Activity.idempotencyKey(`reserve-${step}`)
      const key = reservationKey(offering, tripId)
      const result = yield* kv
        .reserve({ key: offering, field: FIELD, amount: 1, reservationKey: key, record: { tripId }, idempotencyKey })
        .pipe(
          retryTransient(`${tripId} reserve-${step}`),
          Effect.catchTag("InsufficientInventory", (e) => Effect.fail(new SoldOut({ offering, available: e.available }))),
          // Anything else is a bug or a speculation failure (RolledBack): the engine drives the
          // step again from the restored state.
          Effect.catchAll((e) => (e._tag === "SoldOut" ? Effect.fail(e) : Effect.die(e)))
        )
      return { offering, reservationKey: key, remaining: result.remaining }
    })
  })

const cancel = (reservation: Reservation, step: number) =>
  Activity.make({
    name: `cancel-${step}`,
    execute: Effect.gen(function* () {
      const kv = yield* KvClient.KvClient
      const idempotencyKey = yield* Activity.idempotencyKey(`cancel-${step}`)
      yield* kv.cancelReservation(reservation.reservationKey, { idempotencyKey }).pipe(
        retryTransient(`${reservation.reservationKey} cancel-${step}`),
        Effect.orDie
      )
    })
  })

export const TravelSagaLayer = TravelSaga.toLayer(({ offerings, tripId }) =>
  Effect.forEach(offerings, (offering, step) =>
    reserve(tripId, offering, step).pipe(
      // Compensations run in reverse order when the saga fails.
      TravelSaga.withCompensation((reservation) => cancel(reservation, step))
    )
  )
)

// -------------------------------------------------------------------------------------------------
// Inventory

/** An inventory key that lives on shard `shard` of `shards` (the KV routes by hash tag). */
export const offeringKey = (shard: number, shards: number, name = "offer"): string => {
  for (let j = 0; ; j++) {
    const key = `${name}:{${name}-${shard}-${j}}`
    if (KvRouting.shardOf(key, shards) === shard) return key
  }
}

/** One offering per shard, in shard order. */
export const offerings = (shards: number, name = "offer"): Array<string> =>
  Array.from({ length: shards }, (_, i) => offeringKey(i, shards, name))

/** Sets each offering's stock (idempotent per `setupId`). */
export const stock = (keys: ReadonlyArray<string>, available: number, setupId = "stock") =>
  Effect.flatMap(KvClient.KvClient, (kv) =>
    Effect.forEach(keys, (key) => kv.put(key, { [FIELD]: available }, { idempotencyKey: `${setupId}:${key}` }), { discard: true })
  )
