/**
 * A mutex that hands itself over strictly in arrival order. Effect's Semaphore lets a newcomer
 * take a permit released before the waiters are woken, which would reorder a worker's operations.
 */
import { Effect } from "effect"

interface Waiter {
  granted: boolean
  readonly wake: () => void
}

export class FifoLock {
  private busy = false
  private readonly waiters: Array<Waiter> = []

  private readonly acquire: Effect.Effect<void> = Effect.async<void>((resume) => {
    if (!this.busy) {
      this.busy = true
      resume(Effect.void)
      return
    }
    const waiter: Waiter = { granted: false, wake: () => resume(Effect.void) }
    this.waiters.push(waiter)
    return Effect.sync(() => {
      // Interrupted while waiting: leave the queue, or pass on a lock handed over meanwhile.
      if (waiter.granted) this.release()
      else this.waiters.splice(this.waiters.indexOf(waiter), 1)
    })
  })

  private release(): void {
    const next = this.waiters.shift()
    if (next === undefined) {
      this.busy = false
      return
    }
    next.granted = true
    next.wake()
  }

  /** Runs `effect` once every earlier caller is done; the wait is interruptible, the release is not skipped. */
  withLock<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    return Effect.uninterruptibleMask((restore) =>
      Effect.zipRight(
        restore(this.acquire),
        restore(effect).pipe(Effect.ensuring(Effect.sync(() => this.release())))
      )
    )
  }
}
