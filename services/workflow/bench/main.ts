/**
 * `tsx bench/main.ts [--quick] [--keep] [--shards 1,2,5,10] [--runs N]`: runs the travel-reservation experiment and prints its
 * tables (tools/bench can run `Travel.run` as one of its suites).
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import * as Travel from "./travel"

const args = process.argv.slice(2)
const quick = args.includes("--quick")
const flag = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : undefined
}
const shards = flag("shards")?.split(",").map(Number)
const runs = flag("runs")

const program = Effect.gen(function* () {
  const result = yield* Travel.run({
    ...(quick ? { runs: 20, warmup: 5, throughputSagas: 100 } : {}),
    ...(shards ? { shards, throughputShards: Math.max(...shards) } : {}),
    ...(runs ? { runs: Number(runs) } : {}),
    keep: args.includes("--keep"),
    log: (line) => process.stderr.write(`travel: ${line}\n`)
  })
  yield* Console.log(Travel.render(result))
})

NodeRuntime.runMain(Effect.scoped(program))
