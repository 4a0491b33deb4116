/**
 * One KV shard as a process (what `src/main.ts` runs): its sqlite checkpoint file under the data
 * directory, its Dse runtime connected to the coordinator process, its RPC group served on a
 * loopback port, its worker registered with that address.
 */
import { WorkerProcess } from "@dse/coordinator-service"
import type { Scope } from "effect"
import { Effect } from "effect"
import * as KvServer from "./KvServer"
import type { DedupOptions, KvLimits, KvShardService } from "./KvShard"
import * as KvShard from "./KvShard"

/** The worker options (data directory `<dataDir>/kv-<shard>.db`, address, coordinator, mode) and the shard's own. */
export interface KvProcessOptions extends WorkerProcess.WorkerProcessOptions {
  readonly shard: number
  readonly limits?: Partial<KvLimits>
  readonly dedup?: Partial<DedupOptions>
}

export type StartError = WorkerProcess.StartError

export interface RunningShard {
  readonly shard: KvShardService
  /** Where it listens (host and the bound port). */
  readonly endpoint: { readonly host: string; readonly port: number }
}

/**
 * Starts shard `options.shard`: restores it from its checkpoints (after a crash: at the cluster's
 * recovery cut), serves it, and keeps it running until the scope closes.
 */
export const start = (options: KvProcessOptions): Effect.Effect<RunningShard, StartError, Scope.Scope> =>
  Effect.gen(function* () {
    const { context, endpoint, host, port } = yield* WorkerProcess.runtime(options)
    const shard = yield* KvShard.make({
      index: options.shard,
      ...(options.limits !== undefined ? { limits: options.limits } : {}),
      ...(options.dedup !== undefined ? { dedup: options.dedup } : {})
    }).pipe(Effect.provide(context))
    yield* KvServer.serve(shard, { endpoint }).pipe(Effect.provide(context))
    return { shard, endpoint: { host, port } }
  })
