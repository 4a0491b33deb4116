/**
 * Several processors run as one pipeline: stage i reads what stage i-1 writes.
 *
 *   const pipeline = Pipeline.make([
 *     Processor.make({ name: "clean", input: "raw", output: "clean", handler: ... }),
 *     Processor.make({ name: "totals", input: "clean", output: "totals", handler: ... }),
 *     Processor.make({ name: "alerts", input: "totals", output: "alerts", handler: ... })
 *   ])
 *   yield* Pipeline.run(pipeline)
 *
 * Each stage is an independent processor (its own group, incarnations and state); the pipeline
 * runs them concurrently and fails when one of them fails. Exactly-once composes: every stage
 * turns each input event into its outputs exactly once in the surviving history, so the last
 * topic holds each expected output exactly once.
 */
import type { Effect } from "effect"
import { Effect as E } from "effect"
import { InvalidRequest } from "./BrokerErrors"
import type { BrokerClient } from "./BrokerClient"
import type { Processor, ProcessorError } from "./Processor"
import * as ProcessorModule from "./Processor"

export interface Pipeline<Err, R> {
  readonly _tag: "Pipeline"
  readonly stages: ReadonlyArray<Processor<any, Err, R>>
}

type ErrorOf<P> = P extends Processor<any, infer Err, any> ? Err : never
type ContextOf<P> = P extends Processor<any, any, infer R> ? R : never

/**
 * A pipeline of `stages`. Stage names must be distinct; when a stage has an `output` topic and the
 * next stage an input, they must match (a linear pipeline); a stage may also name its outputs'
 * topics itself (fan-out), in which case the check is skipped.
 */
export const make = <const Stages extends ReadonlyArray<Processor<any, any, any>>>(
  stages: Stages
): Pipeline<ErrorOf<Stages[number]>, ContextOf<Stages[number]>> => {
  if (stages.length === 0) throw new InvalidRequest({ reason: "a pipeline has at least one stage" })
  const names = new Set<string>()
  for (const stage of stages) {
    if (names.has(stage.options.name)) throw new InvalidRequest({ reason: `two stages are named ${stage.options.name}` })
    names.add(stage.options.name)
  }
  stages.forEach((stage, i) => {
    const next = stages[i + 1]
    if (next && stage.options.output !== undefined && stage.options.output !== next.options.input) {
      throw new InvalidRequest({
        reason: `stage ${stage.options.name} writes ${stage.options.output} but the next stage ${next.options.name} reads ${next.options.input}`
      })
    }
  })
  return { _tag: "Pipeline", stages }
}

/** Runs every stage concurrently until one fails (or the fiber is interrupted). */
export const run = <Err, R>(pipeline: Pipeline<Err, R>): Effect.Effect<never, Err | ProcessorError, R | BrokerClient> =>
  E.forEach(pipeline.stages, (stage) => ProcessorModule.run(stage), { concurrency: "unbounded", discard: true }).pipe(
    E.zipRight(E.never)
  )
