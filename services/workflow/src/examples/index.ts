/**
 * The example workflows: plain `@effect/workflow` code that runs on dse's engine and on Effect's.
 */
export * as ExternalEffect from "./ExternalEffect"
export * as OrderWorkflow from "./OrderWorkflow"
export * as TravelSaga from "./TravelSaga"
