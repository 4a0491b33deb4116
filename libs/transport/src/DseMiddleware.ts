/**
 * The DSE middleware of an RpcGroup: every RPC of a DSE service carries the DSE header, runs in an
 * sthread made from it, and can fail with the typed errors of speculation. Apply it to a group
 * with `.middleware(DseMiddleware)`; the transport provides its implementation (`DseRpcServer`
 * serves such a group, `DseRpcClient` calls it; no client-side middleware is needed).
 */
import { SpeculationError } from "@dse/core"
import { RpcMiddleware } from "@effect/rpc"

export class DseMiddleware extends RpcMiddleware.Tag<DseMiddleware>()("@dse/transport/DseMiddleware", {
  wrap: true,
  failure: SpeculationError
}) {}
