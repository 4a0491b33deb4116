/**
 * The typed client of a workflow host: executes workflows, signals their deferreds, reads their
 * status, over `@dse/transport` (TCP between processes, or the in-process hub).
 *
 *   const client = yield* WorkflowClient.WorkflowClient
 *   const receipt = yield* client.execute(OrderWorkflow, { orderId: "o-1", items, coolOffMillis: 1000 })
 *
 * Payloads are encoded, and results and failures decoded, with the workflow definition itself (the
 * same `Workflow.make` value the host registered), so callers see the workflow's own types.
 *
 * Speculation is ambient, as with every dse client:
 * - outside any sthread, a call is from outside the domain: the host replies only once the result
 *   has committed. Every call is idempotent (an execution's id comes from its idempotency key), so
 *   the client retries what a failure or a restart took back (RolledBack, HostUnavailable, a lost
 *   connection) for up to `retryFor` (default 2 minutes);
 * - inside an sthread (a handler, another workflow's activity), the call is speculative: the reply
 *   carries what it depends on, and failures are the caller's to handle.
 */
import type { SpeculationError, StateObjectFailed } from "@dse/core"
import { Sthread } from "@dse/core"
import { DseRpcClient, Endpoint } from "@dse/transport"
import type { RpcClient, RpcClientError } from "@effect/rpc"
import type { DurableDeferred, Workflow } from "@effect/workflow"
import type { Scope } from "effect"
import { Cause, Context, Duration, Effect, Exit, FiberRef, Layer, Option, Schedule, Schema } from "effect"
import { payloadSchema, workflowExitSchema } from "./internal/codec"
import type { ExecutionNotFound, WorkflowNotFound } from "./WorkflowErrors"
import { HostUnavailable, InvalidRequest } from "./WorkflowErrors"
import type { ExecutionInfo, ListRequest, ListResult, SignalResult } from "./WorkflowModel"
import type { HostDescription, WorkflowRpc } from "./WorkflowRpcs"
import { WorkflowRpcs } from "./WorkflowRpcs"

/** The raw calls of a host (an RpcClient of `WorkflowRpcs`). */
export type WorkflowApi = RpcClient.RpcClient<WorkflowRpc, RpcClientError.RpcClientError>

/** What a call can fail with, besides the workflow's own errors. */
export type ClientError =
  | WorkflowNotFound
  | ExecutionNotFound
  | InvalidRequest
  | HostUnavailable
  | StateObjectFailed
  | SpeculationError
  | RpcClientError.RpcClientError

type AnyWorkflow = Workflow.Workflow<any, any, any, any>
type PayloadOf<W> = W extends Workflow.Workflow<any, infer P, any, any> ? P["Type"] : never
type SuccessOf<W> = W extends Workflow.Workflow<any, any, infer S, any> ? S["Type"] : never
type ErrorOf<W> = W extends Workflow.Workflow<any, any, any, infer E> ? E["Type"] : never

export interface WorkflowClientService {
  readonly api: WorkflowApi
  /** Runs `workflow` (or joins its execution with the same idempotency key) and returns its result. */
  readonly execute: <W extends AnyWorkflow>(workflow: W, payload: PayloadOf<W>) => Effect.Effect<SuccessOf<W>, ErrorOf<W> | ClientError>
  /** Starts `workflow` without waiting; returns the execution's id. */
  readonly start: <W extends AnyWorkflow>(workflow: W, payload: PayloadOf<W>) => Effect.Effect<string, ClientError>
  readonly status: (executionId: string) => Effect.Effect<ExecutionInfo, ClientError>
  /** The execution's exit, decoded with `workflow`, once it is complete. */
  readonly result: <W extends AnyWorkflow>(
    workflow: W,
    executionId: string
  ) => Effect.Effect<Option.Option<Exit.Exit<SuccessOf<W>, ErrorOf<W>>>, ClientError>
  /** Completes a DurableDeferred (the first result wins): `accepted` is false when it already had one. */
  readonly signal: <A, I, E, EI>(
    deferred: DurableDeferred.DurableDeferred<Schema.Schema<A, I>, Schema.Schema<E, EI>>,
    token: string,
    exit: Exit.Exit<A, E>
  ) => Effect.Effect<SignalResult, ClientError>
  readonly interrupt: (executionId: string) => Effect.Effect<ExecutionInfo, ClientError>
  readonly resume: (executionId: string) => Effect.Effect<ExecutionInfo, ClientError>
  readonly list: (request?: ListRequest) => Effect.Effect<ListResult, ClientError>
  readonly describe: Effect.Effect<HostDescription, ClientError>
}

export class WorkflowClient extends Context.Tag("@dse/workflow/WorkflowClient")<WorkflowClient, WorkflowClientService>() {}

export interface MakeOptions {
  /** How the host is named in errors (default: its endpoint). */
  readonly host?: string
  /** How long an outside caller keeps retrying what failures take back. Default 2 minutes; 0 disables. */
  readonly retryFor?: Duration.DurationInput
}

const RETRYABLE = new Set(["RolledBack", "StaleWorldLine", "FutureWorldLine", "HostUnavailable", "RpcClientError"])

const invalid = (what: string) => (e: { readonly message: string }) => new InvalidRequest({ reason: `${what}: ${e.message}` })

/** A client over the raw calls of one host. */
export const make = (api: WorkflowApi, options: MakeOptions = {}): WorkflowClientService => {
  const retryFor = Duration.decode(options.retryFor ?? Duration.minutes(2))
  const schedule = Schedule.exponential(Duration.millis(10)).pipe(
    Schedule.either(Schedule.spaced(Duration.seconds(1))),
    Schedule.upTo(retryFor)
  )
  const host = options.host ?? "workflow host"
  /**
   * A host that stops interrupts its calls in flight, and @effect/rpc hands that interruption to
   * the caller: for the caller it is a call that may or may not have run, like a lost connection.
   * (A caller that is itself interrupted never gets here.)
   */
  const stopped = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E | HostUnavailable> =>
    Effect.catchAllCause(effect, (cause): Effect.Effect<never, E | HostUnavailable> =>
      Cause.isInterruptedOnly(cause)
        ? Effect.fail(new HostUnavailable({ host, reason: "the host stopped while handling the call" }))
        : Effect.failCause(cause)
    )
  /** Outside the domain: retry what failures take back (every call is idempotent). */
  const call = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E | HostUnavailable> =>
    Effect.flatMap(FiberRef.get(Sthread.currentSthread), (thread) =>
      thread || Duration.isZero(retryFor)
        ? stopped(effect)
        : Effect.retry(stopped(effect), {
            schedule,
            while: (e) => RETRYABLE.has((e as { readonly _tag?: string })._tag ?? "")
          })
    )

  const decodeExit = <W extends AnyWorkflow>(workflow: W, info: ExecutionInfo) =>
    Effect.mapError(
      Schema.decodeUnknown(workflowExitSchema(workflow))(info.exit),
      invalid(`result of ${workflow.name}`)
    ) as Effect.Effect<Exit.Exit<SuccessOf<W>, ErrorOf<W>>, InvalidRequest>

  const encodePayload = <W extends AnyWorkflow>(workflow: W, payload: PayloadOf<W>) =>
    Effect.mapError(Schema.encode(payloadSchema(workflow))(payload), invalid(`payload of ${workflow.name}`))

  return {
    api,
    execute: (workflow, payload) =>
      Effect.gen(function* () {
        const encoded = yield* encodePayload(workflow, payload)
        const info = yield* call(api.WorkflowExecute({ workflow: workflow.name, payload: encoded }))
        const exit = yield* decodeExit(workflow, info)
        return yield* exit
      }),
    start: (workflow, payload) =>
      Effect.gen(function* () {
        const encoded = yield* encodePayload(workflow, payload)
        const info = yield* call(api.WorkflowExecute({ workflow: workflow.name, payload: encoded, discard: true }))
        return info.executionId
      }),
    status: (executionId) => call(api.WorkflowStatus({ executionId })),
    result: (workflow, executionId) =>
      Effect.flatMap(call(api.WorkflowStatus({ executionId })), (info) =>
        info.status === "complete" ? Effect.map(decodeExit(workflow, info), Option.some) : Effect.succeedNone
      ),
    signal: (deferred, token, exit) =>
      Effect.gen(function* () {
        const schema = Schema.Exit({ success: deferred.successSchema, failure: deferred.errorSchema, defect: Schema.Defect })
        const encoded = yield* Effect.mapError(Schema.encode(schema)(exit), invalid(`result of ${deferred.name}`))
        return yield* call(api.WorkflowSignal({ deferred: { _tag: "Token", token }, exit: encoded }))
      }),
    interrupt: (executionId) => call(api.WorkflowInterrupt({ executionId })),
    resume: (executionId) => call(api.WorkflowResume({ executionId })),
    list: (request = {}) => call(api.WorkflowList(request)),
    describe: call(api.WorkflowDescribe())
  }
}

export interface LayerOptions extends DseRpcClient.ClientOptions, MakeOptions {}

/** Connects to the host at `options.endpoint` (TCP or in-process) until the scope closes. */
export const connect = (options: LayerOptions): Effect.Effect<WorkflowClientService, never, Scope.Scope> =>
  Effect.map(DseRpcClient.make(WorkflowRpcs, options), (api) =>
    make(api, { host: Endpoint.format(options.endpoint), ...options })
  )

export const layer = (options: LayerOptions): Layer.Layer<WorkflowClient> => Layer.scoped(WorkflowClient, connect(options))

