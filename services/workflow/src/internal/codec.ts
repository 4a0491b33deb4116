/**
 * Encoding of what the workflow host stores: exits of activities and deferreds (whose values are
 * already encoded by their own schemas), exits of workflows (encoded with the workflow's schemas),
 * and the recognition of speculation failures inside a cause.
 *
 * Everything stored is plain JSON-like data, so that it can be checkpointed and sent on the wire.
 */
import type { Workflow } from "@effect/workflow"
import type { Effect } from "effect"
import { Cause, Exit, Option, ParseResult, Schema } from "effect"

/** An exit whose values are already encoded (activity and deferred results): stored as is. */
export const ExitUnknown = Schema.Exit({ success: Schema.Unknown, failure: Schema.Unknown, defect: Schema.Defect })
export type EncodedExit = typeof ExitUnknown.Encoded

const encodeExit = Schema.encodeSync(ExitUnknown)

export const encodeExitUnknown = (exit: Exit.Exit<unknown, unknown>): EncodedExit => toPlain(encodeExit(exit)) as EncodedExit

/**
 * A deep copy as plain data (arrays, plain objects, primitives), which checkpoints and the wire can
 * carry. Encoded values can still be exotic objects: an error failed inside a traced span is
 * wrapped in a Proxy (to carry the span), which structured cloning rejects.
 */
export const toPlain = (value: unknown, depth = 0): unknown => {
  if (value === null || typeof value !== "object") return typeof value === "function" || typeof value === "symbol" ? undefined : value
  if (depth > 64) throw new Error("value nested too deeply to store")
  if (Array.isArray(value)) return value.map((v) => toPlain(v, depth + 1))
  if (value instanceof Uint8Array) return new Uint8Array(value)
  if (value instanceof Date) return value.toISOString()
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value)) out[key] = toPlain((value as Record<string, unknown>)[key], depth + 1)
  return out
}
export const decodeExitUnknown: (encoded: unknown) => Exit.Exit<unknown, unknown> = Schema.decodeUnknownSync(ExitUnknown)

type AnySchema = Schema.Schema<any, any, never>

const exitSchemas = new WeakMap<Workflow.Any, AnySchema>()

/** The schema of a workflow's exit (its success and error schemas, defects as `Schema.Defect`). */
export const workflowExitSchema = (workflow: Workflow.Any): AnySchema => {
  let schema = exitSchemas.get(workflow)
  if (schema === undefined) {
    schema = Schema.Exit({
      success: workflow.successSchema as AnySchema,
      failure: workflow.errorSchema as AnySchema,
      defect: Schema.Defect
    }) as AnySchema
    exitSchemas.set(workflow, schema)
  }
  return schema
}

type ExitDecoder = (encoded: Exit.Exit<unknown, unknown>) => Effect.Effect<Exit.Exit<unknown, unknown>, ParseResult.ParseError>

const activityDecoders = new WeakMap<object, WeakMap<object, ExitDecoder>>()

/**
 * The decoder of an activity's result, cached by its success and error schemas. The package builds
 * a new `exitSchema` for every `Activity.make`, which workflows call at every step, and a schema
 * seen for the first time compiles a new parser (13% of the host's busy time in a profile taken
 * from process start; the host's CPU per saga did not fall measurably with this cache, 66-75 ms
 * against 65-81 ms before, see docs/benchmarks.md).
 */
export const activityExitDecoder = (activity: { readonly successSchema: Schema.Schema.Any; readonly errorSchema: Schema.Schema.All }): ExitDecoder => {
  let byError = activityDecoders.get(activity.successSchema)
  if (byError === undefined) {
    byError = new WeakMap()
    activityDecoders.set(activity.successSchema, byError)
  }
  let decoder = byError.get(activity.errorSchema)
  if (decoder === undefined) {
    const schema = Schema.ExitFromSelf({ success: activity.successSchema as AnySchema, failure: activity.errorSchema as AnySchema, defect: Schema.Defect })
    decoder = Schema.decode(schema) as unknown as ExitDecoder
    byError.set(activity.errorSchema, decoder)
  }
  return decoder
}

export const payloadSchema = (workflow: Workflow.Any): AnySchema => workflow.payloadSchema as unknown as AnySchema

/** How a completed execution ended. */
export type Outcome = "success" | "failure" | "interrupted" | "defect"

export const outcomeOf = (exit: Exit.Exit<unknown, unknown>): Outcome => {
  if (Exit.isSuccess(exit)) return "success"
  if (Cause.isInterruptedOnly(exit.cause)) return "interrupted"
  if (Option.isSome(Cause.failureOption(exit.cause))) return "failure"
  return "defect"
}

const SPECULATION_TAGS = new Set(["RolledBack", "StaleWorldLine", "FutureWorldLine"])

const isSpeculationValue = (u: unknown, depth = 0): boolean => {
  if (depth > 8 || typeof u !== "object" || u === null) return false
  const tag = (u as { readonly _tag?: unknown })._tag
  if (typeof tag === "string" && SPECULATION_TAGS.has(tag)) return true
  // An activity whose error schema does not list the speculation errors dies with the ParseError of
  // encoding it: look at what failed to encode.
  if (ParseResult.isParseError(u)) return isSpeculationIssue(u.issue, depth + 1)
  return false
}

const isSpeculationIssue = (issue: unknown, depth: number): boolean => {
  if (depth > 8 || typeof issue !== "object" || issue === null) return false
  const i = issue as { readonly actual?: unknown; readonly issue?: unknown; readonly issues?: unknown }
  if (isSpeculationValue(i.actual, depth + 1)) return true
  if (i.issue !== undefined && isSpeculationIssue(i.issue, depth + 1)) return true
  if (Array.isArray(i.issues)) return i.issues.some((x) => isSpeculationIssue(x, depth + 1))
  if (i.issues !== undefined) return isSpeculationIssue(i.issues, depth + 1)
  return false
}

/**
 * True when `cause` holds a speculation failure (RolledBack, StaleWorldLine, FutureWorldLine), as
 * a failure or as a defect. Such a result says nothing about the workflow: what it depended on was
 * lost in a failure, so it must not be recorded; the execution is driven again instead.
 */
export const isSpeculationFailure = (cause: Cause.Cause<unknown>): boolean =>
  Cause.reduce(cause, false, (found, c) => {
    if (found) return Option.some(true)
    if (c._tag === "Fail") return Option.some(isSpeculationValue(c.error))
    if (c._tag === "Die") return Option.some(isSpeculationValue(c.defect))
    return Option.none()
  })

/** True when the exit is a failure caused by a speculation failure. */
export const exitIsSpeculationFailure = (exit: Exit.Exit<unknown, unknown>): boolean =>
  Exit.isFailure(exit) && isSpeculationFailure(exit.cause)
