/**
 * The WAL client: typed calls to one log, over any transport.
 *
 * It is transport-agnostic: it is built from a `WalApi` (the raw calls of the log's RPC group, with
 * transport failures as WalUnavailable). `WalClient.layer({ endpoint })` connects over
 * @dse/transport (TCP, or the in-process hub), `WalInProcess.layerClient` to a log served on a
 * libs/testing InProcessNetwork (deterministic tests with TestClock), `WalClient.makeLocal` to a log
 * in the same process.
 *
 * Speculation is ambient: a call made inside an sthread (a workflow step, `Dse.sthread`) is tagged
 * with it and its reply's dependencies join it (fast, speculative); a call made outside any sthread
 * is from outside the DSE domain: an append is answered once it has committed, and reads default
 * to the committed view.
 *
 * Entries are bytes or JSON: `append(new Uint8Array(...))` appends bytes, anything else is a JSON
 * value.
 */
import type { RolledBack, SpeculationError } from "@dse/core"
import { Dse, Sthread } from "@dse/core"
import { DseRpcClient } from "@dse/transport"
import type { RpcClient, RpcClientError } from "@effect/rpc"
import type { Scope } from "effect"
import { Chunk, Context, Duration, Effect, FiberRef, Layer, Option, Stream } from "effect"
import type { AppendError, ScanError, TruncateError, WalFailure } from "./WalErrors"
import { WalUnavailable } from "./WalErrors"
import type { WalLogService } from "./WalLog"
import { DEFAULT_NAME, DEFAULT_SCAN_LIMIT } from "./WalLog"
import type { WalRpc } from "./WalRpcs"
import { WalRpcs } from "./WalRpcs"
import type {
  AppendRequest,
  AppendResult,
  EntryData,
  JsonValue,
  ReadMode,
  ScanRequest,
  ScanResult,
  TailRequest,
  TruncateRequest,
  TruncateResult,
  WalEntry,
  WalInfo
} from "./WalModel"

// -------------------------------------------------------------------------------------------------
// The raw calls

/** What every call can fail with besides its own errors. */
export type CallFailure = WalFailure | SpeculationError | WalUnavailable

export type AppendCallError = AppendError | CallFailure
export type ScanCallError = ScanError | CallFailure
export type TruncateCallError = TruncateError | CallFailure

/** The typed calls of one log (what an RPC client of `WalRpcs` offers, with transport failures as WalUnavailable). */
export interface WalApi {
  readonly WalAppend: (payload: AppendRequest) => Effect.Effect<AppendResult, AppendCallError>
  readonly WalScan: (payload: ScanRequest) => Effect.Effect<ScanResult, ScanCallError>
  /** The streaming tail; when a transport has no streams, the client follows with long-poll scans. */
  readonly WalTail?: (payload: TailRequest) => Stream.Stream<WalEntry, ScanCallError>
  readonly WalTruncate: (payload: TruncateRequest) => Effect.Effect<TruncateResult, TruncateCallError>
  readonly WalInfo: () => Effect.Effect<WalInfo, CallFailure>
}

// -------------------------------------------------------------------------------------------------
// The client

/** An entry as a caller gives it: bytes, or any JSON value. */
export type WalInput = Uint8Array | JsonValue

export interface AppendOptions {
  /**
   * Deduplicates the append: a retry with the same (id, seq) returns the original LSNs and appends
   * nothing. After seq n the log accepts n + 1 (SequenceGap otherwise). Retry a failed append with
   * the SAME seq and the SAME entries until it gets an answer: a new append under a seq that did
   * land would be taken for its retry.
   */
  readonly producer?: { readonly id: string; readonly seq: number }
}

export interface ScanOptions {
  /** Stop before this LSN. */
  readonly to?: number
  /** At most this many entries (default 100). */
  readonly limit?: number
  readonly maxBytes?: number
  /** Default: "speculative" inside an sthread, "committed" outside. */
  readonly mode?: ReadMode
  /** Long-poll: wait up to this long for an entry at `from` when there is none yet. */
  readonly wait?: Duration.DurationInput
}

export interface TailOptions {
  /** Default: "speculative" inside an sthread, "committed" outside. */
  readonly mode?: ReadMode
  /** Entries fetched per step. Default 100. */
  readonly batchSize?: number
  /** Long-poll tails only: how long one poll waits on the server. Default 10 s. */
  readonly pollWait?: Duration.DurationInput
  /**
   * How often a WalUnavailable (a lost message, the log's process restarting) is retried before
   * the stream fails with it. Default 50, spaced 20 ms. The position is kept, so nothing is
   * skipped or repeated; a tail whose sthread was lost meanwhile fails with RolledBack as soon as
   * this process hears of the loss, even while the log is still unreachable.
   */
  readonly retries?: number
}

export interface AppendOne {
  readonly lsn: number
  readonly duplicate: boolean
}

export interface WalClientService {
  /** The log's worker name. */
  readonly name: string
  readonly api: WalApi
  /** Appends one entry. */
  readonly append: (entry: WalInput, options?: AppendOptions) => Effect.Effect<AppendOne, AppendCallError>
  /** Appends entries atomically, at consecutive LSNs. */
  readonly appendBatch: (
    entries: ReadonlyArray<WalInput>,
    options?: AppendOptions
  ) => Effect.Effect<AppendResult, AppendCallError>
  /** A page of entries from `from`. */
  readonly scan: (from: number, options?: ScanOptions) => Effect.Effect<ScanResult, ScanCallError>
  /** New entries from `from` on, as they are appended (speculative) or as they commit (committed). */
  readonly tail: (from: number, options?: TailOptions) => Stream.Stream<WalEntry, ScanCallError>
  /** Deletes the entries below `upTo` (within the committed prefix). */
  readonly truncate: (upTo: number) => Effect.Effect<TruncateResult, TruncateCallError>
  readonly info: Effect.Effect<WalInfo, CallFailure>
}

export class WalClient extends Context.Tag("@dse/wal/WalClient")<WalClient, WalClientService>() {}

/** Entry data of an input: a Uint8Array is bytes, anything else JSON. */
export const toEntryData = (entry: WalInput): EntryData =>
  entry instanceof Uint8Array ? { _tag: "Bytes", bytes: entry } : { _tag: "Json", value: entry }

/** Decodes a JSON entry's value, or the bytes of a bytes entry. */
export const valueOf = (entry: WalEntry): WalInput => (entry.data._tag === "Bytes" ? entry.data.bytes : entry.data.value)

const defaultMode = (mode: ReadMode | undefined): Effect.Effect<ReadMode> =>
  mode !== undefined
    ? Effect.succeed(mode)
    : Effect.map(FiberRef.get(Sthread.currentSthread), (thread) => (thread ? "speculative" : "committed"))

const isUnavailable = (e: unknown): boolean => (e as { _tag?: unknown } | undefined)?._tag === "WalUnavailable"

/** The pause between two tries of a long-poll tail's step. */
const RETRY_SPACING = Duration.millis(20)

/**
 * The pause before a long-poll tail tries again after WalUnavailable. The log's process is down or
 * unreachable, so no restore there can wake the tail; but the world-line change that rolls the log
 * back reaches this process too. Inside an sthread (in a DSE process) the pause watches for it: a
 * tail whose sthread saw a lost entry fails with RolledBack then, not at its next try that gets
 * through (up to a spacing later, or never when the log stays down longer than the retries).
 */
const retryPause: Effect.Effect<void, RolledBack> = Effect.flatMap(
  Effect.zip(Effect.serviceOption(Dse.Dse), FiberRef.get(Sthread.currentSthread)),
  ([dse, thread]) =>
    Option.isSome(dse) && thread !== undefined
      ? Effect.raceFirst(Effect.sleep(RETRY_SPACING), Effect.provideService(Dse.awaitLoss(thread), Dse.Dse, dse.value))
      : Effect.sleep(RETRY_SPACING)
)

/** A client over the raw calls of one log. */
export const make = (name: string, api: WalApi): WalClientService => {
  const appendBatch: WalClientService["appendBatch"] = (entries, options = {}) =>
    api.WalAppend({ entries: entries.map(toEntryData), ...(options.producer ? { producer: options.producer } : {}) })

  const tail: WalClientService["tail"] = (from, options = {}) =>
    Stream.unwrap(
      Effect.map(defaultMode(options.mode), (mode) => {
        const batchSize = options.batchSize ?? DEFAULT_SCAN_LIMIT
        if (api.WalTail) return api.WalTail({ from, mode, batchSize })
        const waitMs = Math.max(1, Math.round(Duration.toMillis(Duration.decode(options.pollWait ?? Duration.seconds(10)))))
        const retries = options.retries ?? 50
        let pos = from
        const poll = Effect.suspend(() => api.WalScan({ from: pos, limit: batchSize, mode, waitMs }))
        const attempt = (left: number): Effect.Effect<ScanResult, ScanCallError> =>
          Effect.catchIf(poll, (e) => left > 0 && isUnavailable(e), () => Effect.zipRight(retryPause, attempt(left - 1)))
        const step = Effect.map(attempt(retries), (page) => {
          pos = page.next
          return Chunk.unsafeFromArray(page.entries as Array<WalEntry>)
        })
        return Stream.repeatEffectChunk(step)
      })
    )

  return {
    name,
    api,
    append: (entry, options) =>
      Effect.map(appendBatch([entry], options), (r) => ({ lsn: r.first, duplicate: r.duplicate })),
    appendBatch,
    scan: (from, options = {}) =>
      Effect.flatMap(defaultMode(options.mode), (mode) =>
        api.WalScan({
          from,
          mode,
          ...(options.to !== undefined ? { to: options.to } : {}),
          ...(options.limit !== undefined ? { limit: options.limit } : {}),
          ...(options.maxBytes !== undefined ? { maxBytes: options.maxBytes } : {}),
          ...(options.wait !== undefined ? { waitMs: Math.round(Duration.toMillis(Duration.decode(options.wait))) } : {})
        })
      ),
    tail,
    truncate: (upTo) => api.WalTruncate({ upTo }),
    info: Effect.suspend(() => api.WalInfo())
  }
}

/** A layer of the client over the given calls. */
export const layerFrom = <E, R>(
  name: string,
  api: Effect.Effect<WalApi, E, R>
): Layer.Layer<WalClient, E, Exclude<R, Scope.Scope>> =>
  Layer.scoped(WalClient, Effect.map(api, (a) => make(name, a))) as Layer.Layer<WalClient, E, Exclude<R, Scope.Scope>>

/**
 * The calls of a log in the same process: no network, the caller's sthread is the log's caller.
 * (An Action in another process's log is only reachable through a transport.)
 */
export const localApi = (log: WalLogService): WalApi => ({
  WalAppend: (payload) => log.append(payload),
  WalScan: (payload) => log.scan(payload),
  WalTail: (payload) => log.tail(payload),
  WalTruncate: (payload) => log.truncate(payload),
  WalInfo: () => log.info
})

/** A client of a log in the same process. */
export const makeLocal = (log: WalLogService): WalClientService => make(log.name, localApi(log))


// -------------------------------------------------------------------------------------------------
// Over @dse/transport

/** A transport failure (connection down, timeout, frame too large) as WalUnavailable. */
const unavailable = (wal: string) => (e: RpcClientError.RpcClientError) =>
  new WalUnavailable({ wal, reason: e.message })

/** The calls of an RPC client of `WalRpcs`, with transport failures as WalUnavailable. */
export const rpcApi = (name: string, client: RpcClient.RpcClient<WalRpc, RpcClientError.RpcClientError>): WalApi => {
  const toUnavailable = unavailable(name)
  const unary = <A, E>(effect: Effect.Effect<A, E | RpcClientError.RpcClientError>): Effect.Effect<A, Exclude<E, RpcClientError.RpcClientError> | WalUnavailable> =>
    Effect.catchIf(
      effect,
      (e): e is RpcClientError.RpcClientError => (e as { _tag?: unknown })._tag === "RpcClientError",
      (e) => Effect.fail(toUnavailable(e))
    ) as Effect.Effect<A, Exclude<E, RpcClientError.RpcClientError> | WalUnavailable>
  return {
    WalAppend: (payload) => unary(client.WalAppend(payload)),
    WalScan: (payload) => unary(client.WalScan(payload)),
    WalTail: (payload) =>
      Stream.catchAll(client.WalTail(payload), (e) =>
        Stream.fail((e as { _tag?: unknown })._tag === "RpcClientError" ? toUnavailable(e as RpcClientError.RpcClientError) : e)
      ) as Stream.Stream<WalEntry, ScanCallError>,
    WalTruncate: (payload) => unary(client.WalTruncate(payload)),
    WalInfo: () => unary(client.WalInfo())
  }
}

export interface LayerOptions extends DseRpcClient.ClientOptions {
  /** The log's worker name (for errors and `name`). Default "wal". */
  readonly name?: string
}

/** A client of the log at `options.endpoint` (TCP or the in-process hub), connected until the scope closes. */
export const makeRemote = (options: LayerOptions): Effect.Effect<WalClientService, never, Scope.Scope> => {
  const { name = DEFAULT_NAME, ...clientOptions } = options
  return Effect.map(DseRpcClient.make(WalRpcs, clientOptions), (client) => make(name, rpcApi(name, client)))
}

/** The WalClient of the log at `options.endpoint`. */
export const layer = (options: LayerOptions): Layer.Layer<WalClient> => Layer.scoped(WalClient, makeRemote(options))
