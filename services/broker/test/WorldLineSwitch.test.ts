/**
 * Regression test of the livelock after a broker restart (README, "Known issues", fixed): a
 * committed reader waiting while its partition's process switches world-lines must not starve the
 * switch. The scenario (test/fixtures/worldLineSwitch.ts, InProcessCluster on the live clock) runs
 * as a child process: the failure starves the whole event loop of the process it happens in, so
 * no timer there fires, not even a test timeout; this process kills it instead (by pid).
 */
import { describe, expect, it } from "@effect/vitest"
import { TestProcess } from "@dse/testing"
import { Effect } from "effect"
import { BROKER_DIR } from "./process/processes"

describe("a world-line switch under a waiting committed reader", () => {
  it.live(
    "the reader's failed commit waits do not spin: the partition adopts the new world-line and the reader carries on",
    () =>
      Effect.gen(function* () {
        // About 5 s on an idle machine; the livelock never ends (the child is then SIGKILLed).
        const exited = yield* TestProcess.runToExit("test/fixtures/worldLineSwitch.ts", { cwd: BROKER_DIR, args: [], timeoutMs: 100_000 })
        expect(exited.stdout + exited.stderr).toMatch(/^ok: out\/0 went from world-line 1 .* to 2; committed reader saw \["z"\]/m)
        expect(exited.code).toBe(0)
      }),
    120_000
  )
})
