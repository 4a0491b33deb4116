/**
 * @dse/wal: a write-ahead log as a DSE StateObject, with a typed RPC group and client.
 */
export * as WalClient from "./WalClient"
export * from "./WalErrors"
export * as WalHandlers from "./WalHandlers"
export * as WalInProcess from "./WalInProcess"
export * as WalLog from "./WalLog"
export * as WalModel from "./WalModel"
export * from "./WalRpcs"
