/**
 * Serves an RpcGroup that uses `DseMiddleware` (SPEC 3.2, 3.3, 3.6): every call runs through
 * `Dse.serve` semantics.
 *
 * - Admission, before the handler runs: an undecodable header fails with `MalformedHeader`; a
 *   dependency on a worker the cluster does not know with `UnknownWorker` (after one refresh from
 *   the coordinator); a header of an older world-line whose dependencies did not commit in it with
 *   `RolledBack` (the sender's sthread is lost); a header of a world-line this process has not
 *   reached waits for it (`futureWorldLineWait` of `Dse.layer`) and then fails with
 *   `FutureWorldLine`. Each is a typed error on the wire.
 * - The handler runs in an sthread made from the header; its Actions' dependencies become the
 *   reply header, attached to the Exit, whether the call succeeds or fails.
 * - Streaming calls: every Chunk carries the header so far.
 * - A request without a header is from outside the domain: its reply (success or failure) is
 *   released only after what it depends on has committed, and carries no header. A stream to an
 *   outside caller releases each chunk only after that chunk's dependencies have committed; if they
 *   are lost, the stream fails with `RolledBack` and nothing later is sent.
 *
 *   yield* DseRpcServer.make(KvRpcs, { endpoint: Endpoint.tcp(0) })   // needs the handlers and Dse
 */
import type { Rpc, RpcGroup } from "@effect/rpc"
import { RpcSchema, RpcServer } from "@effect/rpc"
import type { Sthread as SthreadType } from "@dse/core"
import { DependencySet, Dse, Header, MalformedHeader, RolledBack, StaleWorldLine, Sthread } from "@dse/core"
import type { SpeculationError } from "@dse/core"
import type { Scope } from "effect"
import { Context, Effect, Either, FiberRef, Layer, Option } from "effect"
import { DseMiddleware } from "./DseMiddleware"
import { Membership } from "./internal/membership"
import * as ServerHeaders from "./internal/serverHeaders"
import type { Exchange } from "./internal/serverHeaders"
import type { ListenError } from "./ListenError"
import type { BoundServer, ServerOptions } from "./RpcTransport"
import * as RpcTransport from "./RpcTransport"

export type { BoundServer, ServerOptions } from "./RpcTransport"

const readHeader = (exchange: Exchange | undefined): Either.Either<Header.Header | undefined, MalformedHeader> => {
  const field = exchange?.header
  if (field === undefined) return Either.right(undefined)
  if (!(field instanceof Uint8Array)) {
    return Either.left(new MalformedHeader({ reason: `expected header bytes, got ${field === null ? "null" : typeof field}` }))
  }
  return Header.decode(field)
}

/** What the handler's sthread added to the header it started from: the reply header. */
const replyOf = (thread: SthreadType.Sthread, start: DependencySet): Header.Header => {
  const deps = DependencySet.empty()
  for (const [w, v] of thread.deps) if (start.get(w) !== v) deps.add(w, v)
  return { worldLine: thread.worldLine as Header.Header["worldLine"], deps }
}

/** The gate of each chunk of a stream (see Exchange.beforeChunk). */
const chunkGate = (
  dse: Dse.DseService,
  speculative: boolean,
  thread: SthreadType.Sthread,
  start: DependencySet
): Effect.Effect<Uint8Array | undefined, SpeculationError> =>
  speculative
    ? Effect.sync(() => Header.encode(replyOf(thread, start)))
    : Effect.as(Effect.provideService(Dse.awaitCommitOf(thread), Dse.Dse, dse), undefined)

const staleToRolledBack = (error: unknown) =>
  error instanceof StaleWorldLine
    ? new RolledBack({ worldLine: error.current, reason: `a message of world-line ${error.received} depends on work lost in a failure` })
    : error

/** Runs one call (`next`) through `Dse.serve`; see the module comment. Written for the hot path. */
const serveCall = (
  dse: Dse.DseService,
  membership: Membership,
  rpc: Rpc.AnyWithProps,
  next: Effect.Effect<unknown, unknown>
): Effect.Effect<unknown, unknown> =>
  Effect.withFiberRuntime((fiber) => {
    const exchange = fiber.getFiberRef(ServerHeaders.currentExchange)
    const decoded = readHeader(exchange)
    if (Either.isLeft(decoded)) return Effect.fail(decoded.left)
    const header = decoded.right
    const streaming = exchange !== undefined && dse.mode === "speculative" && RpcSchema.isStreamSchema(rpc.successSchema)
    const handler = streaming
      ? Effect.flatMap(FiberRef.get(Sthread.currentSthread), (thread) => {
        if (thread) exchange.beforeChunk = chunkGate(dse, header !== undefined, thread, thread.deps.clone())
        return Effect.exit(next)
      })
      // Failures and defects are results too: they get a reply header, and wait for commit when
      // the caller is outside (a failure can reveal speculative state as well as a success).
      : Effect.exit(next)
    let served = Dse.serve(header, handler)
    // Outside speculation Dse.serve runs the handler as is: the caller's FiberRefs must not reach it.
    if (dse.mode !== "speculative") served = Effect.locally(served, Sthread.currentSthread, undefined)
    // The handler's context usually holds this Dse already; providing it again costs a context copy.
    const inContext = Option.getOrUndefined(Context.getOption(fiber.currentContext, Dse.Dse)) === dse
    const provided = (inContext ? served : Effect.provideService(served, Dse.Dse, dse)) as Effect.Effect<
      Effect.Effect.Success<typeof served>,
      Effect.Effect.Error<typeof served>
    >
    const call = Effect.flatMap(Effect.mapError(provided, staleToRolledBack), ([exit, reply]) => {
      // A reply header that adds nothing (no dependency, the caller's own world-line) is left out.
      if (exchange && reply && (reply.deps.size > 0 || reply.source || reply.worldLine !== header?.worldLine)) {
        exchange.reply = Header.encode(reply)
      }
      return exit
    })
    return header ? Effect.zipRight(membership.check(header), call) : call
  })

/**
 * The implementation of `DseMiddleware` for this process's Dse runtime. `make` and `layer` provide
 * it; use it directly only with a server Protocol wrapped the same way (without the wrapper every
 * call is treated as coming from outside the domain).
 */
export const middleware: Layer.Layer<DseMiddleware, never, Dse.Dse> = Layer.effect(
  DseMiddleware,
  Effect.map(Dse.Dse, (dse) => {
    const membership = new Membership(dse)
    return DseMiddleware.of(({ next, rpc }) => serveCall(dse, membership, rpc, next) as typeof next)
  })
)

const checkGroup = (group: RpcGroup.RpcGroup<any>): Effect.Effect<void> =>
  Effect.suspend(() => {
    for (const rpc of group.requests.values() as Iterable<Rpc.AnyWithProps>) {
      if (!rpc.middlewares.has(DseMiddleware as never)) {
        // Its replies would leave the domain without a commit wait.
        return Effect.dieMessage(`DseRpcServer: ${rpc._tag} does not use DseMiddleware; serve it with RpcTransport`)
      }
    }
    return Effect.void
  })

/** Serves `group` on `options.endpoint` until the scope closes; returns the bound endpoint. */
export const make = <Rpcs extends Rpc.Any>(
  group: RpcGroup.RpcGroup<Rpcs>,
  options: ServerOptions
): Effect.Effect<
  BoundServer,
  ListenError,
  Scope.Scope | Dse.Dse | Rpc.ToHandler<Rpcs> | Rpc.Context<Rpcs> | Exclude<Rpc.Middleware<Rpcs>, DseMiddleware>
> =>
  Effect.gen(function* () {
    yield* checkGroup(group)
    const implementation = yield* Layer.build(middleware)
    const { endpoint, protocol } = yield* RpcTransport.serverProtocol(options)
    yield* RpcServer.make(group, RpcTransport.serverSettings(options)).pipe(
      Effect.provideService(RpcServer.Protocol, ServerHeaders.wrap(protocol)),
      Effect.provide(implementation),
      Effect.interruptible,
      Effect.forkScoped
    )
    return { endpoint }
  })

/** `make` as a layer (use `make` to learn the bound port). */
export const layer = <Rpcs extends Rpc.Any>(
  group: RpcGroup.RpcGroup<Rpcs>,
  options: ServerOptions
): Layer.Layer<
  never,
  ListenError,
  Dse.Dse | Rpc.ToHandler<Rpcs> | Rpc.Context<Rpcs> | Exclude<Rpc.Middleware<Rpcs>, DseMiddleware>
> => Layer.scopedDiscard(make(group, options))
