/**
 * @dse/storage: the checkpoint stores of dse (SPEC 3.4, 3.8, 3.9).
 *
 * - `SqliteCheckpointStore.layer({ dataDir })`: durable `CheckpointStore`, one sqlite file per worker,
 *   sqlite work in a worker thread.
 * - `MemoryCheckpointStore.make()` / `.layer()`: in-memory double with crash injection.
 * - `SqliteClusterStateStore.layer({ dataDir })`, `MemoryClusterStateStore.layer`: the coordinator's state.
 */
export * as MemoryCheckpointStore from "./MemoryCheckpointStore"
export * as MemoryClusterStateStore from "./MemoryClusterStateStore"
export * as SqliteCheckpointStore from "./SqliteCheckpointStore"
export * as SqliteClusterStateStore from "./SqliteClusterStateStore"
