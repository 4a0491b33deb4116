/**
 * `run(options)`: what `dse chaos` calls. Runs one campaign and prints its summary (or, with
 * `json`, one JSON document `{ "seed", "kills", "operations", "violations" }`); on a violation, the
 * seed and the shortest history excerpt that shows it. Returns the report (`passed` false on a
 * violation: the command exits with code 1).
 */
import { NodeContext } from "@effect/platform-node"
import { Console, Effect } from "effect"
import type { CampaignReport } from "./Campaign"
import { campaign, CampaignError } from "./Campaign"
import * as Violation from "./Violation"

export interface RunOptions {
  /** Seconds of workload. */
  readonly duration: number
  /** Default: a random seed (printed, to replay the campaign). */
  readonly seed?: number | undefined
  readonly kills: number
  readonly json: boolean
  /** Keep the temporary data directory (logs, checkpoint files). */
  readonly keep?: boolean | undefined
}

export const run = (options: RunOptions): Effect.Effect<CampaignReport, CampaignError> =>
  Effect.gen(function* () {
    if (!Number.isInteger(options.duration) || options.duration < 1) return yield* new CampaignError({ message: "--duration must be a positive integer (seconds)" })
    if (!Number.isInteger(options.kills) || options.kills < 0) return yield* new CampaignError({ message: "--kills must be an integer >= 0" })
    const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31)
    const log = options.json ? undefined : (line: string) => console.log(line)
    if (!options.json) yield* Console.log(`dse chaos: seed ${seed}, ${options.duration} s, ${options.kills} SIGKILLs`)
    const report = yield* campaign({ duration: options.duration, seed, kills: options.kills, keep: options.keep === true, ...(log ? { log } : {}) })
    if (options.json) {
      yield* Console.log(JSON.stringify({ seed: report.seed, kills: report.kills, operations: report.operations, violations: report.violations }))
    } else {
      for (const line of summary(report)) yield* Console.log(line)
    }
    return report
  }).pipe(Effect.provide(NodeContext.layer))

/** The human summary of a report. */
export const summary = (report: CampaignReport): Array<string> => {
  const out: Array<string> = []
  const o = report.outcomes
  out.push(
    `seed ${report.seed}: ${report.kills} SIGKILLs survived (${report.events.length} fault events, world-line ${report.worldLine}), ` +
      `${report.operations} operations checked (${o.ok} ok, ${o.fail} failed, ${o.info} indeterminate) in ${report.seconds.toFixed(0)} s`
  )
  out.push(`restarts: ${Object.entries(report.restarts).map(([n, r]) => `${n} ${r}`).join(", ")}`)
  if (report.skipped.length > 0) out.push(`not part of this campaign: ${report.skipped.join(", ")}`)
  const storage = report.final.storage
  if (storage.length > 0) {
    out.push(`checkpoints kept at the end: ${storage.map((s) => `${s.worker} ${s.checkpoints}/${s.maxVersion}`).join(", ")} (kept/sealed)`)
  }
  const c = report.corruption
  if (c) {
    out.push(
      `damaged checkpoint file (${c.style}) of ${c.worker}: ${c.detected ? "detected on start" : "NOT detected"}` +
        ` (${c.report.slice(0, 200)}); ${c.recovered ? "restarted once the file was restored" : "did not come back"}`
    )
  }
  const kinds = new Map<string, number>()
  for (const op of report.history.operations) kinds.set(op.spec._tag, (kinds.get(op.spec._tag) ?? 0) + 1)
  out.push(`operations by kind: ${Array.from(kinds, ([k, n]) => `${k} ${n}`).join(", ")}`)
  if (report.dataDir) out.push(`data kept in ${report.dataDir}`)
  if (report.violations.length === 0) {
    out.push("PASS: no violations")
    return out
  }
  out.push(`FAIL: ${report.violations.length} violation(s) with seed ${report.seed}`)
  for (const v of report.violations.slice(0, 20)) {
    out.push(`- [${v.rule}] ${v.message}`)
    for (const line of Violation.render(v)) out.push(`    ${line}`)
  }
  if (report.violations.length > 20) out.push(`(+${report.violations.length - 20} more)`)
  return out
}
