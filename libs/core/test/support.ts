/**
 * Shared helpers of core's unit tests: building one process runtime over the fakes, and letting
 * forked work (persists run on the default runtime, coordinator events on a subscriber fiber) settle.
 */
import type { Duration } from "effect"
import { Effect, Layer } from "effect"
import * as Dse from "../src/Dse"
import type { ExecutionMode } from "../src/ExecutionMode"
import { FakeCoordinator, FakeStore } from "./fakes"

/** Lets every runnable fiber (ours, the runtime's, and forks on the default runtime) run to its next wait. */
export const flush: Effect.Effect<void> = Effect.gen(function* () {
  for (let i = 0; i < 8; i++) {
    yield* Effect.yieldNow()
    yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
  }
})

export interface SetupOptions {
  readonly mode?: ExecutionMode
  /** The world-line the fake coordinator starts in (default 1). */
  readonly worldLine?: number
  readonly futureWorldLineWait?: Duration.DurationInput
}

/** One process runtime (Dse) over a FakeCoordinator and a FakeStore, built in the test's scope. */
export const setup = (options: SetupOptions = {}) =>
  Effect.gen(function* () {
    const coordinator = yield* FakeCoordinator.make
    if (options.worldLine !== undefined) coordinator.worldLine = options.worldLine
    const store = new FakeStore()
    const context = yield* Layer.build(
      Layer.provideMerge(
        Dse.layer({
          mode: options.mode ?? "speculative",
          ...(options.futureWorldLineWait !== undefined
            ? { futureWorldLineWait: options.futureWorldLineWait }
            : {})
        }),
        Layer.merge(coordinator.layer, store.layer)
      )
    )
    const dse = yield* Effect.provide(Dse.Dse, context)
    return { coordinator, store, context, dse }
  })
