/**
 * The coordinator (SPEC 3.5, 3.7, 3.8): membership, the committed cut, world-lines and recovery
 * cuts, as a transport-free Effect service. The RPC face (services/coordinator) forwards to it.
 *
 * Durable state is only what ClusterStateStore holds: (world-line, recovery cut) per change and
 * the membership. Each is written BEFORE anyone hears of it. Everything else (the graph of
 * persisted versions) is rebuilt from the workers after a restart, and commits pause until every
 * known member has re-attached: a recovery cut taken earlier could be below what was committed.
 */
import {
  ClusterStateStore,
  CoordinatorClient,
  CoordinatorUnavailable,
  Cut,
  CutAdvanced,
  FutureWorldLine,
  SealRequested,
  WorkerName,
  WorldLineChanged
} from "@dse/core"
import type {
  CheckpointReport,
  CheckpointStoreError,
  ClusterStatus,
  CoordinatorEvent,
  CorruptCheckpoint,
  Dependency,
  DependencyList,
  RegisterRequest,
  Registration,
  WorkerId,
  WorldLine
} from "@dse/core"
import { Context, Deferred, Duration, Effect, Layer, Option, PubSub, Schema, Stream } from "effect"
import type { Scope } from "effect"
import { ANYONE, CoordinatorState } from "./internal/coordinatorState"
import type { Member } from "./internal/coordinatorState"

export type RegisterError = CoordinatorUnavailable | FutureWorldLine

export interface CoordinatorService {
  /**
   * Registers a worker process (fresh start, crash restart or live re-attach) and tells it the
   * world-line to adopt, the committed cut and, when it must take a recovery decision, the
   * recovery cut. A fresh restart during a rebuild waits until the rebuild completes.
   */
  readonly register: (request: RegisterRequest) => Effect.Effect<Registration, RegisterError>
  /**
   * Fire and forget: a persisted checkpoint. Ignored unless of the current world-line and a member;
   * held aside (not counted) while the checkpoint it names as `prev` is not in the graph.
   */
  readonly report: (report: CheckpointReport) => Effect.Effect<void>
  /**
   * Fire and forget: someone waits for these versions; their owners (transitively) should seal.
   * `subscriber` names the event subscription of the waiter's process: the cut that commits them
   * is pushed to it at once (to every subscriber when it is absent).
   */
  readonly requestSeal: (deps: DependencyList, subscriber?: string) => Effect.Effect<void>
  /**
   * Every event for everyone, starting with a CutAdvanced of the current state. Subscribes when
   * run; ends when the coordinator shuts down.
   */
  readonly events: Stream.Stream<CoordinatorEvent, CoordinatorUnavailable>
  /**
   * The events of the subscription `subscriber` (a process's own id, also given in its
   * registrations and seal requests): what goes to everyone, plus the cuts its commit waiters need
   * and the seal requests for its workers, which go to nobody else.
   */
  readonly eventsOf: (subscriber: string | undefined) => Stream.Stream<CoordinatorEvent, CoordinatorUnavailable>
  /**
   * Subscribes now (in the scope) and returns the stream of events from this point on, starting
   * with the baseline CutAdvanced: nothing published after this effect completes is missed.
   */
  readonly subscribe: Effect.Effect<Stream.Stream<CoordinatorEvent>, CoordinatorUnavailable, Scope.Scope>
  /** `subscribe` as the subscription `subscriber` (see `eventsOf`). */
  readonly subscribeAs: (subscriber: string | undefined) => Effect.Effect<Stream.Stream<CoordinatorEvent>, CoordinatorUnavailable, Scope.Scope>
  readonly status: Effect.Effect<ClusterStatus, CoordinatorUnavailable>
  /**
   * Stops this coordinator as a crash would: event streams end, waiting registrations and every
   * later call fail with CoordinatorUnavailable. Durable state stays in the ClusterStateStore.
   */
  readonly shutdown: Effect.Effect<void>
}

/** An event and who it is for (undefined: everyone). */
interface Addressed {
  readonly event: CoordinatorEvent
  readonly to: ReadonlySet<string> | undefined
}

const unavailable = (reason: string) => new CoordinatorUnavailable({ reason })

const storeFailure = (what: string) => (error: CheckpointStoreError) =>
  unavailable(`${what} could not be persisted: ${error.message}`)

const isWorkerName = Schema.is(WorkerName)

export interface CoordinatorOptions {
  /**
   * How long a cut change that nobody waits for may wait before it is pushed (default 0: every
   * change at once). A cut that commits a version some commit waiter asked for (through
   * `requestSeal`) is always pushed at once, to the waiter's subscription only when the request
   * named it. Over a network every push to everyone is a message to every process, while cuts
   * nobody waits for only serve pruning: the coordinator process batches them (CoordinatorServer,
   * 50 ms by default).
   */
  readonly cutPushInterval?: Duration.DurationInput | undefined
}

/** Builds a coordinator on the ClusterStateStore in context; it shuts down when the scope closes. */
const make = (
  options: CoordinatorOptions = {}
): Effect.Effect<CoordinatorService, CheckpointStoreError | CorruptCheckpoint, ClusterStateStore | Scope.Scope> =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    const pushInterval = Duration.decode(options.cutPushInterval ?? 0)
    const store = yield* ClusterStateStore
    const handle = yield* store.open
    const state = new CoordinatorState(yield* handle.load)
    // Unbounded: a dropped WorldLineChanged or SealRequested would stall a worker, and every event
    // is small. A network face that cannot keep up should drop the connection, not events.
    const pubsub = yield* PubSub.unbounded<Addressed>()
    const lock = yield* Effect.makeSemaphore(1)
    // Uninterruptible: a durable write and the state change that follows it must not be split, or
    // the store and the memory would disagree (an id handed out twice, a world-line recorded twice).
    const locked = <A, E, R>(effect: Effect.Effect<A, E, R>) => lock.withPermits(1)(Effect.uninterruptible(effect))

    const publish = (event: CoordinatorEvent, to?: ReadonlySet<string>) => PubSub.publish(pubsub, { event, to })

    /** The cut of the last push to anyone: what moved since is what a directed push must also tell the owners. */
    let lastPushed: Cut.Cut = state.published

    /** The live cut, to everyone. */
    const publishCut = Effect.suspend(() => {
      const cut = state.fullCut()
      state.published = cut
      lastPushed = cut
      state.forgetAwaitedBelow(cut)
      return publish(new CutAdvanced({ worldLine: state.worldLine, cut: Cut.toWire(cut) }))
    })

    /**
     * The live cut, to the subscribers whose waiters it serves, and to the processes of the workers
     * it commits more of: a process answers committed reads from its own workers' committed
     * versions, and a client told "committed" may read there next. To everyone when one of them is
     * unknown (ANYONE, or a worker whose process named no subscription).
     */
    const publishCutTo = (subscribers: ReadonlySet<string>) =>
      Effect.suspend(() => {
        if (subscribers.has(ANYONE)) return publishCut
        const cut = state.fullCut()
        const to = state.ownersOfMoved(lastPushed, cut, subscribers)
        if (to === undefined) return publishCut
        lastPushed = cut
        state.forgetAwaitedBelow(cut, to)
        return publish(new CutAdvanced({ worldLine: state.worldLine, cut: Cut.toWire(cut) }), to)
      })

    /** Seal requests go to the processes of the workers they name. */
    const publishSeals = (seals: ReadonlyArray<Dependency>) =>
      seals.length === 0 ? Effect.void : publish(new SealRequested({ deps: seals }), state.sealAudience(seals))

    /** A push of the live cut is due after the interval (one at a time); set while one is scheduled. */
    let pushScheduled = false
    const pushLater = locked(
      Effect.suspend(() => {
        pushScheduled = false
        return state.closed || state.rebuild !== undefined ? Effect.void : publishCut
      })
    ).pipe(Effect.delay(pushInterval))

    /**
     * The cut moved after a report: at once to the subscribers whose waiters need it, and to
     * everyone batched with later moves.
     */
    const cutMoved = Effect.suspend(() => {
      if (state.rebuild !== undefined) return Effect.void
      if (Duration.toMillis(pushInterval) === 0) return publishCut
      const due = state.awaitedNowCommitted()
      const now = due.size > 0 ? publishCutTo(due) : Effect.void
      if (pushScheduled || due.has(ANYONE)) return now
      pushScheduled = true
      // Interruptible: it is forked from inside the lock's uninterruptible region, and must not
      // hold up the scope's close while it sleeps.
      return Effect.zipRight(now, Effect.asVoid(Effect.forkIn(Effect.interruptible(pushLater), scope)))
    })

    const ensureOpen = Effect.suspend(() =>
      state.closed ? Effect.fail(unavailable("the coordinator has shut down")) : Effect.void
    )

    /** Durably records a new member, then hands its id out. */
    const join = Effect.fn("Coordinator.join")(function* (name: string) {
      const id = state.nextId()
      yield* handle.addMember(id, name).pipe(Effect.mapError(storeFailure(`member ${name}`)))
      return state.addMember(id, name)
    })

    /** w -> w+1 with recovery cut = the committed cut: persisted first, then published. */
    const changeWorldLine = Effect.fn("Coordinator.changeWorldLine")(function* () {
      const worldLine = (state.worldLine + 1) as WorldLine
      const recoveryCut = state.fullCut()
      yield* handle
        .recordWorldLine({ worldLine, recoveryCut })
        .pipe(Effect.mapError(storeFailure(`world-line ${worldLine}`)))
      state.enterWorldLine({ worldLine, recoveryCut })
      lastPushed = recoveryCut
      yield* publish(new WorldLineChanged({ worldLine, recoveryCut: Cut.toWire(recoveryCut) }))
      return recoveryCut
    })

    const noteRegistration = (member: Member, request: RegisterRequest) => {
      member.registered = true
      // A registration that omits them (an older process) keeps what the member told before.
      member.address = request.address ?? member.address
      member.pid = request.pid ?? member.pid
      member.kind = request.kind ?? member.kind
      // Not kept from before: a process that restarted subscribes anew (absent: seal requests to everyone).
      member.subscriber = request.subscriber
      state.rebuild?.missing.delete(member.id)
    }

    /** Ends the rebuild once every known member is back: one world-line change for all restarts. */
    const maybeFinishRebuild = Effect.fn("Coordinator.finishRebuild")(function* () {
      const rebuild = state.rebuild
      if (rebuild === undefined || rebuild.missing.size > 0) return
      state.rebuild = undefined
      if (rebuild.waiters.length === 0) {
        yield* publishCut
        return
      }
      const changed = yield* Effect.either(changeWorldLine())
      for (const waiter of rebuild.waiters) {
        if (changed._tag === "Left") {
          yield* Deferred.fail(waiter.reply, changed.left)
        } else {
          const cut = Cut.toWire(changed.right)
          yield* Deferred.succeed(waiter.reply, { id: waiter.id, worldLine: state.worldLine, cut, recoveryCut: cut })
        }
      }
      // The rebuilt cut stands even if the world-line could not be recorded; the restarts retry.
      if (changed._tag === "Left") yield* publishCut
    })

    type Outcome =
      | { readonly _tag: "Reply"; readonly registration: Registration }
      | { readonly _tag: "Wait"; readonly reply: Deferred.Deferred<Registration, RegisterError> }

    const registerLocked = Effect.fn("Coordinator.registerLocked")(function* (request: RegisterRequest) {
      yield* ensureOpen
      if (!isWorkerName(request.name)) {
        return yield* Effect.fail(unavailable(`refused: ${JSON.stringify(request.name)} is not a valid worker name`))
      }
      if (request.worldLine > state.worldLine) {
        return yield* Effect.fail(new FutureWorldLine({ received: request.worldLine, current: state.worldLine }))
      }
      const known = state.byName.get(request.name)
      const reply = (member: Member, extra: { readonly recoveryCut?: Cut.CutWire } = {}): Outcome => ({
        _tag: "Reply",
        registration: { id: member.id, worldLine: state.worldLine, cut: Cut.toWire(state.visibleCut()), ...extra }
      })

      if (request.worldLine >= 1) {
        // Live re-attach (after a coordinator restart, or a lost connection).
        const member = known ?? (yield* join(request.name))
        if (request.worldLine < state.worldLine) {
          // It missed world-line changes: it decides against the first one it missed, then re-reports.
          const recoveryCut = state.recoveryCutOf(request.worldLine + 1)
          if (recoveryCut === undefined) {
            return yield* Effect.fail(unavailable(`no record of world-line ${request.worldLine + 1}`))
          }
          noteRegistration(member, request)
          yield* maybeFinishRebuild()
          return reply(member, { recoveryCut: Cut.toWire(recoveryCut) })
        }
        // Its hint, then its checkpoints as a chain; held reports they connect follow.
        const changed = state.attach(member.id, request.committed, request.checkpoints)
        noteRegistration(member, request)
        if (state.rebuild !== undefined) yield* maybeFinishRebuild()
        else if (changed) yield* publishCut
        if (state.worldLine > request.worldLine) {
          // Its attach ended a rebuild that moved the world-line (a restart was waiting): it must
          // decide against that change like any survivor, or it would stay in the old world-line.
          const recoveryCut = state.recoveryCutOf(request.worldLine + 1)
          if (recoveryCut !== undefined) return reply(member, { recoveryCut: Cut.toWire(recoveryCut) })
        }
        return reply(member)
      }

      const hasPast = request.checkpoints.length > 0 || request.committed > 0
      if (known === undefined && !hasPast) {
        // A new member: no world-line change. Peers learn its id from the cut (every member is in it).
        const member = yield* join(request.name)
        noteRegistration(member, request)
        if (state.rebuild === undefined) yield* publishCut
        return reply(member)
      }

      // A crash restart: its memory is gone, so the cluster moves to a new world-line.
      const member = known ?? (yield* join(request.name))
      // Its hint, and its durable checkpoints of the current world-line whose reports may have been
      // lost (a chain: one of another world-line breaks it); they can only raise the committed cut.
      const moved = state.attach(member.id, request.committed, request.checkpoints, (cp) => cp.worldLine === state.worldLine)
      noteRegistration(member, request)
      if (state.rebuild !== undefined) {
        // The recovery cut must not be taken before the graph is rebuilt: wait with the others.
        const deferred = yield* Deferred.make<Registration, RegisterError>()
        state.rebuild.waiters.push({ id: member.id, reply: deferred })
        yield* maybeFinishRebuild()
        return { _tag: "Wait", reply: deferred } satisfies Outcome
      }
      const recoveryCut = Cut.toWire(
        yield* changeWorldLine().pipe(
          // Nobody hears of a world-line that was not recorded; the merged commits still stand.
          Effect.tapError(() => (moved ? publishCut : Effect.void))
        )
      )
      return {
        _tag: "Reply",
        registration: { id: member.id, worldLine: state.worldLine, cut: recoveryCut, recoveryCut }
      } satisfies Outcome
    })

    const register = Effect.fn("Coordinator.register")(function* (request: RegisterRequest) {
      const outcome: Outcome = yield* locked(registerLocked(request))
      if (outcome._tag === "Reply") return outcome.registration
      return yield* Deferred.await(outcome.reply)
    })

    const report = Effect.fn("Coordinator.report")(function* (r: CheckpointReport) {
      yield* locked(
        Effect.gen(function* () {
          if (state.closed || r.worldLine !== state.worldLine) return
          const id = r.worker as WorkerId
          if (!state.byId.has(id)) return
          // Accepted when it extends its worker's chain; held while a predecessor is missing.
          const { accepted, changed } = state.report(id, r.version, r.prev, r.deps)
          if (changed) yield* cutMoved
          yield* publishSeals(state.sealsAfterReport(id, accepted))
        })
      )
    })

    const requestSeal = Effect.fn("Coordinator.requestSeal")(function* (deps: DependencyList, subscriber?: string) {
      yield* locked(
        Effect.gen(function* () {
          if (state.closed) return
          const waiter = subscriber ?? ANYONE
          state.noteAwaited(deps, waiter)
          // Committed already, but not pushed yet (its push was batched): the waiter hears now.
          if (state.rebuild === undefined && state.awaitedNowCommitted().has(waiter)) yield* publishCutTo(new Set([waiter]))
          yield* publishSeals(state.sealsFor(deps))
        })
      )
    })

    const subscribeAs = (subscriber: string | undefined) =>
      locked(
        Effect.gen(function* () {
          yield* ensureOpen
          // Under the lock, so the baseline and the subscription see the same state.
          const dequeue = yield* PubSub.subscribe(pubsub)
          const baseline = new CutAdvanced({ worldLine: state.worldLine, cut: Cut.toWire(state.visibleCut()) })
          // Filtered here, before the network face encodes anything: the others never see it.
          const mine = Stream.filterMap(Stream.fromQueue(dequeue), ({ event, to }) =>
            to === undefined || (subscriber !== undefined && to.has(subscriber)) ? Option.some(event) : Option.none()
          )
          return Stream.concat(Stream.succeed<CoordinatorEvent>(baseline), mine)
        })
      )
    const subscribe = subscribeAs(undefined)

    const status = locked(Effect.zipRight(ensureOpen, Effect.sync(() => state.status())))

    const shutdown = locked(
      Effect.gen(function* () {
        if (state.closed) return
        state.closed = true
        const waiters = state.rebuild?.waiters ?? []
        for (const w of waiters) yield* Deferred.fail(w.reply, unavailable("the coordinator has shut down"))
        yield* PubSub.shutdown(pubsub)
      })
    )

    yield* Effect.addFinalizer(() => shutdown)

    return {
      register,
      report,
      requestSeal,
      events: Stream.unwrapScoped(subscribe),
      eventsOf: (subscriber) => Stream.unwrapScoped(subscribeAs(subscriber)),
      subscribe,
      subscribeAs,
      status,
      shutdown
    } satisfies CoordinatorService
  })

/** The in-process CoordinatorClient of the runtime (FutureWorldLine passes through, typed). */
const toClient = (coordinator: CoordinatorService): Context.Tag.Service<typeof CoordinatorClient> => ({
  register: coordinator.register,
  report: coordinator.report,
  requestSeal: coordinator.requestSeal,
  events: coordinator.events,
  status: coordinator.status
})

export class Coordinator extends Context.Tag("@dse/coordinator/Coordinator")<Coordinator, CoordinatorService>() {
  /** A coordinator on the ClusterStateStore in context; it shuts down when the scope closes. */
  static readonly make = make
  static readonly layer: Layer.Layer<Coordinator, CheckpointStoreError | CorruptCheckpoint, ClusterStateStore> =
    Layer.scoped(Coordinator, make())
  static readonly layerWith = (
    options: CoordinatorOptions
  ): Layer.Layer<Coordinator, CheckpointStoreError | CorruptCheckpoint, ClusterStateStore> =>
    Layer.scoped(Coordinator, make(options))
  static readonly toClient = toClient
  /** CoordinatorClient (what the runtime needs) from the Coordinator in context. */
  static readonly layerClient: Layer.Layer<CoordinatorClient, never, Coordinator> = Layer.effect(
    CoordinatorClient,
    Effect.map(Coordinator, toClient)
  )
}
