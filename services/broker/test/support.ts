/**
 * Shared setup of the broker tests: an InProcessCluster with broker processes (each hosting some
 * partitions and serving them on the in-process network), a client process, and helpers to run
 * processors as processes of their own. Everything is driven by the TestClock.
 */
import { CheckpointStore } from "@dse/core"
import type { Dse, WorkerStore } from "@dse/core"
import type { ClusterOptions, ProcessHandle } from "@dse/testing"
import { InProcessCluster } from "@dse/testing"
import type { Scope } from "effect"
import { Cause, Effect, Fiber, TestClock } from "effect"
import type { BrokerOptions, BrokerService } from "../src/Broker"
import * as BrokerClient from "../src/BrokerClient"
import type { BrokerClientService, Delivered } from "../src/BrokerClient"
import * as BrokerInProcess from "../src/BrokerInProcess"
import type { TopicConfig } from "../src/BrokerModel"
import type { PartitionService } from "../src/Partition"
import * as Pipeline from "../src/Pipeline"
import * as Processor from "../src/Processor"
import * as Topics from "../src/Topics"

export interface BrokerProcessSpec {
  readonly name: string
  /** Which partitions it hosts (default all). */
  readonly hosts?: (topic: string, partition: number) => boolean
}

export interface SetupOptions {
  readonly topics: ReadonlyArray<TopicConfig>
  readonly brokers?: ReadonlyArray<BrokerProcessSpec>
  readonly cluster?: ClusterOptions
  readonly broker?: Omit<BrokerOptions, "topics" | "hosts" | "link">
}

export interface BrokerCluster {
  readonly cluster: InProcessCluster
  readonly topics: Topics.Topics
  /** The live broker of each broker process, by process name (replaced on restart). */
  readonly live: Map<string, BrokerService>
  readonly procs: ReadonlyArray<ProcessHandle>
  readonly client: ProcessHandle
  readonly broker: BrokerClientService
  /** The live partition (topic, p), wherever it is hosted. */
  readonly partition: (topic: string, partition: number) => PartitionService
  /** The broker process that hosts (topic, p). */
  readonly hostOf: (topic: string, partition: number) => ProcessHandle
  /** Runs `effect` in the client process (its Dse runtime), driving the clock until it ends. */
  readonly run: <A, E>(effect: Effect.Effect<A, E, Dse.Dse>, stepMs?: number, maxSteps?: number) => Effect.Effect<A, E>
  /** Forks `effect` in the client process. */
  readonly fork: <A, E>(effect: Effect.Effect<A, E, Dse.Dse>) => Effect.Effect<Fiber.RuntimeFiber<A, E>>
  /** Starts a processor as a process of its own; its failures are collected in `failures`. */
  readonly spawnProcessor: <S, E>(name: string, options: Processor.ProcessorOptions<S, E, never>) => Effect.Effect<ProcessorProcess, unknown>
  /** The checkpoint store of `worker` as last opened (size figures for retention tests). */
  readonly store: (worker: string) => WorkerStore | undefined
  /** Starts a pipeline (every stage) as a process of its own. */
  readonly spawnPipeline: <E>(name: string, pipeline: Pipeline.Pipeline<E, never>) => Effect.Effect<ProcessorProcess, unknown>
}

export interface ProcessorProcess {
  readonly handle: ProcessHandle
  readonly failures: Array<string>
}

/** Moves the TestClock in steps until `fiber` ends (or the step budget runs out), then joins it. */
export const drive = <A, E>(fiber: Fiber.RuntimeFiber<A, E>, stepMs = 5, maxSteps = 4000): Effect.Effect<A, E> =>
  Effect.gen(function* () {
    for (let i = 0; i < maxSteps && fiber.unsafePoll() === null; i++) yield* TestClock.adjust(`${stepMs} millis`)
    if (fiber.unsafePoll() === null) return yield* Effect.dieMessage(`still running after ${maxSteps * stepMs} ms of test time`)
    return yield* Fiber.join(fiber)
  })

/** Moves the clock until `done()` holds (or the budget runs out); returns whether it held. */
export const driveUntil = (done: () => boolean, stepMs = 5, maxSteps = 4000): Effect.Effect<boolean> =>
  Effect.gen(function* () {
    for (let i = 0; i < maxSteps && !done(); i++) yield* TestClock.adjust(`${stepMs} millis`)
    return done()
  })

/** Lets forked work settle. */
export const settle = (ms = 20): Effect.Effect<void> => TestClock.adjust(`${ms} millis`)

/** Restarts a crashed process, moving the clock while it starts. */
export const restart = (proc: ProcessHandle): Effect.Effect<void, unknown> =>
  Effect.flatMap(Effect.fork(proc.restart), (fiber) => drive(fiber, 1))

export const setup = (options: SetupOptions): Effect.Effect<BrokerCluster, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const cluster = yield* InProcessCluster.make(options.cluster ?? {})
    const topics = Topics.make(options.topics)
    const specs = options.brokers ?? [{ name: "broker-0" }]
    const live = new Map<string, BrokerService>()
    const stores = new Map<string, WorkerStore>()
    const recordStores = <A, E, R>(program: Effect.Effect<A, E, R | CheckpointStore>) =>
      Effect.flatMap(CheckpointStore, (inner) =>
        Effect.provideService(program, CheckpointStore, {
          open: (worker: string) => Effect.tap(inner.open(worker), (store) => Effect.sync(() => stores.set(worker, store)))
        })
      )
    const procs: Array<ProcessHandle> = []
    for (const spec of specs) {
      procs.push(
        yield* cluster.spawn(
          spec.name,
          recordStores(BrokerInProcess.brokerProgram(
            cluster.network,
            { ...options.broker, topics, ...(spec.hosts !== undefined ? { hosts: spec.hosts } : {}) },
            (broker) => {
              live.set(spec.name, broker)
            }
          ))
        )
      )
    }
    const client = yield* cluster.spawn("client", Effect.void)
    const broker = BrokerInProcess.client(cluster.network, topics)
    const hostIndex = (topic: string, partition: number) => {
      const i = specs.findIndex((s) => (s.hosts ?? (() => true))(topic, partition))
      if (i < 0) throw new Error(`nobody hosts ${topic}/${partition}`)
      return i
    }
    const partition = (topic: string, p: number) => {
      const b = live.get(specs[hostIndex(topic, p)]!.name)!
      const found = b.local(topic, p)
      if (!found) throw new Error(`${topic}/${p} not live`)
      return found
    }
    const fork = <A, E>(effect: Effect.Effect<A, E, Dse.Dse>) => Effect.fork(Effect.provide(effect, client.context()))
    const run = <A, E>(effect: Effect.Effect<A, E, Dse.Dse>, stepMs?: number, maxSteps?: number) =>
      Effect.flatMap(fork(effect), (f) => drive(f, stepMs, maxSteps))
    const spawnRunning = <E>(name: string, body: Effect.Effect<never, E, BrokerClient.BrokerClient>) =>
      Effect.gen(function* () {
        const failures: Array<string> = []
        const handle = yield* cluster.spawn(
          name,
          Effect.asVoid(
            Effect.forkScoped(
              body.pipe(
                Effect.provideService(BrokerClient.BrokerClient, broker),
                Effect.catchAllCause((cause) =>
                  Effect.sync(() => {
                    if (!Cause.isInterruptedOnly(cause)) failures.push(Cause.pretty(cause))
                  })
                )
              )
            )
          )
        )
        return { handle, failures }
      })
    const spawnProcessor = <S, E>(name: string, processorOptions: Processor.ProcessorOptions<S, E, never>) =>
      spawnRunning(name, Processor.run(processorOptions))
    const spawnPipeline = <E>(name: string, pipeline: Pipeline.Pipeline<E, never>) => spawnRunning(name, Pipeline.run(pipeline))
    return {
      cluster,
      topics,
      live,
      procs,
      client,
      broker,
      partition,
      hostOf: (topic, p) => procs[hostIndex(topic, p)]!,
      run,
      fork,
      spawnProcessor,
      spawnPipeline,
      store: (worker) => stores.get(worker)
    } satisfies BrokerCluster
  })

/** Reads every committed event of (topic, partition) from `from`, as an outside consumer (no sthread). */
export const readCommitted = (
  broker: BrokerClientService,
  topic: string,
  partition: number,
  from = 0
): Effect.Effect<ReadonlyArray<Delivered>, unknown> =>
  Effect.gen(function* () {
    const out: Array<Delivered> = []
    let offset = from
    for (;;) {
      const batch = yield* broker.fetch({ topic, partition, from: offset, mode: "committed", maxEvents: 1000 })
      for (const e of batch.events) out.push({ ...e, topic, partition })
      offset = batch.next
      if (batch.events.length === 0) return out
    }
  })
