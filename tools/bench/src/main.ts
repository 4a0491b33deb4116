/**
 * `pnpm bench [suite...] [--quick]`: runs benchmark suites and prints their tables.
 * (The full report engine of `dse bench` grows here suite by suite.)
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import * as Primitives from "./suites/primitives"
import { render } from "./Table"

const args = process.argv.slice(2)
const quick = args.includes("--quick")

const program = Effect.gen(function* () {
  yield* Console.error(`primitives: running (${quick ? "quick" : "full"})...`)
  const result = yield* Primitives.run({ quick })
  yield* Console.log("Primitive throughput (ops/s), one process, sqlite synchronous=FULL on a worker thread\n")
  yield* Console.log(
    render(
      ["primitive", "mode", "ops", "ops/s"],
      result.primitives.map((r) => [r.primitive, r.mode, r.ops, r.opsPerSecond])
    )
  )
  yield* Console.log("\nSealing a version with N changed keys (ms): event-loop stall, and time until durable\n")
  yield* Console.log(
    render(
      ["keys", "stall p50", "stall max", "durable p50", "durable p95"],
      result.seal.map((r) => [r.keys, r.stallP50, r.stallMax, r.durableP50, r.durableP95])
    )
  )
})

NodeRuntime.runMain(program)
