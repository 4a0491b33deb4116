/**
 * The Action latch of a StateObject (SPEC 3.1): many Actions may run at once, and an exclusive
 * section (sealing, restoring) waits until they have drained and holds new ones back meanwhile,
 * so an Action never straddles a version boundary or a rollback.
 */
import { Deferred, Effect, Exit, FiberId } from "effect"

export class ActionLatch {
  private inflight = 0
  private gate: Deferred.Deferred<void> | undefined
  private drained: Deferred.Deferred<void> | undefined

  get running(): number {
    return this.inflight
  }

  get exclusivePending(): boolean {
    return this.gate !== undefined
  }

  /** Enters as an Action: waits while an exclusive section is pending. */
  readonly enter: Effect.Effect<void> = Effect.suspend(() => {
    if (this.gate === undefined) {
      this.inflight++
      return Effect.void
    }
    return Effect.zipRight(Deferred.await(this.gate), this.enter)
  })

  /** Leaves as an Action. */
  leave(): void {
    this.inflight--
    if (this.inflight === 0 && this.drained !== undefined) {
      const d = this.drained
      this.drained = undefined
      Deferred.unsafeDone(d, Exit.void)
    }
  }

  /** Runs `section` once no Action runs, holding new Actions back until it ends. */
  exclusive<A, E, R>(section: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    const acquire: Effect.Effect<Deferred.Deferred<void>> = Effect.suspend(() => {
      if (this.gate !== undefined) return Effect.zipRight(Deferred.await(this.gate), acquire)
      const gate = Deferred.unsafeMake<void>(FiberId.none)
      this.gate = gate
      if (this.inflight === 0) return Effect.succeed(gate)
      const drained = Deferred.unsafeMake<void>(FiberId.none)
      this.drained = drained
      return Effect.as(Deferred.await(drained), gate)
    })
    return Effect.acquireUseRelease(
      acquire,
      () => section,
      (gate) =>
        Effect.sync(() => {
          if (this.gate === gate) this.gate = undefined
          Deferred.unsafeDone(gate, Exit.void)
        })
    )
  }
}
