/**
 * @dse/cli: the `dse` command (src/main.ts). Starting and inspecting a local cluster lives in
 * @dse/launcher; this package is the command tree on top of it.
 */
export * as Cli from "./Cli"
export * as CliError from "./CliError"
