/**
 * Shared setup of the KV tests: an InProcessCluster with one process per shard (each serving its
 * shard on the in-process network) and a client process, driven by the TestClock.
 */
import type { ClusterOptions, ProcessHandle } from "@dse/testing"
import { InProcessCluster } from "@dse/testing"
import type { Dse } from "@dse/core"
import { Endpoint } from "@dse/transport"
import type { Scope } from "effect"
import { Effect, Fiber, Schedule, TestClock } from "effect"
import * as KvClient from "../src/KvClient"
import * as KvInProcess from "../src/KvInProcess"
import * as KvServer from "../src/KvServer"
import * as KvShard from "../src/KvShard"
import type { KvShardOptions, KvShardService } from "../src/KvShard"
import { shardOf } from "../src/KvRouting"

export interface KvSetupOptions {
  readonly shards?: number
  /**
   * How clients reach shards: libs/testing's InProcessNetwork (fault injection; the default), or
   * @dse/transport's in-process hub (the real RPC server and client, msgpack on the wire).
   */
  readonly transport?: "network" | "hub"
  readonly cluster?: ClusterOptions
  readonly shard?: Omit<KvShardOptions, "index">
}

export interface KvCluster {
  readonly cluster: InProcessCluster
  /** The live shard of each shard process (replaced on restart). */
  readonly live: Array<KvShardService>
  readonly procs: ReadonlyArray<ProcessHandle>
  readonly client: ProcessHandle
  readonly kv: KvClient.KvClientService
  /** Runs `effect` in the client process (its Dse runtime), driving the clock until it ends. */
  readonly run: <A, E>(effect: Effect.Effect<A, E, Dse.Dse>) => Effect.Effect<A, E>
  /** Forks `effect` in the client process. */
  readonly fork: <A, E>(effect: Effect.Effect<A, E, Dse.Dse>) => Effect.Effect<Fiber.RuntimeFiber<A, E>>
}

/** Moves the TestClock in steps until `fiber` ends (or the step budget runs out), then joins it. */
export const drive = <A, E>(fiber: Fiber.RuntimeFiber<A, E>, stepMs = 5, maxSteps = 2000): Effect.Effect<A, E> =>
  Effect.gen(function* () {
    for (let i = 0; i < maxSteps && fiber.unsafePoll() === null; i++) yield* TestClock.adjust(`${stepMs} millis`)
    if (fiber.unsafePoll() === null) return yield* Effect.dieMessage(`still running after ${maxSteps * stepMs} ms of test time`)
    return yield* Fiber.join(fiber)
  })

/** Lets forked work settle without moving the clock much. */
export const settle = (ms = 20): Effect.Effect<void> => TestClock.adjust(`${ms} millis`)

export const isRunning = (fiber: Fiber.RuntimeFiber<unknown, unknown>) => fiber.unsafePoll() === null

let runs = 0

export const setupKv = (options: KvSetupOptions = {}): Effect.Effect<KvCluster, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const n = options.shards ?? 1
    const cluster = yield* InProcessCluster.make(options.cluster ?? {})
    const live: Array<KvShardService> = []
    const procs: Array<ProcessHandle> = []
    const hub = options.transport === "hub"
    const runId = ++runs
    const endpoints = Array.from({ length: n }, (_, i) => Endpoint.inProcess(`test${runId}/kv-${i}`))
    for (let i = 0; i < n; i++) {
      const onStart = (shard: KvShardService) => {
        live[i] = shard
      }
      const program = hub
        ? Effect.flatMap(KvShard.make({ ...options.shard, index: i }), (shard) => {
            onStart(shard)
            return KvServer.serve(shard, { endpoint: endpoints[i]! })
          })
        : KvInProcess.shardProgram(cluster.network, { ...options.shard, index: i }, onStart)
      procs.push(yield* cluster.spawn(`kv-${i}`, program))
    }
    const client = yield* cluster.spawn("client", Effect.void)
    const kv = hub
      ? yield* KvClient.connect({ shards: endpoints, reconnect: Schedule.spaced("2 millis") })
      : KvClient.make(Array.from({ length: n }, (_, i) => KvInProcess.connect(cluster.network, i)))
    const fork = <A, E>(effect: Effect.Effect<A, E, Dse.Dse>) => Effect.fork(Effect.provide(effect, client.context()))
    const run = <A, E>(effect: Effect.Effect<A, E, Dse.Dse>) => Effect.flatMap(fork(effect), (f) => drive(f))
    return { cluster, live, procs, client, kv, run, fork }
  })

/** A key (with `prefix`) that routes to `shard` of `shards`. */
export const keyOn = (shard: number, shards: number, prefix = "k"): string => {
  for (let i = 0; ; i++) {
    const key = `${prefix}${i}`
    if (shardOf(key, shards) === shard) return key
  }
}

/** Restarts a crashed process, moving the clock while it starts (it may wait on persists in flight). */
export const restart = (proc: ProcessHandle): Effect.Effect<void, unknown> =>
  Effect.flatMap(Effect.fork(proc.restart), (fiber) => drive(fiber, 1))
