/**
 * @dse/coordinator: the cut finder and the coordinator's logic (SPEC 3.5, 3.7, 3.8), free of any
 * transport. services/coordinator puts an RPC face on it.
 */
export * from "./Coordinator"
export * from "./CutFinder"
