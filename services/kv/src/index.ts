/**
 * @dse/kv: a sharded key-value store of JSON values on dse. Each shard is a StateObject; writes are
 * idempotent by key, reads are speculative or committed, multi-key writes are atomic per shard.
 */
export * as KvClient from "./KvClient"
export * from "./KvErrors"
export * as KvHandlers from "./KvHandlers"
export * as KvInProcess from "./KvInProcess"
export * as KvModel from "./KvModel"
export * as KvRouting from "./KvRouting"
export * from "./KvRpcs"
export * as KvServer from "./KvServer"
export * as KvShard from "./KvShard"
