/**
 * @dse/launcher: runs a local dse cluster as child processes, and finds and inspects a running one.
 * Shared by the `dse` command (tools/cli), the benchmarks (tools/bench) and the crash campaigns
 * (tools/chaos).
 */
export * as Cluster from "./Cluster"
export * as ClusterFile from "./ClusterFile"
export * as Connect from "./Connect"
export * as ControlApi from "./ControlApi"
export * as LaunchError from "./LaunchError"
export * as Paths from "./Paths"
export * as Supervisor from "./Supervisor"
