/**
 * @dse/workflow: durable workflows written with `@effect/workflow`, run speculatively on dse.
 */
export * as ClusterBaseline from "./ClusterBaseline"
export * as DseWorkflowEngine from "./DseWorkflowEngine"
export * as Examples from "./examples/index"
export * as External from "./External"
export * as WorkflowCli from "./WorkflowCli"
export * as WorkflowClient from "./WorkflowClient"
export * from "./WorkflowErrors"
export * as WorkflowHandlers from "./WorkflowHandlers"
export * as WorkflowHost from "./WorkflowHost"
export * as WorkflowModel from "./WorkflowModel"
export * as WorkflowProcess from "./WorkflowProcess"
export * from "./WorkflowRpcs"
