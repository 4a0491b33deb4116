/**
 * The reservation case: decrement inventory if enough is left and record the reservation, in one
 * Action; cancel it (the saga's compensation) idempotently.
 */
import { describe, expect, it } from "@effect/vitest"
import { Dse } from "@dse/core"
import { Effect, Either, Exit, Fiber, Option, Schedule } from "effect"
import type { KvClientService } from "../src/KvClient"
import { drive, isRunning, keyOn, restart, settle, setupKv } from "./support"

const reserve = (kv: KvClientService, n: number, amount = 1, idempotencyKey?: string) =>
  kv.reserve({
    key: "stock:{hotel}",
    field: "rooms",
    amount,
    reservationKey: `resv:{hotel}:${n}`,
    record: { guest: `g${n}` },
    ...(idempotencyKey !== undefined ? { idempotencyKey } : {})
  })

const held = (kv: KvClientService) =>
  Effect.map(kv.scan("resv:{hotel}:", { limit: 1000 }), (page) =>
    page.entries.filter((e) => (e.value as { status: string }).status === "held").map((e) => e.value as { amount: number })
  )

const stock = (kv: KvClientService) =>
  Effect.map(kv.get("stock:{hotel}"), (e) => (Option.getOrThrow(e).value as { rooms: number }).rooms)

describe("reserve", () => {
  it.scoped("decrements the field and records the reservation in one write (one revision)", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv()
      yield* run(kv.put("stock:{hotel}", { rooms: 3, name: "Grand" }))
      const result = yield* run(reserve(kv, 1, 2))
      expect(result).toEqual({
        reservation: { $kind: "reservation", status: "held", key: "stock:{hotel}", field: "rooms", amount: 2, record: { guest: "g1" } },
        remaining: 1,
        revision: 2,
        created: true
      })
      expect(yield* run(kv.get("stock:{hotel}"))).toEqual(Option.some({ value: { rooms: 1, name: "Grand" }, revision: 2 }))
      expect(Option.map(yield* run(kv.get("resv:{hotel}:1")), (e) => e.revision)).toEqual(Option.some(2))
    })
  )

  it.scoped("not enough left: InsufficientInventory, and nothing changes", () =>
    Effect.gen(function* () {
      const { kv, run, live } = yield* setupKv()
      yield* run(kv.put("stock:{hotel}", { rooms: 1 }))
      expect(yield* run(Effect.flip(reserve(kv, 1, 2)))).toMatchObject({
        _tag: "InsufficientInventory",
        key: "stock:{hotel}",
        field: "rooms",
        available: 1,
        requested: 2
      })
      expect(live[0]!.stats().revision).toBe(1)
      expect(yield* run(kv.get("resv:{hotel}:1"))).toEqual(Option.none())
      // A missing inventory record or field has nothing left.
      expect(yield* run(Effect.flip(kv.reserve({ key: "stock:{x}", field: "n", amount: 1, reservationKey: "r:{x}" })))).toMatchObject({
        _tag: "InsufficientInventory",
        available: 0
      })
    })
  )

  it.scoped("the same reservation key again is idempotent; another reservation there is a ReservationConflict", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv()
      yield* run(kv.put("stock:{hotel}", { rooms: 5 }))
      yield* run(reserve(kv, 1, 2))
      const again = yield* run(reserve(kv, 1, 2))
      expect(again).toMatchObject({ created: false, remaining: 3, revision: 2 })
      expect(yield* run(stock(kv))).toBe(3)
      expect(yield* run(Effect.flip(reserve(kv, 1, 3)))).toMatchObject({ _tag: "ReservationConflict", reservationKey: "resv:{hotel}:1" })
      yield* run(kv.put("resv:{hotel}:9", "not a reservation"))
      expect(yield* run(Effect.flip(reserve(kv, 9)))).toMatchObject({ _tag: "ReservationConflict" })
      expect(yield* run(stock(kv))).toBe(3)
    })
  )

  it.scoped("a wrongly typed inventory fails with WrongType", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv()
      yield* run(kv.put("stock:{hotel}", { rooms: "many" }))
      expect(yield* run(Effect.flip(reserve(kv, 1)))).toMatchObject({ _tag: "WrongType", field: "rooms" })
    })
  )

  it.scoped("the client refuses a reservation whose keys live on different shards", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv({ shards: 4 })
      const key = keyOn(0, 4, "stock")
      const reservationKey = keyOn(1, 4, "resv")
      expect(yield* run(Effect.flip(kv.reserve({ key, field: "n", amount: 1, reservationKey })))).toMatchObject({
        _tag: "CrossShardOperation",
        operation: "reserve",
        shards: [0, 1]
      })
    })
  )
})

describe("cancelReservation", () => {
  it.scoped("gives the amount back exactly once, however often it runs", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv()
      yield* run(kv.put("stock:{hotel}", { rooms: 5 }))
      yield* run(reserve(kv, 1, 2))
      expect(yield* run(kv.cancelReservation("resv:{hotel}:1"))).toEqual({ _tag: "Cancelled", restored: 2, remaining: 5, revision: 3 })
      expect(yield* run(kv.cancelReservation("resv:{hotel}:1"))).toEqual({ _tag: "AlreadyCancelled" })
      expect(yield* run(stock(kv))).toBe(5)
      expect(Option.map(yield* run(kv.get("resv:{hotel}:1")), (e) => (e.value as { status: string }).status)).toEqual(Option.some("cancelled"))
    })
  )

  it.scoped("a cancel that overtakes its reserve leaves a tombstone: the late reserve fails with ReservationCancelled", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv()
      yield* run(kv.put("stock:{hotel}", { rooms: 5 }))
      expect((yield* run(kv.cancelReservation("resv:{hotel}:1")))._tag).toBe("NeverReserved")
      expect(yield* run(Effect.flip(reserve(kv, 1)))).toMatchObject({ _tag: "ReservationCancelled" })
      expect(yield* run(stock(kv))).toBe(5)
    })
  )
})

describe.each(["network", "hub"] as const)("inventory is conserved (transport: %s)", (transport) => {
  it.scoped("under concurrent reservations: exactly the stock is handed out", () =>
    Effect.gen(function* () {
      const { kv, run, fork } = yield* setupKv({ transport, cluster: { faults: { delayMs: [0, 3] } } })
      yield* run(kv.put("stock:{hotel}", { rooms: 20 }))
      // Half from outside the domain, half speculative sthreads that commit before they report.
      const fibers = yield* Effect.forEach(Array.from({ length: 50 }, (_, n) => n), (n) =>
        fork(Effect.either(n % 2 === 0 ? reserve(kv, n) : Effect.map(Dse.sthread(Effect.zipLeft(reserve(kv, n), Dse.awaitCommit)), ([r]) => r)))
      )
      const results = yield* drive(yield* Effect.fork(Effect.forEach(fibers, Fiber.join)))
      const ok = results.filter(Either.isRight)
      const refused = results.filter(Either.isLeft)
      expect(ok).toHaveLength(20)
      expect(refused.every((r) => r.left._tag === "InsufficientInventory")).toBe(true)
      expect(yield* run(stock(kv))).toBe(0)
      expect(yield* run(held(kv))).toHaveLength(20)
      // Each success saw a distinct remaining count.
      expect(new Set(ok.map((r) => r.right.remaining)).size).toBe(20)
    })
  )

  it.scoped("under concurrent reservations and cancellations with a crash of the shard: stock + held = initial", () =>
    Effect.gen(function* () {
      const { kv, run, fork, procs } = yield* setupKv({ transport, cluster: { persistDelay: "2 millis", faults: { delayMs: [0, 2] } } })
      yield* run(kv.put("stock:{hotel}", { rooms: 30 }))
      const retry = <A, E extends { readonly _tag: string }>(effect: Effect.Effect<A, E>) =>
        Effect.retry(effect, {
          schedule: Schedule.spaced("2 millis"),
          while: (e) => e._tag === "ShardUnavailable" || e._tag === "RolledBack"
        })
      // Each client reserves (idempotently), and every third one cancels afterwards.
      const fibers = yield* Effect.forEach(Array.from({ length: 40 }, (_, n) => n), (n) =>
        fork(
          Effect.gen(function* () {
            const r = yield* Effect.either(retry(reserve(kv, n, 1 + (n % 2), `reserve-${n}`)))
            if (Either.isRight(r) && n % 3 === 0) yield* retry(kv.cancelReservation(`resv:{hotel}:${n}`, { idempotencyKey: `cancel-${n}` }))
            return r
          })
        )
      )
      yield* settle(6)
      yield* procs[0]!.crash
      yield* settle(3)
      yield* restart(procs[0]!)
      const results = yield* drive(yield* Effect.fork(Effect.forEach(fibers, Fiber.join)), 2)
      const rooms = yield* run(stock(kv))
      const holds = yield* run(held(kv))
      expect(rooms + holds.reduce((sum, h) => sum + h.amount, 0)).toBe(30)
      // What each client was told (committed) is what the state holds.
      for (const [n, r] of results.entries()) {
        const entry = yield* run(kv.get(`resv:{hotel}:${n}`))
        if (Either.isRight(r)) {
          expect(Option.isSome(entry)).toBe(true)
          expect((Option.getOrThrow(entry).value as { status: string }).status).toBe(n % 3 === 0 ? "cancelled" : "held")
        } else {
          expect(r.left._tag).toBe("InsufficientInventory")
          expect(entry).toEqual(Option.none())
        }
      }
    })
  )

  it.scoped("a refusal decided on uncommitted state depends on it: when that state is lost, so is the refusal", () =>
    Effect.gen(function* () {
      const { kv, run, fork, procs } = yield* setupKv({ transport, cluster: { persistDelay: "100 millis" } })
      yield* run(kv.put("stock:{hotel}", { rooms: 1 }))
      // A speculative reservation takes the last room; nothing is durable yet.
      yield* run(Dse.sthread(reserve(kv, 1)))
      // Another sthread is refused on that state, and then waits to commit its outcome.
      const refused = yield* fork(
        Dse.sthread(Effect.flatMap(Effect.flip(reserve(kv, 2)), (e) => Effect.as(Dse.awaitCommit, e._tag)))
      )
      yield* settle(20)
      expect(isRunning(refused)).toBe(true)
      yield* procs[0]!.crash
      yield* restart(procs[0]!)
      yield* settle(50)
      const exit = yield* Fiber.await(refused)
      expect(Exit.isFailure(exit) && exit.cause.toString()).toContain("RolledBack")
      // Retried on the surviving state, the reservation succeeds.
      expect(yield* run(reserve(kv, 2))).toMatchObject({ remaining: 0, created: true })
    })
  )

  it.scoped("a saga over two shards compensates the first reservation when the second fails", () =>
    Effect.gen(function* () {
      const { kv, run } = yield* setupKv({ transport, shards: 2 })
      const hotel = keyOn(0, 2, "hotel")
      const flight = keyOn(1, 2, "flight")
      yield* run(kv.put(`stock:{${hotel}}`, { rooms: 1 }))
      yield* run(kv.put(`stock:{${flight}}`, { seats: 0 }))
      const [outcome] = yield* run(
        Dse.sthread(
          Effect.gen(function* () {
            yield* kv.reserve({ key: `stock:{${hotel}}`, field: "rooms", amount: 1, reservationKey: `resv:{${hotel}}:trip1`, idempotencyKey: "trip1-hotel" })
            const seat = yield* Effect.either(
              kv.reserve({ key: `stock:{${flight}}`, field: "seats", amount: 1, reservationKey: `resv:{${flight}}:trip1`, idempotencyKey: "trip1-flight" })
            )
            if (Either.isLeft(seat)) {
              yield* kv.cancelReservation(`resv:{${hotel}}:trip1`, { idempotencyKey: "trip1-hotel-undo" })
              yield* Dse.awaitCommit
              return "compensated"
            }
            yield* Dse.awaitCommit
            return "booked"
          })
        )
      )
      expect(outcome).toBe("compensated")
      expect(Option.map(yield* run(kv.get(`stock:{${hotel}}`)), (e) => e.value)).toEqual(Option.some({ rooms: 1 }))
    })
  )
})
