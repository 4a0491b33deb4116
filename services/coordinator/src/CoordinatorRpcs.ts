/**
 * The coordinator's RPC face: what a worker process and the coordinator say to each other over the
 * network, with exactly core's CoordinatorProtocol Schemas. It is a plain group (no DSE middleware):
 * these messages drive speculation, they are not part of it.
 */
import {
  CheckpointReport,
  ClusterStatus,
  CoordinatorEvent,
  CoordinatorUnavailable,
  DependencyList,
  FutureWorldLine,
  Registration,
  RegisterRequest
} from "@dse/core"
import { Rpc, RpcGroup } from "@effect/rpc"
import { Schema } from "effect"

export class CoordinatorRpcs extends RpcGroup.make(
  /** A worker starts, restarts or re-attaches; may wait while the coordinator rebuilds. */
  Rpc.make("Register", {
    payload: RegisterRequest,
    success: Registration,
    error: Schema.Union(CoordinatorUnavailable, FutureWorldLine)
  }),
  /** A checkpoint is durable. Sent without waiting for the reply. */
  Rpc.make("Report", { payload: CheckpointReport }),
  /**
   * Someone waits for these versions: their owners should seal them. Sent without waiting.
   * `subscriber`: the waiter's process's subscription, which gets the cut that commits them at once.
   */
  Rpc.make("RequestSeal", { payload: { deps: DependencyList, subscriber: Schema.optional(Schema.String) } }),
  /**
   * Cut changes, world-line changes and seal requests, starting with the current cut. A process
   * names its subscription (the id it also gives in Register and RequestSeal) to get only the
   * cuts its waiters need at once and the seal requests for its own workers; every other process
   * hears the cut at most once per push interval.
   */
  Rpc.make("Events", {
    payload: { subscriber: Schema.optional(Schema.String) },
    success: CoordinatorEvent,
    error: CoordinatorUnavailable,
    stream: true
  }),
  Rpc.make("Status", { success: ClusterStatus, error: CoordinatorUnavailable })
) {}
