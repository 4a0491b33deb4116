/**
 * Test support: a workflow host process in an InProcessCluster, clock driving, and calls from
 * outside the DSE domain (no sthread) or from inside it (an sthread).
 */
import type { CheckpointStore, StateObject } from "@dse/core"
import { Dse } from "@dse/core"
import type { ClusterOptions, ProcessHandle } from "@dse/testing"
import { InProcessCluster } from "@dse/testing"
import type { WorkflowEngine } from "@effect/workflow"
import type { Fiber, Scope } from "effect"
import { Context, Effect, Layer, TestClock } from "effect"
import { DseRpcServer, Endpoint } from "@dse/transport"
import * as DseWorkflowEngine from "../src/DseWorkflowEngine"
import * as WorkflowHandlers from "../src/WorkflowHandlers"
import { WorkflowRpcs } from "../src/WorkflowRpcs"
import * as WorkflowHost from "../src/WorkflowHost"

export type HostContext = Context.Context<
  WorkflowEngine.WorkflowEngine | DseWorkflowEngine.DseWorkflowEngine | WorkflowHost.WorkflowHost | Dse.Dse | CheckpointStore
>

export interface HostHandle {
  readonly process: ProcessHandle
  /** The running host's services (changes at every restart). */
  readonly context: () => HostContext
  readonly engine: () => DseWorkflowEngine.DseWorkflowEngineService
  readonly stateObject: () => StateObject.StateObject<WorkflowHost.HostState>
}

/** The program of a workflow host process: the engine, its host and the given workflows. */
export const hostProgram = (
  workflows: Layer.Layer<never, never, WorkflowEngine.WorkflowEngine | Dse.Dse>,
  options: HostOptions,
  onStart: (context: HostContext) => void
): Effect.Effect<void, unknown, Dse.Dse | CheckpointStore | Scope.Scope> =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    const base = yield* Effect.context<Dse.Dse | CheckpointStore>()
    const built = yield* Layer.buildWithScope(
      workflows.pipe(Layer.provideMerge(DseWorkflowEngine.layer(options)), Layer.provideMerge(Layer.succeedContext(base))),
      scope
    )
    if (options.serve) {
      yield* DseRpcServer.make(WorkflowRpcs, { endpoint: Endpoint.inProcess(options.serve) }).pipe(
        Effect.provide(WorkflowHandlers.layer),
        Effect.provide(built)
      )
    }
    onStart(built)
  })

export interface HostOptions extends DseWorkflowEngine.DseWorkflowEngineOptions {
  /** Serves the host's RPC group on this in-process endpoint. */
  readonly serve?: string
}

export const spawnHost = (
  cluster: InProcessCluster,
  workflows: Layer.Layer<never, never, WorkflowEngine.WorkflowEngine | Dse.Dse>,
  options: HostOptions = {},
  name = "wf"
): Effect.Effect<HostHandle, unknown> =>
  Effect.gen(function* () {
    let context: HostContext | undefined
    const process = yield* cluster.spawn(
      name,
      hostProgram(workflows, options, (c) => {
        context = c
      })
    )
    const get = () => {
      if (!context || !process.alive()) throw new Error(`host ${name} is not running`)
      return context
    }
    return {
      process,
      context: get,
      engine: () => Context.get(get(), DseWorkflowEngine.DseWorkflowEngine),
      stateObject: () => Context.get(get(), WorkflowHost.WorkflowHost).stateObject
    }
  })

export const makeCluster = (options: ClusterOptions = {}) => InProcessCluster.make(options)

/** Runs `effect` with the host's services, outside any sthread (an outside caller). */
export const outside = <A, E, R>(host: HostHandle, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E> =>
  Effect.suspend(() => Effect.provide(effect, host.context() as Context.Context<any>)) as Effect.Effect<A, E>

/** Runs `effect` with the host's services inside a new sthread (a caller inside the DSE domain). */
export const inside = <A, E, R>(host: HostHandle, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E> =>
  Effect.suspend(() =>
    Effect.provide(Effect.map(Dse.sthread(effect), ([a]) => a), host.context() as Context.Context<any>)
  ) as Effect.Effect<A, E>

/** Moves the TestClock in steps until `fiber` ends; returns its result. */
export const drive = <A, E>(fiber: Fiber.RuntimeFiber<A, E>, stepMs = 5, maxSteps = 2000) =>
  Effect.gen(function* () {
    for (let i = 0; i < maxSteps && fiber.unsafePoll() === null; i++) yield* TestClock.adjust(`${stepMs} millis`)
    const exit = fiber.unsafePoll()
    if (exit === null) return yield* Effect.dieMessage(`fiber did not end within ${stepMs * maxSteps} ms of test time`)
    return yield* exit
  })

/** Moves the TestClock in steps until `condition` holds. */
export const until = (condition: () => boolean, stepMs = 5, maxSteps = 2000) =>
  Effect.gen(function* () {
    for (let i = 0; i < maxSteps && !condition(); i++) yield* TestClock.adjust(`${stepMs} millis`)
    if (!condition()) return yield* Effect.dieMessage(`condition not reached within ${stepMs * maxSteps} ms of test time`)
  })

/**
 * Lets forked fibers run without moving the clock: yields, and lets the event loop turn (some
 * steps are real promises, such as the hash of `Activity.idempotencyKey`).
 */
export const settle = (n = 50) =>
  Effect.repeatN(Effect.zipRight(Effect.yieldNow(), Effect.promise(() => new Promise<void>((r) => setImmediate(r)))), n)

/** Completes once everything the host holds now has committed. */
export const hostCommitted = (host: HostHandle) =>
  inside(host, Effect.zipRight(host.stateObject().action(() => Effect.void), Dse.awaitCommit))
