/**
 * A broadcast wake-up: waiters take a ticket (`next`) BEFORE they look at the state they wait on,
 * then await it; `notify` completes every ticket taken so far. Taking the ticket first means a
 * change that happens between the look and the wait is never missed.
 */
import { Deferred, Effect, Exit, FiberId } from "effect"

export class Signal {
  private current = Deferred.unsafeMake<void>(FiberId.none)

  /** A ticket: an effect that completes at the next `notify` after this call. */
  next(): Effect.Effect<void> {
    return Deferred.await(this.current)
  }

  notify(): void {
    const done = this.current
    this.current = Deferred.unsafeMake<void>(FiberId.none)
    Deferred.unsafeDone(done, Exit.void)
  }
}
