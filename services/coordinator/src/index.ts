/**
 * @dse/coordinator-service: the coordinator as a process (SPEC 3.5, 3.7, 3.8), and the client
 * worker processes use to reach it.
 */
export * as CoordinatorFile from "./CoordinatorFile"
export * from "./CoordinatorRpcs"
export * as CoordinatorServer from "./CoordinatorServer"
export * as RemoteCoordinatorClient from "./RemoteCoordinatorClient"
export * as ServiceMain from "./ServiceMain"
export * as WorkerProcess from "./WorkerProcess"
