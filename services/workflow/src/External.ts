/**
 * Outside side effects from inside an activity (an email, a payment, a call to a service outside
 * the DSE domain), performed at most once per surviving history *as far as the host can tell*, and
 * exactly once at a receiver that deduplicates by the idempotency key it is given.
 *
 *   const sendReceipt = Activity.make({
 *     name: "send-receipt",
 *     execute: Effect.gen(function* () {
 *       const key = yield* Activity.idempotencyKey("send-receipt")
 *       const mailer = yield* Mailer
 *       yield* External.once({ key, effect: mailer.send({ to, body, idempotencyKey: key }) })
 *     })
 *   })
 *
 * `External.once` first looks the key up in the host's ledger (an activity re-executed after a
 * crash or a rollback finds the effect already done and does not repeat it); otherwise it runs the
 * effect with `Dse.external` (only after everything the workflow did so far has committed, so a
 * rolled-back speculation never reaches the outside), then records it as done in the host's state.
 *
 * The at-least-once window: between the effect and the commit of its "done" record, a crash of
 * the host (or a rollback of that record) loses the record, and the re-executed activity performs
 * the effect again with the same key. The receiver closes the window by deduplicating on the key
 * (what payment and mail APIs do with an idempotency key). Inside the DSE domain (KV, WAL, broker)
 * no such care is needed: those calls are speculative and deduplicated by the services.
 *
 * On an engine other than dse's, there is no ledger: `once` is `Dse.external(effect)`.
 */
import type { Dse } from "@dse/core"
import type { RolledBack } from "@dse/core"
import { Dse as DseModule } from "@dse/core"
import type { Schema as S } from "effect"
import { Context, Effect, Option, Schema } from "effect"

/** The host's record of outside effects already performed (provided by the dse engine to activities). */
export interface ExternalLedgerService {
  /** The recorded value of an effect already performed under this key. */
  readonly lookup: (key: string) => Effect.Effect<Option.Option<unknown>, RolledBack>
  /** Fails when the run this activity belongs to was replaced (after a restore): do not act. */
  readonly guard: Effect.Effect<void, RolledBack>
  readonly record: (key: string, value: unknown) => Effect.Effect<void, RolledBack>
}

export class ExternalLedger extends Context.Tag("@dse/workflow/ExternalLedger")<ExternalLedger, ExternalLedgerService>() {}

export interface OnceOptions<A, I, E, R> {
  /** The idempotency key: use `Activity.idempotencyKey(name)`, and hand it to the receiver. */
  readonly key: string
  /** The effect's result schema (its encoded form is stored). Default: the effect returns nothing. */
  readonly success?: S.Schema<A, I>
  readonly effect: Effect.Effect<A, E, R>
}

/** Runs an outside side effect once per key (see the module documentation for the guarantee). */
export const once = <A, I, E, R>(options: OnceOptions<A, I, E, R>): Effect.Effect<A, E | RolledBack, R | Dse.Dse> =>
  Effect.gen(function* () {
    const schema = (options.success ?? Schema.Any) as S.Schema<A, unknown>
    const ledger = yield* Effect.serviceOption(ExternalLedger)
    if (Option.isNone(ledger)) return yield* DseModule.external(options.effect)
    const done = yield* ledger.value.lookup(options.key)
    if (Option.isSome(done)) return yield* Effect.orDie(Schema.decodeUnknown(schema)((done.value as Recorded).value))
    const value = yield* DseModule.external(Effect.zipRight(ledger.value.guard, options.effect))
    const encoded = yield* Effect.orDie(Schema.encode(schema)(value))
    yield* ledger.value.record(options.key, { value: encoded } satisfies Recorded)
    return value
  })

/** What the ledger holds for a performed effect (a wrapper, so that `undefined` survives). */
interface Recorded {
  readonly value: unknown
}
