export * as Primitives from "./suites/primitives"
export * as Stats from "./Stats"
export * as Table from "./Table"
