/**
 * The same workflow source on two engines: dse's (speculative, on a workflow host in a cluster)
 * and Effect's ClusterWorkflowEngine with SingleRunner over sqlite (synchronous=FULL). Only the
 * engine layer differs; the scenario and its results are the same.
 *
 * Real time (Effect's engine polls sqlite), so these tests take a few seconds.
 */
import { describe, expect, it } from "@effect/vitest"
import { Activity, DurableDeferred, Workflow } from "@effect/workflow"
import type { WorkflowEngine } from "@effect/workflow"
import { Cause, Context, Effect, Exit, Layer, Option, Schema } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as ClusterBaseline from "../src/ClusterBaseline"
import { OrderWorkflow, OrderWorkflowLayer, PaymentDeclined, PaymentResult } from "../src/examples/OrderWorkflow"
import { makeCluster, spawnHost } from "./support"

// --- workflows shared by both engines ---------------------------------------------------------------

class OutOfStock extends Schema.TaggedError<OutOfStock>()("OutOfStock", { step: Schema.String }) {}
class Flaky extends Schema.TaggedError<Flaky>()("Flaky", { attempt: Schema.Number }) {}

const compensations: Array<string> = []

const Trip = Workflow.make({
  name: "Trip",
  payload: { id: Schema.String, steps: Schema.Array(Schema.String), failAt: Schema.NullOr(Schema.String) },
  success: Schema.Array(Schema.String),
  error: OutOfStock,
  idempotencyKey: ({ id }) => id
})

const TripLayer = Trip.toLayer(({ failAt, id, steps }) =>
  Effect.forEach(steps, (step) =>
    Activity.make({
      name: `reserve-${step}`,
      success: Schema.String,
      error: OutOfStock,
      execute: step === failAt ? Effect.fail(new OutOfStock({ step })) : Effect.succeed(`${id}/${step}`)
    }).pipe(Trip.withCompensation((reservation) => Effect.sync(() => void compensations.push(`cancel ${reservation}`))))
  )
)

const Retried = Workflow.make({
  name: "Retried",
  payload: { id: Schema.String, failures: Schema.Number },
  success: Schema.Number,
  error: Flaky,
  idempotencyKey: ({ id }) => id
})

const RetriedLayer = Retried.toLayer(({ failures }) =>
  Activity.make({
    name: "flaky",
    success: Schema.Number,
    error: Flaky,
    execute: Effect.flatMap(Activity.CurrentAttempt, (attempt) => (attempt <= failures ? new Flaky({ attempt }) : Effect.succeed(attempt)))
  }).pipe(Activity.retry({ times: 3 }))
)

const Workflows = Layer.mergeAll(OrderWorkflowLayer, TripLayer, RetriedLayer)

// --- the scenario, engine-agnostic -------------------------------------------------------------------

type Runner = <A, E>(effect: Effect.Effect<A, E, WorkflowEngine.WorkflowEngine>) => Effect.Effect<A, E>

/** An exit as comparable data (interruptions carry fiber ids that differ between runs). */
const normalize = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isSuccess(exit)
    ? { success: exit.value }
    : Cause.isInterruptedOnly(exit.cause)
      ? "interrupted"
      : Option.match(Cause.failureOption(exit.cause), { onNone: () => "defect", onSome: (e) => ({ failure: e }) })

const order = (orderId: string) => ({ orderId, items: [{ sku: "book", quantity: 3, price: 5 }], coolOffMillis: 300 })

const pollUntil = (run: Runner, executionId: string, tag: "Suspended" | "Complete") => {
  const loop: Effect.Effect<Workflow.Result<unknown, unknown>> = Effect.flatMap(run(OrderWorkflow.poll(executionId)), (r) =>
    r?._tag === tag ? Effect.succeed(r) : Effect.zipRight(Effect.sleep("20 millis"), loop)
  )
  return Effect.orDie(Effect.timeout(loop, "20 seconds"))
}

const scenario = (run: Runner) =>
  Effect.gen(function* () {
    compensations.length = 0
    const results: Record<string, unknown> = {}
    const token = (executionId: string) => DurableDeferred.tokenFromExecutionId(PaymentResult, { workflow: OrderWorkflow, executionId })

    // An order: signal after it suspended, then a durable sleep.
    const paid = yield* run(OrderWorkflow.execute(order("paid"), { discard: true }))
    yield* pollUntil(run, paid, "Suspended")
    yield* run(DurableDeferred.succeed(PaymentResult, { token: token(paid), value: { paymentId: "p-1", amount: 15 } }))
    results.paid = normalize(yield* run(Effect.exit(OrderWorkflow.execute(order("paid")))))
    // The same idempotency key again: the recorded result.
    results.paidAgain = normalize(yield* run(Effect.exit(OrderWorkflow.execute(order("paid")))))

    // A declined payment: the workflow fails with its error and compensates.
    const declined = yield* run(OrderWorkflow.execute(order("declined"), { discard: true }))
    yield* pollUntil(run, declined, "Suspended")
    yield* run(DurableDeferred.fail(PaymentResult, { token: token(declined), error: new PaymentDeclined({ reason: "no funds" }) }))
    results.declined = normalize(yield* run(Effect.exit(OrderWorkflow.execute(order("declined")))))

    // Interrupted while suspended.
    const abandoned = yield* run(OrderWorkflow.execute(order("abandoned"), { discard: true }))
    yield* pollUntil(run, abandoned, "Suspended")
    yield* run(OrderWorkflow.interrupt(abandoned))
    const final = yield* pollUntil(run, abandoned, "Complete")
    results.abandoned = final._tag === "Complete" ? normalize(final.exit) : "not complete"

    // A saga: the third reservation fails, the first two are compensated in reverse order.
    results.trip = normalize(yield* run(Effect.exit(Trip.execute({ id: "t1", steps: ["flight", "hotel", "car"], failAt: "car" }))))
    results.tripOk = normalize(yield* run(Effect.exit(Trip.execute({ id: "t2", steps: ["flight", "hotel"], failAt: null }))))
    results.compensations = compensations.slice()

    // Activity.retry: attempts are distinct activities.
    results.retried = normalize(yield* run(Effect.exit(Retried.execute({ id: "r1", failures: 2 }))))
    results.exhausted = normalize(yield* run(Effect.exit(Retried.execute({ id: "r2", failures: 9 }))))
    return results
  })

const expected = {
  paid: { success: { orderId: "paid", total: 15, paymentId: "p-1", tracking: "TRK-paid-1" } },
  paidAgain: { success: { orderId: "paid", total: 15, paymentId: "p-1", tracking: "TRK-paid-1" } },
  declined: { failure: { _tag: "OrderFailed", orderId: "declined", reason: "no funds" } },
  abandoned: "interrupted",
  trip: { failure: { _tag: "OutOfStock", step: "car" } },
  tripOk: { success: ["t2/flight", "t2/hotel"] },
  compensations: ["cancel t1/hotel", "cancel t1/flight"],
  retried: { success: 3 },
  exhausted: { failure: { _tag: "Flaky", attempt: 4 } }
}

const plain = (value: unknown) => JSON.parse(JSON.stringify(value))

describe("the same workflow source on two engines", () => {
  it.scopedLive(
    "dse's engine and Effect's ClusterWorkflowEngine (SingleRunner, sqlite synchronous=FULL) give equal results",
    () =>
      Effect.gen(function* () {
        // Effect's engine.
        const dir = mkdtempSync(join(tmpdir(), "dse-wf-cross-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
        const effectContext = yield* Layer.build(Workflows.pipe(Layer.provideMerge(ClusterBaseline.layer({ filename: join(dir, "effect.db") }))))
        expect(Context.get(effectContext, ClusterBaseline.SqlitePragmas).synchronous).toBe(2)
        const onEffect = yield* scenario((effect) => Effect.provide(effect, effectContext))

        // dse's engine: the same layers, another engine layer.
        const cluster = yield* makeCluster()
        const host = yield* spawnHost(cluster, Workflows)
        const onDse = yield* scenario((effect) => Effect.suspend(() => Effect.provide(effect, host.context())))

        expect(plain(onEffect)).toEqual(expected)
        expect(plain(onDse)).toEqual(plain(onEffect))
      }),
    60_000
  )
})
