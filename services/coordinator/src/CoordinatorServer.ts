/**
 * The coordinator as a network service: the `Coordinator` of @dse/coordinator, its durable state in
 * `<dataDir>/coordinator.db` (SqliteClusterStateStore), its RPCs served over TCP on loopback.
 *
 *   const { endpoint } = yield* CoordinatorServer.make({ dataDir: ".dse", port: 0 })
 */
import { Coordinator } from "@dse/coordinator"
import type { CheckpointStoreError, CoordinatorEvent, CorruptCheckpoint } from "@dse/core"
import { CoordinatorUnavailable } from "@dse/core"
import { SqliteClusterStateStore } from "@dse/storage"
import { Endpoint, RpcTransport } from "@dse/transport"
import type { ListenError } from "@dse/transport"
import type { Scope } from "effect"
import { Duration, Effect, Layer, Mailbox, Option, Stream } from "effect"
import { CoordinatorRpcs } from "./CoordinatorRpcs"

export interface Options {
  /** Directory of `coordinator.db`; created if missing. */
  readonly dataDir: string
  /** Default 127.0.0.1. */
  readonly host?: string | undefined
  /** Default 0: a free port (see the returned endpoint). */
  readonly port?: number | undefined
  /** Events a subscriber may fall behind by before its stream is ended. Default 10 000. */
  readonly maxEventBacklog?: number | undefined
  /**
   * Cut changes nobody waits for are pushed at most this often (a cut a commit waiter needs goes
   * out at once, to the waiter's process). Default 50 ms: every such push is a message to every
   * process (see CoordinatorOptions).
   */
  readonly cutPushInterval?: Duration.DurationInput | undefined
}

/** The default push interval of a networked coordinator. */
export const DEFAULT_CUT_PUSH_INTERVAL = Duration.millis(50)

export interface RunningCoordinator {
  readonly endpoint: Endpoint.Endpoint
  readonly coordinator: Coordinator["Type"]
}

/**
 * A subscriber that does not keep up (a stalled worker process) must not make the coordinator
 * buffer without bound: past `capacity` pending events its stream fails, and its process
 * re-subscribes and re-registers, which is how any lost event is recovered anyway.
 */
const bounded = (
  events: Stream.Stream<CoordinatorEvent, CoordinatorUnavailable>,
  capacity: number
): Stream.Stream<CoordinatorEvent, CoordinatorUnavailable> =>
  Stream.unwrapScoped(
    Effect.gen(function* () {
      const mailbox = yield* Mailbox.make<CoordinatorEvent, CoordinatorUnavailable>()
      yield* events.pipe(
        Stream.runForEach((event) =>
          Option.getOrElse(mailbox.unsafeSize(), () => 0) >= capacity
            ? Effect.fail(new CoordinatorUnavailable({ reason: `subscriber fell ${capacity} events behind` }))
            : Effect.sync(() => mailbox.unsafeOffer(event))
        ),
        Effect.onExit((exit) => mailbox.done(exit)),
        Effect.forkScoped
      )
      return Mailbox.toStream(mailbox)
    })
  )

/** The handlers of CoordinatorRpcs over the Coordinator in context. */
export const layerHandlers = (options: { readonly maxEventBacklog?: number | undefined } = {}) =>
  CoordinatorRpcs.toLayer(
    Effect.map(Coordinator, (coordinator) =>
      CoordinatorRpcs.of({
        Register: (request) =>
          coordinator.register(request).pipe(
            Effect.tap((registration) =>
              Effect.logInfo(
                `registered ${request.name} as worker ${registration.id} (world-line ${registration.worldLine}${
                  request.worldLine === 0 ? ", fresh start" : ", re-attach"
                })`
              )
            )
          ),
        Report: (report) => coordinator.report(report),
        RequestSeal: ({ deps, subscriber }) => coordinator.requestSeal(deps, subscriber),
        Events: ({ subscriber }) => bounded(coordinator.eventsOf(subscriber), options.maxEventBacklog ?? 10_000),
        Status: () => coordinator.status
      })
    )
  )

/** Serves the Coordinator in context on `endpoint` until the scope closes. */
export const serve = (
  endpoint: Endpoint.Endpoint,
  options: { readonly maxEventBacklog?: number | undefined } = {}
): Effect.Effect<RpcTransport.BoundServer, ListenError, Coordinator | Scope.Scope> =>
  RpcTransport.makeServer(CoordinatorRpcs, { endpoint }).pipe(Effect.provide(layerHandlers(options)))

/** Opens `<dataDir>/coordinator.db`, starts the coordinator on it and serves it over TCP. */
export const make = (
  options: Options
): Effect.Effect<RunningCoordinator, ListenError | CheckpointStoreError | CorruptCheckpoint, Scope.Scope> =>
  Effect.gen(function* () {
    const context = yield* Layer.build(
      Coordinator.layerWith({ cutPushInterval: options.cutPushInterval ?? DEFAULT_CUT_PUSH_INTERVAL }).pipe(
        Layer.provide(SqliteClusterStateStore.layer({ dataDir: options.dataDir }))
      )
    )
    const coordinator = yield* Effect.provide(Coordinator, context)
    const { endpoint } = yield* serve(Endpoint.tcp(options.port ?? 0, options.host ?? Endpoint.LOOPBACK), options).pipe(
      Effect.provide(context)
    )
    return { endpoint, coordinator }
  })
