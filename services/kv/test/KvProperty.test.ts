/**
 * The KV against a Map model, under random operations, lost messages and crashes of shards and of
 * the coordinator: see KvPropertyRun.ts for what is checked.
 *
 * A failing schedule replays exactly: KV_PROPERTY_SEED=<seed> KV_PROPERTY_PATH=<path>, as
 * fast-check prints them; KV_PROPERTY_RUNS sets the number of schedules (default 40).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fc from "fast-check"
import { runSchedule, scheduleArb } from "./KvPropertyRun"

const runs = Number(process.env.KV_PROPERTY_RUNS ?? 40)
const seed = process.env.KV_PROPERTY_SEED !== undefined ? Number(process.env.KV_PROPERTY_SEED) : undefined
const path = process.env.KV_PROPERTY_PATH

describe("the KV against a Map model (property)", () => {
  it(`${runs} random schedules of operations, lost messages and crashes keep every answer and every write exactly once`, async () => {
    let totalOps = 0
    let totalCrashes = 0
    let totalRollbacks = 0
    await fc.assert(
      fc.asyncProperty(scheduleArb, async (schedule) => {
        const result = await Effect.runPromise(runSchedule(schedule))
        totalOps += result.operations
        totalCrashes += result.crashes
        totalRollbacks += result.rollbacks
        if (result.violations.length > 0) throw new Error(`violations:\n  ${result.violations.slice(0, 10).join("\n  ")}`)
      }),
      { numRuns: runs, ...(seed !== undefined ? { seed } : {}), ...(path !== undefined ? { path } : {}), endOnFailure: true }
    )
    console.log(`kv property: ${runs} schedules, ${totalOps} operations, ${totalCrashes} crashes, ${totalRollbacks} rollbacks of survivors`)
    expect(totalOps).toBeGreaterThan(0)
    expect(totalCrashes).toBeGreaterThan(0)
  }, 600_000)
})
