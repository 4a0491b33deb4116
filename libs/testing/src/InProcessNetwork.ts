/**
 * An in-process network for composing DSE parties in one test process: named endpoints, calls
 * that carry DSE headers both ways (encoded to bytes and decoded again, as on a wire), and fault
 * injection: per-message delays (which reorder messages), loss of requests or replies.
 *
 * A handler runs in the context of the process that registered it (its own Dse runtime), through
 * `Dse.serve`; the caller goes through `Dse.call`, so sthreads are tagged and replies absorbed
 * exactly as with the TCP transport. Delays use the Effect clock: tests drive them with TestClock.
 */
import { Dse, Header, Sthread } from "@dse/core"
import type { FutureWorldLine, RolledBack } from "@dse/core"
import type { Scope } from "effect"
import { Context, Deferred, Duration, Effect, Either, FiberRef, Random } from "effect"
import { EndpointUnavailable, MessageLost } from "./NetworkErrors"

export interface Faults {
  /** Each message waits a uniformly random delay in [min, max] milliseconds. Default 0. */
  readonly delayMs?: readonly [min: number, max: number]
  /** Probability that a request is dropped before the handler runs. Default 0. */
  readonly requestLoss?: number
  /** Probability that a reply is dropped after the handler ran. Default 0. */
  readonly replyLoss?: number
}

export type Handler<I, O, E> = (input: I) => Effect.Effect<O, E, Dse.Dse>

interface Registered {
  readonly handler: Handler<any, any, any>
  readonly context: Context.Context<Dse.Dse>
  /** Completed when the serving process goes away: calls in progress there lose their reply. */
  readonly closed: Deferred.Deferred<void>
}

export type CallError<E> = E | MessageLost | EndpointUnavailable | RolledBack | FutureWorldLine

export class InProcessNetwork {
  private readonly endpoints = new Map<string, Registered>()
  faults: Faults = {}
  messages = 0

  static make(faults: Faults = {}): InProcessNetwork {
    const network = new InProcessNetwork()
    network.faults = faults
    return network
  }

  /** Serves `name` from the calling process until the scope closes (or the process crashes). */
  serve<I, O, E>(name: string, handler: Handler<I, O, E>): Effect.Effect<void, never, Dse.Dse | Scope.Scope> {
    return Effect.gen(this, function* () {
      const context = yield* Effect.context<Dse.Dse>()
      const entry: Registered = { handler, context, closed: yield* Deferred.make<void>() }
      this.endpoints.set(name, entry)
      yield* Effect.addFinalizer(() =>
        Effect.zipRight(
          Effect.sync(() => {
            if (this.endpoints.get(name) === entry) this.endpoints.delete(name)
          }),
          Deferred.succeed(entry.closed, undefined)
        )
      )
    })
  }

  has(name: string): boolean {
    return this.endpoints.has(name)
  }

  /** Calls `name` from the current fiber (tagged with its sthread, if any). */
  call<I, O, E>(name: string, input: I): Effect.Effect<O, CallError<E>> {
    return Dse.call((header) =>
      Effect.gen(this, function* () {
        const wire = header ? Header.encode(header) : undefined
        yield* this.delay
        if (yield* this.drop(this.faults.requestLoss)) return yield* new MessageLost({ endpoint: name, leg: "request" })
        const target = this.endpoints.get(name)
        if (!target) return yield* new EndpointUnavailable({ endpoint: name })
        this.messages++
        const incoming = wire ? Either.getOrThrow(Header.decode(wire)) : undefined
        // The handler (and an outside caller's commit wait) runs in the serving process: if that
        // process dies meanwhile, the reply is lost, as on a real connection.
        // Effect.exit: a failure is an output too, with a reply header and (outside) a commit wait.
        const [exit, reply] = yield* Effect.raceFirst(
          Effect.provide(Dse.serve(incoming, Effect.exit(target.handler(input) as Effect.Effect<O, E, Dse.Dse>)), target.context),
          Effect.zipRight(Deferred.await(target.closed), Effect.fail(new MessageLost({ endpoint: name, leg: "reply" })))
        )
        const replyWire = reply ? Header.encode(reply) : undefined
        yield* this.delay
        if (yield* this.drop(this.faults.replyLoss)) return yield* new MessageLost({ endpoint: name, leg: "reply" })
        const replyHeader = replyWire ? Either.getOrThrow(Header.decode(replyWire)) : undefined
        if (exit._tag === "Failure") {
          // The reply's header counts even for a failure: absorb it, then fail.
          const thread = yield* FiberRef.get(Sthread.currentSthread)
          if (thread && replyHeader) thread.absorb(replyHeader)
          return yield* Effect.failCause(exit.cause)
        }
        return [exit.value, replyHeader] as const
      })
    ) as Effect.Effect<O, CallError<E>>
  }

  private get delay(): Effect.Effect<void> {
    const range = this.faults.delayMs
    if (!range || range[1] <= 0) return Effect.void
    return Effect.flatMap(Random.nextRange(range[0], range[1]), (ms) => Effect.sleep(Duration.millis(ms)))
  }

  private drop(p: number | undefined): Effect.Effect<boolean> {
    if (!p) return Effect.succeed(false)
    return Effect.map(Random.next, (x) => x < p)
  }
}
