/**
 * The `chain` suite's workflow: N trivial activities in sequence (each returns its index), so that
 * what is measured is the engine's cost per durable step. Plain `@effect/workflow` code: the same
 * definition runs on dse's engine (the bench's workflow host process) and on Effect's own
 * ClusterWorkflowEngine (in the bench process). The Restate and DBOS peers run the equivalent
 * handler (peers/*.mjs).
 */
import { Activity, Workflow } from "@effect/workflow"
import { Effect, Schema } from "effect"

export const Chain = Workflow.make({
  name: "BenchChain",
  payload: { id: Schema.String, steps: Schema.Number },
  success: Schema.Number,
  idempotencyKey: ({ id }) => id
})

const step = (i: number) => Activity.make({ name: `step-${i}`, success: Schema.Number, execute: Effect.succeed(i) })

export const ChainLayer = Chain.toLayer(({ steps }) =>
  Effect.gen(function* () {
    let sum = 0
    for (let i = 0; i < steps; i++) sum += yield* step(i)
    return sum
  })
)
