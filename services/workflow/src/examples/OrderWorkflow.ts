/**
 * An order workflow with a durable sleep and a signal, written with `@effect/workflow` only: it
 * runs unchanged on dse's engine and on Effect's ClusterWorkflowEngine.
 *
 * 1. `place-order` prices the order;
 * 2. the workflow waits for the payment signal (`PaymentResult`, completed from outside with the
 *    token `DurableDeferred.tokenFromPayload(PaymentResult, { workflow: OrderWorkflow, payload })`);
 *    a declined payment fails the order, and the compensation of `place-order` releases it;
 * 3. a durable cool-off period (`DurableClock.sleep`, persisted: it survives restarts);
 * 4. `ship` hands the order to shipping and returns the tracking number.
 */
import { Activity, DurableClock, DurableDeferred, Workflow } from "@effect/workflow"
import { Duration, Effect, Schema } from "effect"

export class PaymentDeclined extends Schema.TaggedError<PaymentDeclined>()("PaymentDeclined", {
  reason: Schema.String
}) {}

export class OrderFailed extends Schema.TaggedError<OrderFailed>()("OrderFailed", {
  orderId: Schema.String,
  reason: Schema.String
}) {}

export const Payment = Schema.Struct({ paymentId: Schema.String, amount: Schema.Number })

/** The payment signal: success with the payment, or PaymentDeclined. */
export const PaymentResult = DurableDeferred.make("payment", { success: Payment, error: PaymentDeclined })

export const OrderReceipt = Schema.Struct({
  orderId: Schema.String,
  total: Schema.Number,
  paymentId: Schema.String,
  tracking: Schema.String
})
export type OrderReceipt = typeof OrderReceipt.Type

export const OrderWorkflow = Workflow.make({
  name: "OrderWorkflow",
  payload: {
    orderId: Schema.String,
    items: Schema.Array(Schema.Struct({ sku: Schema.String, quantity: Schema.Int, price: Schema.Number })),
    /** The cool-off period before shipping, in milliseconds. */
    coolOffMillis: Schema.Number
  },
  success: OrderReceipt,
  error: OrderFailed,
  idempotencyKey: ({ orderId }) => orderId
})

export const OrderWorkflowLayer = OrderWorkflow.toLayer((order) =>
  Effect.gen(function* () {
    const total = yield* Activity.make({
      name: "place-order",
      success: Schema.Number,
      execute: Effect.sync(() => order.items.reduce((sum, item) => sum + item.quantity * item.price, 0))
    }).pipe(
      OrderWorkflow.withCompensation(() =>
        Activity.make({ name: "release-order", execute: Effect.logDebug(`order ${order.orderId} released`) })
      )
    )

    const payment = yield* DurableDeferred.await(PaymentResult).pipe(
      Effect.catchTag("PaymentDeclined", (e) => new OrderFailed({ orderId: order.orderId, reason: e.reason }))
    )
    if (payment.amount !== total) {
      return yield* new OrderFailed({ orderId: order.orderId, reason: `paid ${payment.amount}, owed ${total}` })
    }

    // Persisted (above the in-memory threshold): a restart during the cool-off resumes it.
    yield* DurableClock.sleep({
      name: "cool-off",
      duration: Duration.millis(order.coolOffMillis),
      inMemoryThreshold: Duration.millis(1)
    })

    const tracking = yield* Activity.make({
      name: "ship",
      success: Schema.String,
      execute: Effect.succeed(`TRK-${order.orderId}-${order.items.length}`)
    })
    return { orderId: order.orderId, total, paymentId: payment.paymentId, tracking }
  })
)
