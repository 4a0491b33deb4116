/**
 * CPU time of processes, read from Linux's /proc: what a request costs in CPU, per process role,
 * next to what it costs in wall time. On a machine with few cores a cluster of a dozen processes
 * is CPU-bound long before the network or the disk is the limit, and this is how a report shows it.
 *
 * `/proc/<pid>/stat` gives utime and stime in clock ticks of USER_HZ, which the kernel fixes at 100
 * per second for user space on every architecture Node runs on, so one tick is 10 ms: measure over
 * enough requests that a tick is small against the total.
 */
import { Effect } from "effect"
import * as fs from "node:fs"

const MS_PER_TICK = 10

/** CPU time (user + system) the process has used so far, in ms; NaN when /proc cannot tell (not Linux, exited). */
export const cpuMsOf = (pid: number): number => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    // Fields after the command name, which is in parentheses and may itself hold spaces.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return (Number(fields[11]) + Number(fields[12])) * MS_PER_TICK
  } catch {
    return Number.NaN
  }
}

/** CPU time of this process so far, in ms (finer than /proc: microseconds). */
export const selfCpuMs = (): number => {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1000
}

export interface Probe {
  /** A name for the process group, e.g. "kv" for all KV shards. */
  readonly role: string
  /** CPU time so far, in ms, summed over the group. */
  readonly read: () => number
}

/** A probe of processes by pid, summed. */
export const pids = (role: string, ids: ReadonlyArray<number>): Probe => ({
  role,
  read: () => ids.reduce((sum, pid) => sum + cpuMsOf(pid), 0)
})

/** The probe of the bench process itself. */
export const self = (role: string): Probe => ({ role, read: selfCpuMs })

/**
 * Runs `effect` and returns, besides its result, the CPU each probe used meanwhile (ms). Whatever
 * else runs on the machine in that time is not counted, but the probed processes' own background
 * work (timers, persistence, pushes) is: that is part of what a request costs them.
 */
export const measure = <A, E, R>(
  probes: ReadonlyArray<Probe>,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<{ readonly result: A; readonly cpuMs: Record<string, number> }, E, R> =>
  Effect.gen(function* () {
    const before = probes.map((p) => p.read())
    const result = yield* effect
    const cpuMs: Record<string, number> = {}
    probes.forEach((p, i) => {
      cpuMs[p.role] = (cpuMs[p.role] ?? 0) + (p.read() - before[i]!)
    })
    return { result, cpuMs }
  })
