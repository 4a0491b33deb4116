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

  /**
   * Runs `use` as an Action. Entering and arranging to leave are one uninterruptible step (only the
   * wait behind a pending exclusive section can be interrupted): an interruption landing between
   * them would leave an entry behind, and every later seal and restore would wait for it for ever.
   * `use` may call `leave` to leave early (it is idempotent); `afterLeave` runs once the Action has
   * left, however it ended.
   */
  action<A, E, R>(use: (leave: () => void) => Effect.Effect<A, E, R>, afterLeave?: () => void): Effect.Effect<A, E, R> {
    return Effect.uninterruptibleMask((restore) => {
      const enter: Effect.Effect<void> = Effect.suspend(() => {
        if (this.gate === undefined) {
          this.inflight++
          return Effect.void
        }
        return Effect.zipRight(restore(Deferred.await(this.gate)), enter)
      })
      return Effect.flatMap(enter, () => {
        let inside = true
        const leave = () => {
          if (!inside) return
          inside = false
          this.leave()
        }
        return Effect.ensuring(
          restore(Effect.suspend(() => use(leave))),
          Effect.sync(() => {
            leave()
            afterLeave?.()
          })
        )
      })
    })
  }

  private leave(): void {
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
