/**
 * The campaign's clients. Each is a loop that runs one operation at a time and records it in the
 * history; an operation is driven until it is acknowledged, resent with the same idempotency key
 * (KV request id, WAL / broker producer sequence number, workflow idempotency key) after every
 * failure, for up to `opDeadline` (then it stays indeterminate: `info`).
 *
 * The clients are outside the DSE domain (no sthread): every reply they get came through the
 * commit-gated path. The one exception is the deliberately buggy client of `ackBeforeCommit`, which
 * runs inside the domain, takes the speculative reply, and claims it committed.
 */
import { Dse } from "@dse/core"
import type { BrokerClient } from "@dse/broker"
import type { KvClient } from "@dse/kv"
import type { WalClient } from "@dse/wal"
import type { WorkflowClient } from "@dse/workflow"
import { Examples } from "@dse/workflow"
import { Duration, Effect, Option } from "effect"
import type { OperationSpec, Recorder, ReplyPath } from "./History"
import type { Random } from "./Random"

export const INITIAL_BALANCE = 1000
/** Where the producers write; the relay process (a broker pipeline stage) copies it to BROKER_SINK. */
export const BROKER_TOPIC = "chaos"
export const BROKER_SINK = "chaos-sink"
export const BROKER_PARTITIONS = 2
export const BROKER_TOPICS = `${BROKER_TOPIC}:${BROKER_PARTITIONS},${BROKER_SINK}:${BROKER_PARTITIONS}`
/** Stock of the plentiful offerings, and of the scarce one (so that sagas also compensate). */
export const STOCK = 100_000
export const SCARCE_STOCK = 12

export interface Clients {
  readonly kv: KvClient.KvClientService
  readonly wal: WalClient.WalClientService | undefined
  readonly broker: BrokerClient.BrokerClientService | undefined
  readonly workflow: WorkflowClient.WorkflowClientService | undefined
}

export interface Context {
  readonly recorder: Recorder
  readonly runId: string
  /** True once the workload's duration is over: clients finish their operation and stop. */
  readonly stopped: () => boolean
  /** How long one operation is driven before it is left indeterminate (ms). */
  readonly opDeadline: number
  /** One attempt's timeout (ms). */
  readonly attemptTimeout: number
}

/** Errors that the server decided from the request alone (or a broken sequence): resending cannot help. */
const DEFINITIVE = new Set([
  "KeyTooLong",
  "InvalidKey",
  "ValueTooLarge",
  "NotJsonValue",
  "InvalidRequest",
  "CrossShardOperation",
  "SchemaMismatch",
  "WrongType",
  "IdempotencyKeyConflict",
  "SequenceGap",
  "UnknownTopic",
  "EventTooLarge"
])

const tagOf = (e: unknown): string => (typeof e === "object" && e !== null && "_tag" in e ? String((e as { _tag: unknown })._tag) : "Error")

class AttemptTimeout {
  readonly _tag = "AttemptTimeout"
}

/**
 * Drives one recorded operation: `ok` with `result(a)` once acknowledged, `fail` on a definitive
 * error, `info` after the deadline. Returns the acknowledged value.
 */
export const drive = <A, E, R>(
  ctx: Context,
  client: string,
  spec: OperationSpec,
  attempt: Effect.Effect<A, E, R>,
  options: { readonly result?: (a: A) => unknown; readonly definitive?: (e: E) => boolean; readonly path?: ReplyPath } = {}
): Effect.Effect<Option.Option<A>, never, R> =>
  Effect.gen(function* () {
    const id = ctx.recorder.invoke(client, spec, options.path ?? "outside")
    const deadline = Date.now() + ctx.opDeadline
    for (let n = 0; ; n++) {
      ctx.recorder.attempt(id)
      const r = yield* Effect.either(
        attempt.pipe(Effect.timeoutFail({ duration: Duration.millis(ctx.attemptTimeout), onTimeout: () => new AttemptTimeout() }))
      )
      if (r._tag === "Right") {
        ctx.recorder.complete(id, "ok", options.result ? { result: options.result(r.right) } : {})
        return Option.some(r.right)
      }
      const tag = tagOf(r.left)
      if (r.left instanceof AttemptTimeout ? false : DEFINITIVE.has(tag) || options.definitive?.(r.left as E) === true) {
        ctx.recorder.complete(id, "fail", { error: describe(r.left) })
        return Option.none()
      }
      if (Date.now() > deadline) {
        ctx.recorder.complete(id, "info", { error: `gave up after ${n + 1} attempts: ${tag}` })
        return Option.none()
      }
      ctx.recorder.note(id, tag)
      yield* Effect.sleep(Duration.millis(Math.min(1000, 50 * 2 ** Math.min(n, 4))))
    }
  })

export const describe = (e: unknown): string => {
  const tagged = e as { _tag?: string; message?: string }
  return `${tagged._tag ?? "Error"}${tagged.message ? `: ${tagged.message}` : ""}`.slice(0, 300)
}

// -------------------------------------------------------------------------------------------------
// Setup

/** Two accounts on every shard (so that transfers cross shards). */
export const accounts = (kv: KvClient.KvClientService, runId: string): Array<string> => {
  const perShard = new Map<number, number>()
  const out: Array<string> = []
  for (let i = 0; out.length < kv.shards * 2; i++) {
    const key = `${runId}/acct/${i}`
    const shard = kv.shardOf(key)
    if ((perShard.get(shard) ?? 0) >= 2) continue
    perShard.set(shard, (perShard.get(shard) ?? 0) + 1)
    out.push(key)
  }
  return out
}

/** The saga offerings: one plentiful per shard, and a scarce one. */
export const offerings = (shards: number, runId: string) => ({
  plentiful: Examples.TravelSaga.offerings(shards, `${runId}-offer`),
  scarce: Examples.TravelSaga.offeringKey(shards - 1, shards, `${runId}-scarce`)
})

// -------------------------------------------------------------------------------------------------
// Clients

const loop = <R>(ctx: Context, body: (n: number) => Effect.Effect<boolean, never, R>) =>
  Effect.gen(function* () {
    for (let n = 0; !ctx.stopped(); n++) {
      const go = yield* body(n)
      if (!go) return
    }
  })

/** Puts of fresh keys and increments of its own counter, alternately. */
export const kvWriter = (ctx: Context, kv: KvClient.KvClientService, name: string) =>
  loop(ctx, (n) =>
    n % 2 === 0
      ? Effect.as(
          drive(ctx, name, { _tag: "Put", key: `${ctx.runId}/w/${name}/${n}`, value: n, idempotencyKey: `${name}/put/${n}` }, kv.put(`${ctx.runId}/w/${name}/${n}`, n, { idempotencyKey: `${name}/put/${n}` }), {
            result: (r) => r.revision
          }),
          true
        )
      : Effect.as(
          drive(
            ctx,
            name,
            { _tag: "Increment", key: `${ctx.runId}/ctr/${name}`, delta: 1, idempotencyKey: `${name}/inc/${n}` },
            kv.increment(`${ctx.runId}/ctr/${name}`, undefined, 1, { idempotencyKey: `${name}/inc/${n}` }),
            { result: (r) => r.revision }
          ),
          true
        )
  )

/** Transfers between accounts on different shards: the debit, then the credit. */
export const bank = (ctx: Context, kv: KvClient.KvClientService, names: ReadonlyArray<string>, name: string, rnd: Random, base: number) =>
  loop(ctx, (n) =>
    Effect.gen(function* () {
      const transfer = base + n
      const from = rnd.pick(names)
      const to = rnd.pick(names.filter((a) => kv.shardOf(a) !== kv.shardOf(from)))
      const amount = 1 + rnd.int(50)
      const half = (key: string, delta: number, which: string) => {
        const idem = `t${transfer}/${which}`
        return drive(ctx, name, { _tag: "Increment", key, delta, idempotencyKey: idem, transfer }, kv.increment(key, undefined, delta, { idempotencyKey: idem }), {
          result: (r) => r.revision
        })
      }
      const debit = yield* half(from, -amount, "debit")
      // A debit we do not know about (indeterminate) ends the transfer: the checker allows for it.
      if (Option.isSome(debit)) yield* half(to, amount, "credit")
      return true
    })
  )

/** Appends as an idempotent producer, one seq at a time; stops at the first it could not finish. */
export const walAppender = (ctx: Context, wal: WalClient.WalClientService, name: string) => {
  const producer = `${ctx.runId}-${name}`
  return loop(ctx, (seq) =>
    Effect.map(
      drive(ctx, name, { _tag: "WalAppend", producer, seq }, wal.append({ _tag: "Json", value: { producer, seq } }, { producer: { id: producer, seq } }), {
        result: (r) => r.lsn
      }),
      Option.isSome
    )
  )
}

/** Produces one event per batch to its partition, as an idempotent producer (batches 1, 2, 3, ...). */
export const brokerProducer = (ctx: Context, broker: BrokerClient.BrokerClientService, name: string, partition: number) => {
  const producer = `${ctx.runId}-${name}`
  return loop(ctx, (n) => {
    const seq = n + 1
    const value = `${producer}-${seq}`
    return Effect.map(
      drive(
        ctx,
        name,
        { _tag: "Produce", producer, partition, seq, value },
        broker.produce(BROKER_TOPIC, { key: value, value }, { partition, producerId: producer, seq }),
        { result: (r) => r.offsets[0] }
      ),
      Option.isSome
    )
  })
}

/** Travel sagas over one offering per shard (sometimes the scarce one, so that some compensate). */
export const sagas = (
  ctx: Context,
  workflow: WorkflowClient.WorkflowClientService,
  stock: ReturnType<typeof offerings>,
  name: string,
  rnd: Random
) =>
  loop(ctx, (n) => {
    const tripId = `${ctx.runId}-${name}-${n}`
    const chosen = rnd.next() < 0.7 ? stock.plentiful : [...stock.plentiful.slice(0, -1), stock.scarce]
    const run = workflow.execute(Examples.TravelSaga.TravelSaga, { tripId, offerings: chosen }).pipe(
      Effect.as("reserved"),
      // Which offering ran out: the checker knows which ones cannot have.
      Effect.catchTag("SoldOut", (e) => Effect.succeed(`compensated:${e.offering}`))
    )
    return Effect.as(drive(ctx, name, { _tag: "Saga", tripId, offerings: chosen }, run, { result: (r) => r }), true)
  })

/**
 * THE DELIBERATE BUG (for the checker's own test): a client inside the DSE domain that takes the
 * speculative reply of a put and records it as committed, without waiting for the commit.
 */
export const ackBeforeCommit = (ctx: Context, kv: KvClient.KvClientService, name: string) =>
  loop(ctx, (n) => {
    const key = `${ctx.runId}/fast/${name}/${n}`
    return Effect.zipRight(
      drive(ctx, name, { _tag: "Put", key, value: n, idempotencyKey: `${name}/fast/${n}` }, Dse.sthread(kv.put(key, n, { idempotencyKey: `${name}/fast/${n}` })), {
        path: "inside-committed"
      }),
      Effect.as(Effect.sleep("20 millis"), true)
    )
  })

/** The numeric field of an offering that reservations take from. */
export const FIELD = Examples.TravelSaga.FIELD
