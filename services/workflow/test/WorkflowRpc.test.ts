/**
 * The workflow host over RPC (@dse/transport's in-process hub, msgpack on the wire): the typed
 * client from outside the domain, and the errors of bad requests.
 */
import { Endpoint } from "@dse/transport"
import { describe, expect, it } from "@effect/vitest"
import { Activity, DurableDeferred, Workflow } from "@effect/workflow"
import { Effect, Exit, Layer, Schema } from "effect"
import { OrderWorkflow, OrderWorkflowLayer, PaymentResult } from "../src/examples/OrderWorkflow"
import * as WorkflowClient from "../src/WorkflowClient"
import { drive, makeCluster, spawnHost, until } from "./support"

let n = 0
const endpointName = () => `wf-rpc-test-${process.pid}-${n++}`

const order = (orderId: string) => ({
  orderId,
  items: [{ sku: "tea", quantity: 2, price: 4 }],
  coolOffMillis: 1_000
})

describe("WorkflowRpcs", () => {
  it.scoped("an order runs through the typed client: start, signal, durable sleep, result after commit", () =>
    Effect.gen(function* () {
      const name = endpointName()
      const cluster = yield* makeCluster()
      const host = yield* spawnHost(cluster, OrderWorkflowLayer, { serve: name })
      const client = yield* WorkflowClient.connect({ endpoint: Endpoint.inProcess(name) })
      const executionId = yield* drive(yield* Effect.fork(client.start(OrderWorkflow, order("o-1"))))
      expect(executionId).toBe(yield* OrderWorkflow.executionId(order("o-1")))
      yield* until(() => host.stateObject().state.executions.get(executionId)?.status === "suspended")
      expect((yield* drive(yield* Effect.fork(client.status(executionId)))).status).toBe("suspended")

      const token = DurableDeferred.tokenFromExecutionId(PaymentResult, { workflow: OrderWorkflow, executionId })
      const signal = client.signal(PaymentResult, token, Exit.succeed({ paymentId: "pay-1", amount: 8 }))
      expect(yield* drive(yield* Effect.fork(signal))).toEqual({ accepted: true })
      expect(yield* drive(yield* Effect.fork(signal))).toEqual({ accepted: false })

      // The cool-off is a durable clock of 1 s: the result comes after it, and after commit.
      const result = yield* drive(yield* Effect.fork(client.execute(OrderWorkflow, order("o-1"))), 50)
      expect(result).toEqual({ orderId: "o-1", total: 8, paymentId: "pay-1", tracking: "TRK-o-1-1" })

      const listed = yield* drive(yield* Effect.fork(client.list({ workflow: "OrderWorkflow" })))
      expect(listed.executions.map((e) => [e.executionId, e.status, e.outcome])).toEqual([[executionId, "complete", "success"]])
      const described = yield* drive(yield* Effect.fork(client.describe))
      expect(described.workflows).toEqual(["OrderWorkflow"])
    })
  )

  it.scoped("a declined payment fails the order with the workflow's own error, decoded by the client", () =>
    Effect.gen(function* () {
      const name = endpointName()
      const cluster = yield* makeCluster()
      const host = yield* spawnHost(cluster, OrderWorkflowLayer, { serve: name })
      const client = yield* WorkflowClient.connect({ endpoint: Endpoint.inProcess(name) })
      const executionId = yield* drive(yield* Effect.fork(client.start(OrderWorkflow, order("o-2"))))
      yield* until(() => host.stateObject().state.executions.get(executionId)?.status === "suspended")
      const token = DurableDeferred.tokenFromExecutionId(PaymentResult, { workflow: OrderWorkflow, executionId })
      const { PaymentDeclined, OrderFailed } = yield* Effect.promise(() => import("../src/examples/OrderWorkflow"))
      yield* drive(yield* Effect.fork(client.signal(PaymentResult, token, Exit.fail(new PaymentDeclined({ reason: "card expired" })))))
      const exit = yield* drive(yield* Effect.fork(Effect.exit(client.execute(OrderWorkflow, order("o-2")))))
      expect(exit).toEqual(Exit.fail(new OrderFailed({ orderId: "o-2", reason: "card expired" })))
    })
  )

  it.scoped("bad requests get typed errors: unknown workflow, invalid payload, unknown execution, bad token", () =>
    Effect.gen(function* () {
      const name = endpointName()
      const Echo = Workflow.make({ name: "Echo", payload: { text: Schema.String }, success: Schema.String, idempotencyKey: ({ text }) => text })
      const layer = Echo.toLayer(({ text }) => Activity.make({ name: "echo", success: Schema.String, execute: Effect.succeed(text) }))
      const cluster = yield* makeCluster()
      yield* spawnHost(cluster, Layer.mergeAll(layer), { serve: name })
      const client = yield* WorkflowClient.connect({ endpoint: Endpoint.inProcess(name), retryFor: 0 })
      const failure = <A, E>(effect: Effect.Effect<A, E>) =>
        Effect.flatMap(drive(Effect.runFork(Effect.flip(effect))), (e) => Effect.succeed((e as { _tag: string })._tag))
      expect(yield* failure(client.api.WorkflowExecute({ workflow: "Nope", payload: {} }))).toBe("WorkflowNotFound")
      expect(yield* failure(client.api.WorkflowExecute({ workflow: "Echo", payload: { text: 42 } }))).toBe("InvalidRequest")
      expect(yield* failure(client.status("no-such-execution"))).toBe("ExecutionNotFound")
      expect(yield* failure(client.api.WorkflowSignal({ deferred: { _tag: "Token", token: "%%%" }, exit: { _tag: "Success", value: 1 } }))).toBe(
        "InvalidRequest"
      )
      expect(yield* drive(yield* Effect.fork(client.execute(Echo, { text: "hi" })))).toBe("hi")
    })
  )
})
