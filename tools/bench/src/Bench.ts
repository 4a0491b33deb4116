/** The engine's API as one namespace (`import { Bench } from "@dse/bench"`). */
export { main } from "./Cli"
export { run, selectSuites } from "./Engine"
export { InvalidOptions, parseArgs, USAGE } from "./Options"
export type { BenchOptions } from "./Options"
export { renderMarkdown, renderText, toJson } from "./Report"
export type { BenchReport } from "./Report"
export { SUITES } from "./suites"
