/**
 * The three execution modes (SPEC 4): the same code runs in each, chosen by one setting.
 *
 * - speculative: run ahead on memory, seal versions asynchronously, commit cuts (the point of dse).
 * - durable: every Action persists synchronously before it replies or sends (the classic baseline).
 * - ephemeral: no persistence and no fault tolerance (the floor for overhead figures).
 */
import { Schema } from "effect"

export const ExecutionMode = Schema.Literal("speculative", "durable", "ephemeral")
export type ExecutionMode = typeof ExecutionMode.Type
