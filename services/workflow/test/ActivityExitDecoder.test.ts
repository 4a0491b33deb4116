/**
 * The engine decodes activity results with a parser cached by the activity's schemas (the package
 * builds a new exit schema for each `Activity.make`, which workflows call at every step).
 */
import { Activity } from "@effect/workflow"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Schema } from "effect"
import { activityExitDecoder } from "../src/internal/codec"

class Declined extends Schema.TaggedError<Declined>()("Declined", { at: Schema.DateFromString }) {}

const charge = () =>
  Activity.make({ name: "charge", success: Schema.NumberFromString, error: Declined, execute: Effect.succeed(7) })

describe("activityExitDecoder", () => {
  it("is one decoder for activities made again with the same schemas, another for other schemas", () => {
    expect(activityExitDecoder(charge())).toBe(activityExitDecoder(charge()))
    const other = Activity.make({ name: "charge", success: Schema.Number, error: Declined, execute: Effect.succeed(1) })
    expect(activityExitDecoder(other)).not.toBe(activityExitDecoder(charge()))
  })

  it.effect("decodes what the activity encoded, as the activity's own exit schema does", () =>
    Effect.gen(function* () {
      const activity = charge()
      const success = Exit.succeed("7")
      const failure = Exit.fail({ _tag: "Declined", at: "1970-01-01T00:00:02.000Z" })
      for (const encoded of [success, failure] as const) {
        const ours = yield* activityExitDecoder(activity)(encoded as Exit.Exit<unknown, unknown>)
        const theirs = yield* Schema.decode(activity.exitSchema as Schema.Schema<any, any>)(encoded)
        expect(ours).toEqual(theirs)
      }
      expect(yield* activityExitDecoder(activity)(success as Exit.Exit<unknown, unknown>)).toEqual(Exit.succeed(7))
      const bad = yield* Effect.flip(activityExitDecoder(activity)(Exit.succeed("seven") as Exit.Exit<unknown, unknown>))
      expect(bad._tag).toBe("ParseError")
    })
  )
})
