/**
 * An activity with an outside side effect: confirming an order records it in the KV (inside the
 * DSE domain: speculative, deduplicated by the KV) and then emails the customer (outside the
 * domain: it must not happen for work that a failure takes back, and should happen once).
 *
 * The email goes through `External.once`, keyed by the activity's idempotency key:
 * - it is sent only after everything before it has committed (`Dse.external`): a rolled-back
 *   confirmation never emails anyone;
 * - the host records it as sent; a re-executed activity (after a crash) finds the record and does
 *   not send again;
 * - in the window between sending and that record committing, a crash can still lose the record:
 *   the activity then sends again with the same key, and the mailer (like every payment or mail
 *   API with idempotency keys) delivers it once.
 */
import { KvClient } from "@dse/kv"
import { Activity, Workflow } from "@effect/workflow"
import { Context, Effect, Layer, Schema } from "effect"
import * as fs from "node:fs"
import * as External from "../External"

export const Mail = Schema.Struct({
  to: Schema.String,
  subject: Schema.String,
  body: Schema.String,
  /** The receiver delivers each key once. */
  idempotencyKey: Schema.String
})
export type Mail = typeof Mail.Type

/** The outside world: a mail API that deduplicates by idempotency key. */
export class Mailer extends Context.Tag("@dse/workflow/examples/Mailer")<
  Mailer,
  {
    /** Sends (or, for a key seen before, does nothing) and returns the message id. */
    readonly send: (mail: Mail) => Effect.Effect<string>
  }
>() {}

export const ConfirmOrder = Workflow.make({
  name: "ConfirmOrder",
  payload: { orderId: Schema.String, email: Schema.String },
  /** The id of the confirmation email. */
  success: Schema.String,
  idempotencyKey: ({ orderId }) => orderId
})

export const ConfirmOrderLayer = ConfirmOrder.toLayer(({ email, orderId }) =>
  Effect.gen(function* () {
    yield* Activity.make({
      name: "record-confirmation",
      execute: Effect.gen(function* () {
        const kv = yield* KvClient.KvClient
        const idempotencyKey = yield* Activity.idempotencyKey("record-confirmation")
        yield* Effect.orDie(kv.put(`order:${orderId}`, { status: "confirmed", email }, { idempotencyKey }))
      })
    })
    return yield* Activity.make({
      name: "send-confirmation",
      success: Schema.String,
      execute: Effect.gen(function* () {
        const mailer = yield* Mailer
        const key = yield* Activity.idempotencyKey("send-confirmation")
        return yield* External.once({
          key,
          success: Schema.String,
          effect: mailer.send({ to: email, subject: `Order ${orderId}`, body: "Your order is confirmed.", idempotencyKey: key })
        }).pipe(Effect.orDie)
      })
    })
  })
)

// -------------------------------------------------------------------------------------------------
// Mailers

export interface MemoryMailer {
  /** Every call of `send`, duplicates included. */
  readonly attempts: Array<Mail>
  /** What was delivered: one per idempotency key. */
  readonly delivered: Array<Mail>
  readonly layer: Layer.Layer<Mailer>
}

/** A mailer in memory (tests): counts attempts and deliveries. */
export const memoryMailer = (): MemoryMailer => {
  const attempts: Array<Mail> = []
  const delivered: Array<Mail> = []
  const ids = new Map<string, string>()
  const send = (mail: Mail) =>
    Effect.sync(() => {
      attempts.push(mail)
      let id = ids.get(mail.idempotencyKey)
      if (id === undefined) {
        id = `msg-${ids.size + 1}`
        ids.set(mail.idempotencyKey, id)
        delivered.push(mail)
      }
      return id
    })
  return { attempts, delivered, layer: Layer.succeed(Mailer, { send }) }
}

/** A mailer that appends each delivery to a JSON-lines file (what `dse up` uses), once per key. */
export const outboxMailer = (file: string): Layer.Layer<Mailer> =>
  Layer.sync(Mailer, () => {
    const ids = new Map<string, string>()
    if (fs.existsSync(file)) {
      for (const line of fs.readFileSync(file, "utf8").split("\n")) {
        if (!line.trim()) continue
        try {
          const entry = JSON.parse(line) as { idempotencyKey: string; id: string }
          ids.set(entry.idempotencyKey, entry.id)
        } catch {
          // A torn last line after a crash: ignore it.
        }
      }
    }
    return {
      send: (mail) =>
        Effect.sync(() => {
          const seen = ids.get(mail.idempotencyKey)
          if (seen !== undefined) return seen
          const id = `msg-${ids.size + 1}`
          fs.appendFileSync(file, JSON.stringify({ ...mail, id, at: new Date().toISOString() }) + "\n")
          ids.set(mail.idempotencyKey, id)
          return id
        })
    }
  })
