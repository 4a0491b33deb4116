/**
 * The seeded fault schedule of a campaign: when to SIGKILL which processes.
 *
 * Four kinds of event:
 * - `single`: one process;
 * - `coordinator`: the coordinator (the cut finder rebuilds its graph from the workers);
 * - `pair`: two processes at the same instant;
 * - `recovery`: one process, then a second one while the cluster recovers from the first (as soon
 *   as the first is back up, plus a short random gap, while the world-line change is in progress);
 * - `restart`: one process, then the same one again while it is restarting (before it is ready).
 *
 * With 5 kills or more the schedule always starts with a coordinator kill, a pair and a recovery
 * kill (in a seeded order), so that even a short campaign has each.
 * `kills` counts SIGKILLs (a pair or a recovery event is two).
 */
import * as Random from "./Random"

export type EventKind = "single" | "coordinator" | "pair" | "recovery" | "restart"

export interface FaultEvent {
  /** Milliseconds after the workload starts. */
  readonly at: number
  readonly kind: EventKind
  /** The processes to kill, in order (two for pair, recovery and restart: the same name twice for restart). */
  readonly victims: ReadonlyArray<string>
  /** For recovery and restart: the pause before the second kill (ms). */
  readonly gap: number
}

const killsOf = (kind: EventKind) => (kind === "single" || kind === "coordinator" ? 1 : 2)

export const plan = (options: {
  readonly seed: number
  /** The workload's duration (ms): events fall between 5% and 85% of it. */
  readonly duration: number
  readonly kills: number
  /** The processes that may be killed (`coordinator` among them, if it may). */
  readonly processes: ReadonlyArray<string>
}): Array<FaultEvent> => {
  const rnd = Random.make(options.seed ^ 0x5eed)
  const workers = options.processes.filter((p) => p !== "coordinator")
  const hasCoordinator = options.processes.includes("coordinator")
  const forced: Array<EventKind> = []
  const kinds: Array<EventKind> = []
  let left = options.kills
  if (left >= 5) {
    for (const k of [hasCoordinator ? "coordinator" : "single", "pair", "recovery"] as const) {
      forced.push(k)
      left -= killsOf(k)
    }
  }
  while (left > 0) {
    const roll = rnd.next()
    const kind: EventKind =
      left === 1 ? (hasCoordinator && roll < 0.15 ? "coordinator" : "single") : roll < 0.4 ? "single" : roll < 0.55 ? (hasCoordinator ? "coordinator" : "single") : roll < 0.75 ? "pair" : roll < 0.9 ? "recovery" : "restart"
    kinds.push(kind)
    left -= killsOf(kind)
  }
  // The required kinds first (a short campaign still gets them), then the random rest.
  const order = [...rnd.shuffle(forced), ...kinds]
  const slot = (options.duration * 0.8) / Math.max(1, order.length)
  return order.map((kind, i) => {
    const at = Math.round(options.duration * 0.05 + i * slot + rnd.next() * slot * 0.5)
    const gap = Math.round(rnd.next() * 400)
    switch (kind) {
      case "coordinator":
        return { at, kind, victims: ["coordinator"], gap: 0 }
      case "single":
        return { at, kind, victims: [workers.length > 0 ? rnd.pick(workers) : "coordinator"], gap: 0 }
      case "restart": {
        const victim = workers.length > 0 ? rnd.pick(workers) : "coordinator"
        return { at, kind, victims: [victim, victim], gap }
      }
      case "pair":
      case "recovery": {
        const [a, b] = rnd.shuffle(options.processes)
        // With one process to choose from, the second kill hits it again.
        return { at, kind, victims: [a!, b ?? a!], gap }
      }
    }
  })
}

/** SIGKILLs in a schedule. */
export const kills = (events: ReadonlyArray<FaultEvent>): number => events.reduce((a, e) => a + e.victims.length, 0)
