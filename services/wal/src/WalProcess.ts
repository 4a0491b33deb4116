/**
 * One log as a process (what `src/main.ts` runs): its sqlite checkpoint file under the data
 * directory, its Dse runtime connected to the coordinator process, its RPC group served on a
 * loopback port, its worker registered with that address.
 */
import { WorkerProcess } from "@dse/coordinator-service"
import type { Scope } from "effect"
import { Effect } from "effect"
import * as WalHandlers from "./WalHandlers"
import type { ProducerOptions, WalLimits, WalLogService } from "./WalLog"
import * as WalLog from "./WalLog"

/** The worker options (data directory `<dataDir>/<name>.db`, address, coordinator, mode) and the log's own. */
export interface WalProcessOptions extends WorkerProcess.WorkerProcessOptions {
  /** The worker name. Default "wal". */
  readonly name?: string
  readonly limits?: Partial<WalLimits>
  readonly producers?: Partial<ProducerOptions>
  /** The transport's frame limit (raise it with the entry and batch limits). Default 1 MiB. */
  readonly maxFrameBytes?: number
}

export type StartError = WorkerProcess.StartError

export interface RunningWal {
  readonly log: WalLogService
  /** Where it listens (host and the bound port). */
  readonly endpoint: { readonly host: string; readonly port: number }
}

/**
 * Starts the log: restores it from its checkpoints (after a crash: at the cluster's recovery cut),
 * serves it, and keeps it running until the scope closes.
 */
export const start = (options: WalProcessOptions): Effect.Effect<RunningWal, StartError, Scope.Scope> =>
  Effect.gen(function* () {
    const { context, endpoint, host, port } = yield* WorkerProcess.runtime(options)
    const log = yield* WalLog.make({
      ...(options.name !== undefined ? { name: options.name } : {}),
      ...(options.limits !== undefined ? { limits: options.limits } : {}),
      ...(options.producers !== undefined ? { producers: options.producers } : {})
    }).pipe(Effect.provide(context))
    yield* WalHandlers.serve(log, {
      endpoint,
      ...(options.maxFrameBytes !== undefined ? { maxFrameBytes: options.maxFrameBytes } : {})
    }).pipe(Effect.provide(context))
    return { log, endpoint: { host, port } }
  })
