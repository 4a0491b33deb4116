/**
 * @dse/testing: compose DSE parties in one process for tests, inject faults, check invariants.
 */
export * as BankWorkload from "./BankWorkload"
export * from "./InProcessCluster"
export * from "./InProcessNetwork"
export * from "./NetworkErrors"
export * as TestProcess from "./TestProcess"
