/** Shared by the launcher's tests: temp dirs, fixture paths, waiting on a condition. */
import { NodeContext } from "@effect/platform-node"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { isAlive } from "../src/Supervisor"

const here = path.dirname(fileURLToPath(import.meta.url))

export const fixture = (name: "ready" | "exits" | "silent"): string => path.join(here, "fixtures", `${name}.mjs`)

export const tempDir = (): string => fs.mkdtempSync(path.join(os.tmpdir(), "dse-launcher-test-"))

/** Runs a scoped test effect with the Node platform (the command executor). */
export const run = <A, E>(effect: Effect.Effect<A, E, any>): Promise<A> =>
  Effect.runPromise(Effect.scoped(effect).pipe(Effect.provide(NodeContext.layer)) as Effect.Effect<A, E>)

/** Polls `condition` every 25 ms; fails with `what` after `ms`. */
export const waitUntil = (what: string, condition: () => boolean, ms = 60_000) =>
  Effect.gen(function* () {
    const deadline = Date.now() + ms
    while (!condition()) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      yield* Effect.sleep("25 millis")
    }
  })

/** Waits (up to 30 s) until none of `pids` runs. */
export const waitGone = async (pids: ReadonlyArray<number>): Promise<Array<number>> => {
  const deadline = Date.now() + 30_000
  while (pids.some(isAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25))
  return pids.filter(isAlive)
}

/** SIGKILLs whatever of `pids` still runs (a safety net for a failed test). */
export const killLeftovers = (pids: Iterable<number>): void => {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // gone
    }
  }
}
