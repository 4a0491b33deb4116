/**
 * Shared setup of the WAL tests: an InProcessCluster with a process serving the log on the
 * in-process network and a client process, driven by the TestClock.
 */
import type { CheckpointStore, Dse } from "@dse/core"
import { StateObject, VersionedCell } from "@dse/core"
import type { ClusterOptions, InProcessNetwork, ProcessHandle } from "@dse/testing"
import { InProcessCluster } from "@dse/testing"
import type { Scope } from "effect"
import { Effect, Fiber, TestClock } from "effect"
import * as WalClient from "../../src/WalClient"
import * as WalInProcess from "../../src/WalInProcess"
import type { WalLogOptions, WalLogService } from "../../src/WalLog"

export interface WalSetupOptions {
  readonly cluster?: ClusterOptions
  readonly log?: WalLogOptions
}

export interface WalCluster {
  readonly cluster: InProcessCluster
  /** The live log (replaced on restart). */
  readonly log: () => WalLogService
  readonly proc: ProcessHandle
  readonly client: ProcessHandle
  /** A client of the log over the in-process network. */
  readonly wal: WalClient.WalClientService
  /** Runs `effect` in the client process (its Dse runtime), driving the clock until it ends. */
  readonly run: <A, E>(effect: Effect.Effect<A, E, Dse.Dse>) => Effect.Effect<A, E>
  /** Forks `effect` in the client process. */
  readonly fork: <A, E>(effect: Effect.Effect<A, E, Dse.Dse>) => Effect.Effect<Fiber.RuntimeFiber<A, E>>
  /** Runs `effect` in the log's process, driving the clock until it ends. */
  readonly runInLog: <A, E>(effect: Effect.Effect<A, E, Dse.Dse>) => Effect.Effect<A, E>
  readonly forkInLog: <A, E>(effect: Effect.Effect<A, E, Dse.Dse>) => Effect.Effect<Fiber.RuntimeFiber<A, E>>
}

/** Moves the TestClock in steps until `fiber` ends (or the step budget runs out), then joins it. */
export const drive = <A, E>(fiber: Fiber.RuntimeFiber<A, E>, stepMs = 5, maxSteps = 2000): Effect.Effect<A, E> =>
  Effect.gen(function* () {
    for (let i = 0; i < maxSteps && fiber.unsafePoll() === null; i++) yield* TestClock.adjust(`${stepMs} millis`)
    if (fiber.unsafePoll() === null) return yield* Effect.dieMessage(`still running after ${maxSteps * stepMs} ms of test time`)
    return yield* Fiber.join(fiber)
  })

/** Lets forked work settle. */
export const settle = (ms = 20): Effect.Effect<void> => TestClock.adjust(`${ms} millis`)

export const isRunning = (fiber: Fiber.RuntimeFiber<unknown, unknown>) => fiber.unsafePoll() === null

export const setupWal = (options: WalSetupOptions = {}): Effect.Effect<WalCluster, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const cluster = yield* InProcessCluster.make(options.cluster ?? {})
    let live: WalLogService | undefined
    const proc = yield* cluster.spawn(
      "wal",
      WalInProcess.walProgram(cluster.network, options.log ?? {}, (log) => {
        live = log
      })
    )
    const client = yield* cluster.spawn("client", Effect.void)
    const wal = WalInProcess.client(cluster.network, options.log?.name ?? "wal")
    const fork = <A, E>(effect: Effect.Effect<A, E, Dse.Dse>) => Effect.fork(Effect.provide(effect, client.context()))
    const run = <A, E>(effect: Effect.Effect<A, E, Dse.Dse>) => Effect.flatMap(fork(effect), (f) => drive(f))
    const forkInLog = <A, E>(effect: Effect.Effect<A, E, Dse.Dse>) => Effect.fork(Effect.provide(effect, proc.context()))
    const runInLog = <A, E>(effect: Effect.Effect<A, E, Dse.Dse>) => Effect.flatMap(forkInLog(effect), (f) => drive(f))
    return {
      cluster,
      log: () => {
        if (!live) throw new Error("the log has not started")
        return live
      },
      proc,
      client,
      wal,
      run,
      fork,
      runInLog,
      forkInLog
    }
  })

export const text = (s: string) => new TextEncoder().encode(s)

/**
 * Another worker, `x` (a counter served on endpoint "x"), for rollbacks that a survivor log must
 * follow: an sthread that calls `x` and then appends makes the log's version depend on x's.
 */
export const xProgram = (network: InProcessNetwork): Effect.Effect<void, unknown, Dse.Dse | CheckpointStore | Scope.Scope> =>
  Effect.gen(function* () {
    const so = yield* StateObject.make({ name: "x", state: VersionedCell.make(0) })
    yield* network.serve("x", (_: null) => so.action((cell) => Effect.sync(() => cell.update((n) => n + 1))))
  })

/** Calls x (inside an sthread: the sthread then depends on x's current version). */
export const callX = (network: InProcessNetwork) => network.call<null, number, never>("x", null)
