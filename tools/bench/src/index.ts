/**
 * @dse/bench: the benchmark engine behind `dse bench`.
 *
 *   import { Bench } from "@dse/bench"
 *   const report = yield* Bench.run({ suites: ["saga"], quick: true })     // writes results.json, report.md, charts
 *   process.stdout.write(Bench.renderText(report))
 *
 * or, for a CLI verb: `const code = yield* Bench.main(argv)` (parses the options, runs, prints).
 */
export { main } from "./Cli"
export { run, selectSuites } from "./Engine"
export type { Floor } from "./Floor"
export type { BenchOptions } from "./Options"
export { InvalidOptions, parseArgs, USAGE } from "./Options"
export type { BenchReport, Meta, SuiteReport } from "./Report"
export { renderMarkdown, renderText, toJson } from "./Report"
export type { Mode, Row, Suite, SuiteResult, Target } from "./Suite"
export { SUITES } from "./suites"
export * as Bench from "./Bench"
export * as Primitives from "./suites/primitives"
export * as Stats from "./Stats"
export * as Table from "./Table"
