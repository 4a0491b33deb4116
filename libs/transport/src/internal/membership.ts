/**
 * Which worker ids the cluster knows, as seen from one process: the keys of the committed cut the
 * Dse runtime follows (the coordinator lists every member there, at 0 until something commits),
 * the process's own workers, and what the last refresh from the coordinator's status said.
 *
 * A header that names an id outside that set is checked once more against a fresh status before
 * it is refused: a member that registered after the last cut change is not in the cut yet. Ids are
 * never reused, so what was known stays known. (The status comes through the runtime's
 * coordinator client: core has no public membership query yet.)
 */
import type { Dse } from "@dse/core"
import { UnknownWorker } from "@dse/core"
import type { Header, WorkerId } from "@dse/core"
import { Deferred, Effect, FiberId } from "effect"

export class Membership {
  private readonly known = new Set<number>()
  /** One status call at a time; callers that arrive meanwhile share its answer. */
  private refreshing: Deferred.Deferred<void> | undefined = undefined

  constructor(private readonly dse: Dse.DseService) {}

  private isKnown(worker: number): boolean {
    return this.known.has(worker) || this.dse.cut().has(worker as WorkerId) || this.dse.workers().some((w) => w.id === worker)
  }

  private firstUnknown(header: Header.Header): number | undefined {
    for (const [worker] of header.deps) if (!this.isKnown(worker)) return worker
    if (header.source && !this.isKnown(header.source[0])) return header.source[0]
    return undefined
  }

  private readonly refresh: Effect.Effect<void> = Effect.suspend(() => {
    if (this.refreshing) return Deferred.await(this.refreshing)
    const done = Deferred.unsafeMake<void>(FiberId.none)
    this.refreshing = done
    return this.dse.runtime.coordinator.status.pipe(
      Effect.tap((status) =>
        Effect.sync(() => {
          for (const worker of status.workers) this.known.add(worker.id)
        })
      ),
      // The coordinator is unreachable: the id cannot be verified, and is refused below.
      Effect.ignore,
      Effect.ensuring(
        Effect.suspend(() => {
          this.refreshing = undefined
          return Deferred.succeed(done, undefined)
        })
      )
    )
  })

  /** Fails with UnknownWorker when the header names a worker the cluster does not know. */
  check(header: Header.Header): Effect.Effect<void, UnknownWorker> {
    // Checked right away (the common case costs no effect); refreshed only for an unknown id.
    if (this.firstUnknown(header) === undefined) return Effect.void
    return Effect.suspend(() => {
      return Effect.zipRight(
        this.refresh,
        Effect.suspend(() => {
          const unknown = this.firstUnknown(header)
          return unknown === undefined ? Effect.void : Effect.fail(new UnknownWorker({ worker: unknown }))
        })
      )
    })
  }
}
