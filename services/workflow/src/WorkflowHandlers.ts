/**
 * The handlers of `WorkflowRpcs`: each calls the engine's own API. The transport runs every
 * handler in an sthread made from the incoming DSE header (`Dse.serve`), so the host's Actions join
 * the caller's speculation, and a caller outside the domain gets its reply after commit.
 */
import type { StateObjectFailed } from "@dse/core"
import type { Rpc } from "@effect/rpc"
import type { Layer } from "effect"
import { Effect } from "effect"
import type { DseWorkflowEngineService } from "./DseWorkflowEngine"
import { DseWorkflowEngine } from "./DseWorkflowEngine"
import { HostUnavailable } from "./WorkflowErrors"
import type { WorkflowRpc } from "./WorkflowRpcs"
import { WorkflowRpcs } from "./WorkflowRpcs"

/** A host whose StateObject failed is unavailable (its process should be restarted). */
const available = (host: string) => <A, E, R>(effect: Effect.Effect<A, E | StateObjectFailed, R>) =>
  Effect.catchIf(
    effect,
    (e): e is StateObjectFailed => (e as { _tag?: string })._tag === "StateObjectFailed",
    (e) => Effect.fail(new HostUnavailable({ host, reason: e.message }))
  ) as Effect.Effect<A, Exclude<E, StateObjectFailed> | HostUnavailable, R>

/** The handlers over one engine, as a plain object (what `WorkflowRpcs.toLayer` takes). */
export const make = (engine: DseWorkflowEngineService) => {
  const guard = available(engine.host)
  return WorkflowRpcs.of({
    WorkflowExecute: ({ discard, payload, workflow }) => guard(engine.execute(workflow, payload, { discard: discard ?? false })),
    WorkflowStatus: ({ executionId }) => guard(engine.status(executionId)),
    WorkflowList: (request) => guard(engine.list(request)),
    WorkflowSignal: ({ deferred, exit }) => guard(engine.signal(deferred, exit)),
    WorkflowInterrupt: ({ executionId }) => guard(engine.interrupt(executionId)),
    WorkflowResume: ({ executionId }) => guard(engine.resume(executionId)),
    WorkflowDescribe: () => Effect.sync(() => ({ host: engine.host, workflows: engine.workflows(), stats: engine.stats() }))
  })
}

/** The handlers of the engine in context, for `DseRpcServer.layer(WorkflowRpcs, ...)`. */
export const layer: Layer.Layer<Rpc.ToHandler<WorkflowRpc>, never, DseWorkflowEngine> = WorkflowRpcs.toLayer(
  Effect.map(DseWorkflowEngine, make)
)
