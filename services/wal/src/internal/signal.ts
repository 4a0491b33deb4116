/**
 * A broadcast wake-up: every waiter at once; waiters then look at the state again.
 */
import { Deferred, Effect, Exit, FiberId } from "effect"

export class Signal {
  private deferred = Deferred.unsafeMake<void>(FiberId.none)

  /** Completes at the next `notify`. */
  readonly wait: Effect.Effect<void> = Effect.suspend(() => Deferred.await(this.deferred))

  /**
   * Completes at the first `notify` after this call (not after the effect starts): take it before
   * looking at the state, and a change that happens in between is not missed.
   */
  subscribe(): Effect.Effect<void> {
    return Deferred.await(this.deferred)
  }

  notify(): void {
    const d = this.deferred
    this.deferred = Deferred.unsafeMake<void>(FiberId.none)
    Deferred.unsafeDone(d, Exit.void)
  }
}

