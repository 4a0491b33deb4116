/**
 * @dse/chaos: crash campaigns with a checker. `run` is what `dse chaos` calls; `campaign` runs one
 * and returns its report; `Checker` judges a recorded history against the final state.
 */
export * as Campaign from "./Campaign"
export * as Checker from "./Checker"
export * as FaultSchedule from "./FaultSchedule"
export * as FinalState from "./FinalState"
export * as History from "./History"
export * as Random from "./Random"
export * as ReadFinal from "./ReadFinal"
export { run, summary } from "./Run"
export type { RunOptions } from "./Run"
export * as Violation from "./Violation"
export * as Workload from "./Workload"
