/**
 * A CoordinatorClient that talks to whichever coordinator instance is current, so a test can
 * crash the coordinator and start a new one on the same durable state while processes keep their
 * client. While no coordinator runs, calls fail with CoordinatorUnavailable and event streams end,
 * exactly what a process sees when the coordinator's process is gone.
 */
import type { Coordinator } from "@dse/coordinator"
import type { CoordinatorClient } from "@dse/core"
import { CoordinatorUnavailable } from "@dse/core"
import { Duration, Effect, Stream } from "effect"

type Service = Coordinator["Type"]

export class SwitchableCoordinator {
  current: Service | undefined
  /** One-way latency of every call to the coordinator and of every event it pushes. */
  latency = Duration.zero

  private readonly down = Effect.fail(new CoordinatorUnavailable({ reason: "the coordinator is down" }))

  private with<A, E>(f: (c: Service) => Effect.Effect<A, E>): Effect.Effect<A, E | CoordinatorUnavailable> {
    return Effect.suspend((): Effect.Effect<A, E | CoordinatorUnavailable> => {
      const c = this.current
      if (!c) return this.down
      const call = f(c)
      return Duration.greaterThan(this.latency, Duration.zero) ? Effect.zipRight(Effect.sleep(this.latency), call) : call
    })
  }

  readonly client: CoordinatorClient["Type"] = {
    register: (request) =>
      this.with((c) =>
        c.register(request).pipe(
          Effect.catchTag("FutureWorldLine", (e) =>
            Effect.fail(new CoordinatorUnavailable({ reason: `refused: ${e.message}` }))
          )
        )
      ),
    report: (report) => Effect.ignore(this.with((c) => c.report(report))),
    requestSeal: (deps) => Effect.ignore(this.with((c) => c.requestSeal(deps))),
    events: Stream.unwrap(
      Effect.sync(() => {
        const c = this.current
        if (!c) return Stream.fail(new CoordinatorUnavailable({ reason: "the coordinator is down" }))
        const events = c.events
        return Duration.greaterThan(this.latency, Duration.zero)
          ? Stream.tap(events, () => Effect.sleep(this.latency))
          : events
      })
    ),
    status: Effect.suspend(() => this.with((c) => c.status))
  }
}
