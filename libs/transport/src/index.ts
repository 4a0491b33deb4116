/**
 * @dse/transport: speculative message passing over @effect/rpc (SPEC 3.2, 3.3, 3.6).
 *
 * - `DseMiddleware`: the RpcMiddleware tag a DSE service group applies.
 * - `DseRpcServer` / `DseRpcClient`: serve and call such a group; the DSE header travels both ways.
 * - `RpcTransport`: the same transports for plain groups (the coordinator's own RPCs).
 * - `Endpoint`: where a service is served or reached (TCP, or the in-process hub).
 */
export * from "./DseMiddleware"
export * as DseRpcClient from "./DseRpcClient"
export * as DseRpcServer from "./DseRpcServer"
export * as Endpoint from "./Endpoint"
export * from "./InProcessHub"
export * from "./ListenError"
export * as RpcTransport from "./RpcTransport"
