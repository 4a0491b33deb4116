/**
 * A one-stage processor as a process: every event of topic `--from` goes, once, to the same
 * partition of topic `--to`, with its key and value (a broker pipeline whose output a checker can
 * compare with its input one for one):
 *
 *   tsx src/relayMain.ts --topics "in:2,out:2" --from in --to out [--name relay] [--data DIR]
 *                        [--coordinator HOST:PORT] [--max-batch N]
 *
 * It finds the partitions through the coordinator (`--coordinator`, else `DIR/coordinator.json`),
 * prints `dse-relay ready 127.0.0.1:0` (it serves nothing), and runs until killed. It keeps no
 * state of its own: offsets and steps live in the input partitions, so a SIGKILL loses nothing and
 * a restart resumes where the partitions say (Processor.run). The other worker flags of
 * `dse up` (`--mode --port --seal-period --write-latency`) are accepted and have no effect here.
 * Exits 1 when it stops (fenced by a newer instance, or a topic it cannot use), 2 on bad flags.
 */
import { ServiceMain } from "@dse/coordinator-service"
import { Effect } from "effect"
import * as BrokerProcess from "./BrokerProcess"
import { parseTopicSpec } from "./internal/topicSpec"
import * as Processor from "./Processor"
import * as Topics from "./Topics"

const main = ServiceMain.make(
  "dse-relay",
  'usage: dse-relay --topics "name:partitions,..." --from TOPIC --to TOPIC [--name NAME] [--data DIR] [--coordinator HOST:PORT] [--max-batch N]'
)

const flags = (() => {
  const parsed = main.parse({ topics: { type: "string" }, from: { type: "string" }, to: { type: "string" }, name: { type: "string" }, "max-batch": { type: "string" } })
  const spec = parsed.string("topics")
  if (spec === undefined) return main.fail("--topics is required", 2)
  const topics = parseTopicSpec(spec)
  if (typeof topics === "string") return main.fail(`--topics ${JSON.stringify(spec)}: ${topics}`, 2)
  const from = parsed.string("from")
  const to = parsed.string("to")
  if (from === undefined || to === undefined) return main.fail("--from and --to are required", 2)
  const partitionsOf = (name: string) => topics.find((t) => t.name === name)?.partitions
  if (partitionsOf(from) === undefined) return main.fail(`--from ${from} is not in --topics`, 2)
  if (partitionsOf(to) === undefined) return main.fail(`--to ${to} is not in --topics`, 2)
  if (partitionsOf(from) !== partitionsOf(to)) return main.fail(`--from ${from} and --to ${to} must have as many partitions`, 2)
  return {
    worker: parsed.worker(),
    topics,
    from,
    to,
    name: parsed.string("name") ?? "relay",
    maxBatch: parsed.integer("max-batch", 1, 10_000) ?? 100
  }
})()

main.run(
  Effect.gen(function* () {
    const client = yield* BrokerProcess.connect({
      dataDir: flags.worker.dataDir,
      ...(flags.worker.coordinator !== undefined ? { coordinator: flags.worker.coordinator } : {}),
      topics: Topics.make(flags.topics),
      timeout: "10 seconds"
    })
    process.stdout.write("dse-relay ready 127.0.0.1:0\n")
    return yield* Processor.runWith(client, {
      name: flags.name,
      input: flags.from,
      output: flags.to,
      maxBatch: flags.maxBatch,
      // The same partition: each input partition's order is kept at the output.
      handler: (event) => Effect.succeed({ partition: event.partition, ...(event.key !== undefined ? { key: event.key } : {}), value: event.value }),
      onRestart: (partition, reason) => process.stderr.write(`${new Date().toISOString()} ${flags.name}/${partition} starts over: ${reason}\n`)
    })
  })
)
