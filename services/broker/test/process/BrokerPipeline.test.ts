/**
 * The broker as real processes: a coordinator process, two broker processes (src/main.ts) on
 * loopback TCP with sqlite files in a temporary data directory, and the 3-stage sensor pipeline as
 * a processor process. The test process produces a generated stream (an idempotent producer outside
 * the DSE domain) and reads the outputs as a committed outside consumer. Mid-stream it SIGKILLs a
 * broker process and the processor process (by pid) and starts them again; at the end SIGTERM stops
 * both brokers cleanly (exit code 0).
 *
 * It used to stall intermittently after the broker restart (a livelock in `Partition.fetch`, now
 * fixed; see README, "Known issues", and test/WorldLineSwitch.test.ts).
 *
 * BROKER_TEST_VERBOSE=1 prints every partition's state every 5 s; BROKER_KEEP_TEST_DATA=1 keeps the
 * data directory (sqlite files, process logs in logs/).
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Schedule, Stream } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { BrokerClientService, Delivered } from "../../src/BrokerClient"
import * as BrokerProcess from "../../src/BrokerProcess"
import * as Topics from "../../src/Topics"
import * as Sensor from "../fixtures/sensorPipeline"
import type { Proc } from "./processes"
import { broker, coordinator, kill, pipeline } from "./processes"

/** The last lines of a process's log (`<dataDir>/logs/<name>.log`). */
const logTail = (dataDir: string, name: string, lines = 30): string => {
  try {
    return fs.readFileSync(path.join(dataDir, "logs", `${name}.log`), "utf8").split("\n").slice(-lines).join("\n")
  } catch {
    return "(no log)"
  }
}

const TRANSIENT = new Set(["BrokerUnavailable", "RolledBack", "FutureWorldLine", "StaleWorldLine", "StateObjectFailed"])

const retrying = <A, E extends { readonly _tag: string }>(effect: Effect.Effect<A, E>) =>
  Effect.retry(effect, {
    schedule: Schedule.spaced("50 millis").pipe(Schedule.upTo(Duration.seconds(90))),
    while: (e) => TRANSIENT.has(e._tag)
  })

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "dse-broker-test-"))),
  // BROKER_KEEP_TEST_DATA=1 keeps the directory (sqlite files and process logs) for a post-mortem.
  (dir) => Effect.sync(() => (process.env.BROKER_KEEP_TEST_DATA === "1" ? console.log(`kept ${dir}`) : fs.rmSync(dir, { recursive: true, force: true })))
)

const PARTITIONS = 2
const THRESHOLD = 60
const READINGS = 240
/** Readings per produce call (one partition each): the source is an outside producer whose every call waits for commit. */
const BATCH = 8
const PACE = "200 millis"

/**
 * A generated stream with known totals: keys k0..k9 (both partitions), amounts in [-5, 20] (the
 * non-positive ones are filtered out). mulberry32: every bit of it is usable, unlike an LCG's low bits.
 */
const generate = (n: number): Array<Sensor.Reading> => {
  let a = 0x9e3779b9
  const next = () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return (t ^ (t >>> 14)) >>> 0
  }
  return Array.from({ length: n }, () => ({ key: `k${next() % 10}`, amount: (next() % 26) - 5 }))
}

/** One line per partition: where its log, its commits and its groups are (for a failure's message). */
const describePartitions = (client: BrokerClientService, topics: Topics.Topics) =>
  Effect.forEach(
    topics.list.flatMap((t) => Array.from({ length: t.partitions }, (_, p) => [t.name, p] as const)),
    ([topic, p]) =>
      client.info(topic, p).pipe(
        Effect.timeout("3 seconds"),
        Effect.match({
          onFailure: (e) => `${topic}/${p}: ${String((e as { _tag?: string })._tag ?? e)}`,
          onSuccess: (i) =>
            `${topic}/${p}: world-line ${i.worldLine} version ${i.version} committed ${i.committedVersion} ` +
            `log [${i.start}, ${i.end}) committed end ${i.committedEnd} outbox ${i.outbox} ` +
            `groups ${i.groups.map((g) => `${g.group}@${g.offset}#${g.incarnation}`).join(" ")}`
        })
      ),
    { concurrency: "unbounded" }
  )

describe("the broker as real processes", () => {
  it.scopedLive(
    "a 3-stage pipeline over 2 broker processes; a broker and the processor are SIGKILLed mid-stream and restarted; the committed sink sees every expected output exactly once",
    () =>
      Effect.gen(function* () {
        const dataDir = yield* tempDir
        const verbose = process.env.BROKER_TEST_VERBOSE === "1"
        const say = (line: string) => Effect.sync(() => verbose && console.log(`${new Date().toISOString().slice(11, 23)} ${line}`))
        // clean has one partition: broker-b (SIGKILLed below) hosts only broker:clean:0. A restarted
        // process hosting several partitions can be left with workers behind its runtime's
        // world-line (each fresh registration is a world-line change; see README, "Known issues").
        const topics = Topics.make(Sensor.topics(PARTITIONS).map((t) => (t.name === "clean" ? { ...t, partitions: 1 } : t)))
        const spec = Topics.format(topics)
        yield* coordinator(dataDir)
        const brokerA = ["--topics", spec, "--serve", "readings,totals,alerts"]
        const brokerB = ["--topics", spec, "--serve", "clean"]
        const pipelineArgs = ["--topics", spec, "--threshold", String(THRESHOLD), "--max-batch", "20"]
        // Started together: each finds the others through the coordinator (and retries until they are there).
        const [a, b1, p1] = yield* Effect.all(
          [broker(dataDir, "broker-a", brokerA), broker(dataDir, "broker-b", brokerB), pipeline(dataDir, "pipeline-1", pipelineArgs)],
          { concurrency: "unbounded" }
        )
        yield* say("brokers and pipeline ready")
        const client = yield* BrokerProcess.connect({ dataDir, topics, timeout: "5 seconds" })

        // The outside sink is a consumer group: retention keeps what it has not consumed.
        for (const topic of ["totals", "alerts"]) {
          for (let p = 0; p < PARTITIONS; p++) {
            yield* retrying(client.commitOffset({ topic, partition: p, group: "sink", offset: 0 }))
          }
        }

        const readings = generate(READINGS)
        // Each partition's readings in order, in batches: per key, the order of the stream.
        const byPartition = Array.from({ length: PARTITIONS }, () => [] as Array<Sensor.Reading>)
        for (const r of readings) byPartition[Topics.partitionOf(r.key, PARTITIONS)]!.push(r)
        expect(byPartition.every((list) => list.length > READINGS / 4)).toBe(true)
        const producer = client.producer("source")
        let produced = 0
        const producing = yield* Effect.fork(
          Effect.forEach(
            byPartition,
            (list, p) =>
              Effect.forEach(
                Array.from({ length: Math.ceil(list.length / BATCH) }, (_, i) => list.slice(i * BATCH, (i + 1) * BATCH)),
                (batch) =>
                  retrying(
                    producer.send(
                      "readings",
                      batch.map((r) => ({ key: r.key, value: { key: r.key, amount: r.amount } })),
                      { partition: p }
                    )
                  ).pipe(
                    Effect.tap(() =>
                      Effect.sync(() => {
                        produced += batch.length
                      })
                    ),
                    // Paced, so that the crashes below happen while the stream is still coming in.
                    Effect.zipLeft(Effect.sleep(PACE))
                  ),
                { discard: true }
              ),
            { concurrency: "unbounded", discard: true }
          )
        )

        // The committed outside consumer: every partition of the output topics, from the start.
        const sink = { totals: [] as Array<Delivered>, alerts: [] as Array<Delivered> }
        for (const topic of ["totals", "alerts"] as const) {
          for (let p = 0; p < PARTITIONS; p++) {
            yield* Effect.forkScoped(
              Stream.runForEach(client.consume(topic, p, { from: 0, mode: "committed" }), (e) =>
                Effect.sync(() => {
                  sink[topic].push(e)
                })
              )
            )
          }
        }

        const progress = () =>
          `${new Date().toISOString().slice(11, 23)} produced ${produced}/${READINGS}, sink: ${sink.totals.length} totals, ${sink.alerts.length} alerts`
        if (verbose) {
          yield* Effect.forkScoped(
            Effect.repeat(
              Effect.flatMap(describePartitions(client, topics), (lines) => Effect.sync(() => console.log([progress(), ...lines].join("\n  ")))),
              Schedule.spaced("5 seconds")
            )
          )
        }
        // The processes that must be running: one that dies unexpectedly fails the wait with its log.
        const running = new Set<Proc>([a, b1, p1])
        const deadOne = () => Array.from(running).find((proc) => !proc.alive())
        // A wait that times out says where everything stood.
        const waitFor = (condition: () => boolean, what: string, timeout: Duration.DurationInput = "90 seconds") =>
          Effect.repeat(
            Effect.suspend(() => {
              const dead = deadOne()
              return dead ? Effect.fail(`${what}: ${dead.name} exited unexpectedly:\n${logTail(dataDir, dead.name)}`) : Effect.sync(condition)
            }),
            { until: (ok) => ok, schedule: Schedule.spaced("20 millis") }
          ).pipe(
            Effect.timeoutFail({ duration: timeout, onTimeout: () => what }),
            Effect.catchAll((what) =>
              Effect.flatMap(describePartitions(client, topics), (lines) =>
                Effect.fail(new Error(`timed out waiting for ${what}; ${progress()}\n  ${lines.join("\n  ")}`))
              )
            )
          )

        // Mid-stream: SIGKILL broker-b (it hosts clean and alerts) and start it again (on a new port:
        // everybody finds it again through the coordinator); while it starts, SIGKILL the processor
        // process and start a new one (a new incarnation of every stage). Both restarts overlap the stream.
        yield* waitFor(() => produced >= READINGS / 4, "a quarter of the stream")
        running.delete(b1)
        expect(yield* kill(b1, "SIGKILL")).toBe("SIGKILL")
        yield* say("broker-b killed")
        const restartingB = yield* Effect.fork(broker(dataDir, "broker-b", brokerB))
        yield* waitFor(() => produced >= READINGS / 2, "half of the stream")
        running.delete(p1)
        expect(yield* kill(p1, "SIGKILL")).toBe("SIGKILL")
        yield* say(`pipeline killed (${progress()})`)
        const restartingP = yield* Effect.fork(pipeline(dataDir, "pipeline-2", pipelineArgs))
        const b2 = yield* Fiber.join(restartingB)
        running.add(b2)
        yield* say("broker-b restarted")
        running.add(yield* Fiber.join(restartingP))
        yield* say("pipeline restarted")

        yield* waitFor(() => produced >= READINGS, "the whole stream")
        yield* Fiber.join(producing)
        const expected = Sensor.expected(readings, THRESHOLD)
        const totalCount = Array.from(expected.totals.values()).reduce((n, l) => n + l.length, 0)
        yield* waitFor(() => sink.totals.length >= totalCount && sink.alerts.length >= expected.alertCount, "the sink to see every output")
        // Anything extra (a duplicate) would show up now.
        yield* Effect.sleep("1500 millis")
        expect(Sensor.check(expected, sink.totals, sink.alerts)).toEqual([])
        expect(sink.totals.length).toBe(totalCount)
        expect(sink.alerts.length).toBe(expected.alertCount)
        expect(expected.alertCount).toBeGreaterThan(10)
        expect(deadOne()).toBeUndefined()
        // SIGTERM stops a broker process cleanly (exit code 0).
        expect(yield* kill(a, "SIGTERM")).toBe(0)
        expect(yield* kill(b2, "SIGTERM")).toBe(0)
      }),
    // About a minute on an idle 2-core machine; process starts take minutes when it is overloaded.
    360_000
  )

})
