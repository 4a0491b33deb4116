/**
 * Outside side effects from activities: only after commit, and once per surviving history (the
 * host's ledger), with the idempotency key closing the window a crash can open.
 */
import { KvInProcess } from "@dse/kv"
import { describe, expect, it } from "@effect/vitest"
import { Activity, Workflow } from "@effect/workflow"
import { Deferred, Effect, Layer, Schema } from "effect"
import { ConfirmOrder, ConfirmOrderLayer, memoryMailer, Mailer } from "../src/examples/ExternalEffect"
import * as External from "../src/External"
import { drive, hostCommitted, makeCluster, outside, spawnHost, until } from "./support"

const makeNotify = (gate: Deferred.Deferred<void>) => {
  const Notify = Workflow.make({ name: "Notify", payload: { id: Schema.String }, success: Schema.String, idempotencyKey: ({ id }) => id })
  const layer = Notify.toLayer(({ id }) =>
    Activity.make({
      name: "notify",
      success: Schema.String,
      execute: Effect.gen(function* () {
        const mailer = yield* Mailer
        const key = yield* Activity.idempotencyKey("notify")
        const messageId = yield* Effect.orDie(
          External.once({ key, success: Schema.String, effect: mailer.send({ to: `${id}@example.com`, subject: id, body: "hello", idempotencyKey: key }) })
        )
        yield* Deferred.await(gate)
        return messageId
      })
    })
  )
  return { Notify, layer }
}

describe("External.once", () => {
  it.scoped("the side effect waits for commit: nothing is sent while commits are stopped", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      yield* Deferred.succeed(gate, undefined)
      const mailer = memoryMailer()
      const { Notify, layer } = makeNotify(gate)
      const cluster = yield* makeCluster()
      const host = yield* spawnHost(cluster, layer.pipe(Layer.provide(mailer.layer)))
      yield* cluster.crashCoordinator
      const fiber = yield* Effect.fork(outside(host, Notify.execute({ id: "a" })))
      yield* until(() => host.engine().stats().runsStarted === 1)
      yield* until(() => false, 10, 20).pipe(Effect.catchAllDefect(() => Effect.void))
      expect(mailer.attempts).toEqual([])
      yield* cluster.restartCoordinator
      expect(yield* drive(fiber)).toBe("msg-1")
      expect(mailer.attempts.length).toBe(1)
    })
  )

  it.scoped("an activity re-executed after a crash finds the effect in the host's ledger and does not repeat it", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const mailer = memoryMailer()
      const { Notify, layer } = makeNotify(gate)
      const cluster = yield* makeCluster({ persistDelay: "2 millis" })
      const host = yield* spawnHost(cluster, layer.pipe(Layer.provide(mailer.layer)))
      yield* drive(yield* Effect.fork(outside(host, Notify.execute({ id: "b" }, { discard: true }))))
      yield* until(() => mailer.attempts.length === 1)
      // The ledger's record of the send has committed; the activity itself has not finished.
      yield* drive(yield* Effect.fork(hostCommitted(host)))
      yield* host.process.crash
      yield* host.process.restart
      yield* Deferred.succeed(gate, undefined)
      expect(yield* drive(yield* Effect.fork(outside(host, Notify.execute({ id: "b" }))))).toBe("msg-1")
      expect(mailer.attempts.length).toBe(1)
    })
  )

  it.scoped("a crash between the send and its record: sent again with the same key, delivered once", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      yield* Deferred.succeed(gate, undefined)
      const mailer = memoryMailer()
      const { Notify, layer } = makeNotify(gate)
      const cluster = yield* makeCluster({ persistDelay: "50 millis" })
      const host = yield* spawnHost(cluster, layer.pipe(Layer.provide(mailer.layer)))
      yield* drive(yield* Effect.fork(outside(host, Notify.execute({ id: "c" }, { discard: true }))))
      yield* until(() => mailer.attempts.length === 1, 1)
      yield* host.process.crash
      yield* host.process.restart
      expect(yield* drive(yield* Effect.fork(outside(host, Notify.execute({ id: "c" }))))).toBe("msg-1")
      expect(mailer.attempts.length).toBe(2)
      expect(mailer.attempts[0]!.idempotencyKey).toBe(mailer.attempts[1]!.idempotencyKey)
      expect(mailer.delivered.length).toBe(1)
    })
  )
})

describe("ConfirmOrder (example)", () => {
  it.scoped("records the order in the KV, then emails once after commit", () =>
    Effect.gen(function* () {
      const mailer = memoryMailer()
      const cluster = yield* makeCluster()
      yield* cluster.spawn("kv-0", KvInProcess.shardProgram(cluster.network, { index: 0 }))
      const kv = KvInProcess.layerClient({ network: cluster.network, shards: 1 })
      const host = yield* spawnHost(cluster, ConfirmOrderLayer.pipe(Layer.provide(Layer.merge(kv, mailer.layer))))
      const messageId = yield* drive(yield* Effect.fork(outside(host, ConfirmOrder.execute({ orderId: "o-9", email: "ann@example.com" }))))
      expect(messageId).toBe("msg-1")
      expect(mailer.delivered.map((m) => [m.to, m.subject])).toEqual([["ann@example.com", "Order o-9"]])
      // Again: the recorded result, no second email.
      yield* drive(yield* Effect.fork(outside(host, ConfirmOrder.execute({ orderId: "o-9", email: "ann@example.com" }))))
      expect(mailer.attempts.length).toBe(1)
    })
  )
})
