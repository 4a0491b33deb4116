/**
 * What the bench uses of @dse/workflow, in one place: the client and host of the workflow service,
 * Effect's engine on sqlite (ClusterBaseline), and the travel-reservation saga of the examples.
 */
import { Examples } from "@dse/workflow"

export { ClusterBaseline, WorkflowClient, WorkflowHandlers, WorkflowProcess, WorkflowRpcs } from "@dse/workflow"
export const TravelSaga = Examples.TravelSaga
