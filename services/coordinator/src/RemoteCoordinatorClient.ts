/**
 * core's `CoordinatorClient` over TCP: what a worker process uses to talk to the coordinator
 * process (services/coordinator's main).
 *
 * - `register` and `status` are calls with a timeout; transport failures become
 *   `CoordinatorUnavailable`, `FutureWorldLine` passes through typed.
 * - `report` and `requestSeal` are fire and forget: they go into a bounded queue that one fiber
 *   drains in order, sending without waiting for replies. They never block the caller, even on a
 *   dead connection: a full queue or a failed send drops the message. A lost report is recovered by
 *   re-registration, and the coordinator tells a gap from a version jump through `prev`.
 * - `events` is the streaming RPC. When the connection drops or the coordinator restarts, the stream
 *   fails or ends; the Dse runtime then subscribes again and re-registers its workers. The client
 *   reconnects on its own every 250 ms; meanwhile every call fails at once.
 * - Each client is one subscriber, with a random id that it adds to its `Events`, `RequestSeal` and
 *   `Register` calls: the coordinator then sends this process only the cuts its own commit waiters
 *   need at once and the seal requests for its own workers, instead of every one in the cluster.
 */
import type { CheckpointReport, DependencyList } from "@dse/core"
import { CoordinatorClient, CoordinatorUnavailable } from "@dse/core"
import type { RpcClientError } from "@effect/rpc"
import { Endpoint, RpcTransport } from "@dse/transport"
import type { Scope } from "effect"
import { Duration, Effect, Layer, Queue, Stream } from "effect"
import { CoordinatorRpcs } from "./CoordinatorRpcs"

export interface Options {
  /** Default 127.0.0.1. */
  readonly host?: string | undefined
  readonly port: number
  /** Timeout of `register` (it waits while a restarted coordinator rebuilds). Default 30 s. */
  readonly registerTimeout?: Duration.DurationInput | undefined
  /** Timeout of `status`. Default 5 s. */
  readonly timeout?: Duration.DurationInput | undefined
  /** Reports and seal requests waiting to be sent; more are dropped. Default 4096. */
  readonly queueCapacity?: number | undefined
}

const unavailable = (error: RpcClientError.RpcClientError) => new CoordinatorUnavailable({ reason: error.message })

type Outgoing =
  | { readonly _tag: "Report"; readonly report: CheckpointReport }
  | { readonly _tag: "RequestSeal"; readonly deps: DependencyList }

export const make = (options: Options): Effect.Effect<CoordinatorClient["Type"], never, Scope.Scope> =>
  Effect.gen(function* () {
    const client = yield* RpcTransport.makeClient(CoordinatorRpcs, {
      endpoint: Endpoint.tcp(options.port, options.host ?? Endpoint.LOOPBACK),
      timeout: options.timeout ?? Duration.seconds(5)
    })
    const registerTimeout = options.registerTimeout ?? Duration.seconds(30)
    const outgoing = yield* Queue.dropping<Outgoing>(options.queueCapacity ?? 4096)
    const subscriber = crypto.randomUUID()
    // One sender keeps a worker's reports in version order.
    yield* Queue.take(outgoing).pipe(
      Effect.flatMap((message) =>
        message._tag === "Report"
          ? client.Report(message.report, { discard: true })
          : client.RequestSeal({ deps: message.deps, subscriber }, { discard: true })
      ),
      Effect.ignore,
      Effect.forever,
      Effect.forkScoped
    )
    return CoordinatorClient.of({
      register: (request) =>
        client.Register({ ...request, subscriber }).pipe(
          RpcTransport.withTimeout(registerTimeout),
          Effect.catchTag("RpcClientError", (e) => Effect.fail(unavailable(e)))
        ),
      report: (report) =>
        Effect.sync(() => {
          outgoing.unsafeOffer({ _tag: "Report", report })
        }),
      requestSeal: (deps) =>
        Effect.sync(() => {
          outgoing.unsafeOffer({ _tag: "RequestSeal", deps })
        }),
      events: client.Events({ subscriber }).pipe(
        Stream.catchTag("RpcClientError", (e) => Stream.fail(unavailable(e)))
      ),
      status: client.Status().pipe(Effect.catchTag("RpcClientError", (e) => Effect.fail(unavailable(e))))
    })
  })

/** `CoordinatorClient` for the coordinator process at host:port. */
export const layer = (options: Options): Layer.Layer<CoordinatorClient> => Layer.scoped(CoordinatorClient, make(options))
