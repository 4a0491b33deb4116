/**
 * The handlers of the WAL RPC group: each one calls the log's operation. The transport runs every
 * handler in an sthread made from the incoming DSE header (`Dse.serve`), so the log's Actions join
 * the caller's speculation, and a caller outside the domain gets its reply after commit.
 */
import type { Dse } from "@dse/core"
import type { ListenError } from "@dse/transport"
import { DseRpcServer } from "@dse/transport"
import type { Rpc } from "@effect/rpc"
import type { Scope } from "effect"
import { Effect, Layer } from "effect"
import type { WalLogService } from "./WalLog"
import { WalLog } from "./WalLog"
import type { WalRpc } from "./WalRpcs"
import { WalRpcs } from "./WalRpcs"

/** The handlers of one log, as a plain object (what `WalRpcs.toLayer` and the in-process adapter take). */
export const make = (log: WalLogService) =>
  WalRpcs.of({
    WalAppend: (payload) => log.append(payload),
    WalScan: (payload) => log.scan(payload),
    WalTail: (payload) => log.tail(payload),
    WalTruncate: (payload) => log.truncate(payload),
    WalInfo: () => log.info
  })

export type WalHandlers = ReturnType<typeof make>

/** The handlers of the log in context, for `DseRpcServer.layer(WalRpcs, ...)`. */
export const layer: Layer.Layer<Rpc.ToHandler<WalRpc>, never, WalLog> = WalRpcs.toLayer(Effect.map(WalLog, make))

/**
 * Serves `log` on `options.endpoint` (TCP or the in-process hub) until the scope closes; returns
 * the bound endpoint (the OS-chosen port for `Endpoint.tcp(0)`).
 */
export const serve = (
  log: WalLogService,
  options: DseRpcServer.ServerOptions
): Effect.Effect<DseRpcServer.BoundServer, ListenError, Dse.Dse | Scope.Scope> =>
  DseRpcServer.make(WalRpcs, options).pipe(Effect.provide(WalRpcs.toLayer(make(log))))

/** Serves the log in context on `options.endpoint`, as a layer. */
export const layerServer = (options: DseRpcServer.ServerOptions): Layer.Layer<never, ListenError, WalLog | Dse.Dse> =>
  Layer.scopedDiscard(Effect.flatMap(WalLog, (log) => serve(log, options)))
