/**
 * The dse `WorkflowEngine` for `@effect/workflow`: workflow executions are StateObjects. The
 * execution records, activity results, deferred results and clock wake-ups live in the speculative
 * versioned state of a workflow host (see WorkflowHost), sealed and persisted asynchronously, never
 * synchronously per step. Workflows are written with the package's own API and switch engines by
 * switching one layer:
 *
 *   const WorkflowsLive = Layer.mergeAll(TravelSagaLive, OrderWorkflowLive)
 *   // dse: speculative, one commit wait at the boundary
 *   WorkflowsLive.pipe(Layer.provideMerge(DseWorkflowEngine.layer()))
 *   // Effect's own engine
 *   WorkflowsLive.pipe(Layer.provideMerge(ClusterWorkflowEngine.layer), ...)
 *
 * Semantics (see docs/workflows.md):
 * - activities run in the run's sthread: their calls to DSE services are speculative and tagged;
 *   their results are memoized per (execution, activity, attempt) in the host's state;
 * - `execute` from outside any sthread returns once the result has committed; from inside the
 *   domain (an sthread: an RPC handler, another workflow) it returns the speculative result and the
 *   caller depends on it;
 * - after a rollback that restores the host, every unfinished execution is driven again from the
 *   restored state; runs that hit a speculation failure are driven again after a short backoff;
 * - shutting down suspends runs without running compensations; they resume at the next start.
 */
import type { CheckpointStore, Dse, StateObject, StateObjectFailed } from "@dse/core"
import { WorkflowEngine } from "@effect/workflow"
import type { Workflow } from "@effect/workflow"
import type { Exit } from "effect"
import { Context, Effect, Layer, Schema } from "effect"
import type { Scope } from "effect"
import { payloadSchema, toPlain } from "./internal/codec"
import type { EngineOptions, EngineStats, HostFailure } from "./internal/engine"
import * as Internal from "./internal/engine"
import type { ExecutionNotFound, HostUnavailable, WorkflowNotFound } from "./WorkflowErrors"
import { InvalidRequest } from "./WorkflowErrors"
import * as WorkflowHost from "./WorkflowHost"
import type { DeferredAddress, ExecutionInfo, ListRequest, ListResult, SignalResult } from "./WorkflowModel"

export type { EngineOptions, EngineStats, HostFailure }

export interface DseWorkflowEngineOptions extends EngineOptions, WorkflowHost.WorkflowHostOptions {}

/**
 * The engine's own API, beyond `WorkflowEngine`: what the RPC handlers and the CLI use. Payloads
 * and exits are *encoded* with the workflow's schemas. Each operation runs in the caller's sthread
 * (speculative); outside any sthread it returns after commit.
 */
export interface DseWorkflowEngineService {
  readonly host: string
  /** The names of the registered workflows. */
  readonly workflows: () => ReadonlyArray<string>
  /**
   * Starts an execution of `workflow` (idempotent: its id comes from the workflow's idempotency
   * key) and, unless `discard`, waits for its result.
   */
  readonly execute: (
    workflow: string,
    payload: unknown,
    options?: { readonly discard?: boolean }
  ) => Effect.Effect<ExecutionInfo, WorkflowNotFound | InvalidRequest | HostUnavailable | HostFailure>
  readonly status: (executionId: string) => Effect.Effect<ExecutionInfo, ExecutionNotFound | HostUnavailable | HostFailure>
  readonly list: (request?: ListRequest) => Effect.Effect<ListResult, HostUnavailable | HostFailure>
  /** Completes a DurableDeferred with an encoded exit (the first result wins) and wakes its execution. */
  readonly signal: (
    address: DeferredAddress,
    exit: unknown
  ) => Effect.Effect<SignalResult, InvalidRequest | HostUnavailable | HostFailure>
  /** Interrupts an execution (at once when suspended, else when it next suspends): compensations run. */
  readonly interrupt: (executionId: string) => Effect.Effect<ExecutionInfo, ExecutionNotFound | HostUnavailable | HostFailure>
  readonly resume: (executionId: string) => Effect.Effect<ExecutionInfo, ExecutionNotFound | HostUnavailable | HostFailure>
  readonly stats: () => EngineStats
  /** Completes if the host's StateObject fails (a persist failed): its process should exit and restart. */
  readonly failed: Effect.Effect<StateObjectFailed>
}

export class DseWorkflowEngine extends Context.Tag("@dse/workflow/DseWorkflowEngine")<
  DseWorkflowEngine,
  DseWorkflowEngineService
>() {}

/** The engine over the host in context. */
export const make = (
  options: EngineOptions = {}
): Effect.Effect<
  { readonly engine: WorkflowEngine.WorkflowEngine["Type"]; readonly service: DseWorkflowEngineService },
  never,
  WorkflowHost.WorkflowHost | Dse.Dse | Scope.Scope
> =>
  Effect.gen(function* () {
    const host = yield* WorkflowHost.WorkflowHost
    const engine = yield* Internal.make(host, options)
    const service: DseWorkflowEngineService = {
      host: host.name,
      workflows: () => Array.from(engine.workflows.keys()).sort(),
      execute: (name, payload, opts = {}) =>
        Effect.gen(function* () {
          const { workflow } = yield* engine.registered(name)
          const decoded = yield* decodePayload(workflow, payload)
          const executionId = yield* workflow.executionId(decoded)
          const encoded = toPlain(yield* Effect.orDie(Schema.encode(payloadSchema(workflow))(decoded)))
          return yield* engine.startOrAwait(workflow, executionId, encoded, { discard: opts.discard ?? false })
        }),
      status: (executionId) => engine.status(executionId),
      list: (request = {}) => engine.list(request),
      signal: (address, exit) => engine.signalAddress(address, exit),
      interrupt: (executionId) => Effect.zipRight(engine.interrupt(executionId), engine.status(executionId)),
      resume: (executionId) => Effect.zipRight(engine.resume(executionId), engine.status(executionId)),
      stats: () => engine.stats(),
      failed: engine.failed
    }
    return { engine: engine.engine, service }
  })

const decodePayload = (workflow: Workflow.Any, payload: unknown): Effect.Effect<any, InvalidRequest> =>
  Effect.mapError(
    Schema.decodeUnknown(payloadSchema(workflow))(payload),
    (e) => new InvalidRequest({ reason: `payload of ${workflow.name}: ${e.message}` })
  )

/**
 * The engine and its host: provides `WorkflowEngine` (for `Workflow.toLayer`, `execute`, ...), the
 * engine's own API and the host. Needs the process's `Dse` runtime and a `CheckpointStore`.
 */
export const layer = (
  options: DseWorkflowEngineOptions = {}
): Layer.Layer<
  WorkflowEngine.WorkflowEngine | DseWorkflowEngine | WorkflowHost.WorkflowHost,
  StateObject.StartError,
  Dse.Dse | CheckpointStore
> => {
  const engines = Layer.scopedContext(
    Effect.map(make(options), ({ engine, service }) =>
      Context.make(WorkflowEngine.WorkflowEngine, engine).pipe(Context.add(DseWorkflowEngine, service))
    )
  )
  return engines.pipe(Layer.provideMerge(WorkflowHost.layer(options)))
}

/** An exit for `signal`, encoded with the deferred's schemas. */
export const encodeSignal = <A, I, E, EI>(
  schemas: { readonly success: Schema.Schema<A, I>; readonly error: Schema.Schema<E, EI> },
  exit: Exit.Exit<A, E>
): Effect.Effect<unknown, InvalidRequest> =>
  Effect.mapError(
    Schema.encode(Schema.Exit({ success: schemas.success, failure: schemas.error, defect: Schema.Defect }))(exit),
    (e) => new InvalidRequest({ reason: `exit does not encode: ${e.message}` })
  )

