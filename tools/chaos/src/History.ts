/**
 * The history of a campaign, Jepsen-style: every client operation with its invocation, its outcome
 * as the client saw it, and the path its reply came through; plus every fault the campaign
 * injected. The checker (Checker.ts) judges a history against the final state read afterwards.
 *
 * Outcomes:
 * - `ok`: acknowledged. For an outside client (`path: "outside"`) the reply came through the
 *   commit-gated path, so the write is promised durable;
 * - `fail`: definitely not applied (an input error the server decided before any Action ran, or a
 *   saga that failed and compensated: its result is the promise);
 * - `info`: indeterminate (no answer before the campaign gave up): it may or may not have happened.
 *
 * Every type here is a Schema, so a history can be saved as JSON and checked again later.
 */
import { Schema } from "effect"

/** How the reply reached the client: the commit-gated outside path, or an inside sthread. */
export const ReplyPath = Schema.Literal("outside", "inside-committed", "inside-speculative")
export type ReplyPath = typeof ReplyPath.Type

export const Outcome = Schema.Literal("ok", "fail", "info")
export type Outcome = typeof Outcome.Type

/** A put of a fresh key (each key is written once): the value must be there at the end. */
export const Put = Schema.TaggedStruct("Put", { key: Schema.String, value: Schema.Number, idempotencyKey: Schema.String })
/** `key += delta` with an idempotency key (counters, and each half of a transfer). */
export const Increment = Schema.TaggedStruct("Increment", {
  key: Schema.String,
  delta: Schema.Number,
  idempotencyKey: Schema.String,
  /** The transfer this is the debit or credit of. */
  transfer: Schema.optional(Schema.Int)
})
/** An append to the WAL as `seq` of `producer` (a client appends its seqs in order, one at a time). */
export const WalAppend = Schema.TaggedStruct("WalAppend", { producer: Schema.String, seq: Schema.Int })
/** A broker input: batch `seq` of `producer` on `partition`, one event whose value is `value`. */
export const Produce = Schema.TaggedStruct("Produce", {
  producer: Schema.String,
  partition: Schema.Int,
  seq: Schema.Int,
  value: Schema.String
})
/** A travel saga: reserve one unit of each offering, or compensate them all. */
export const Saga = Schema.TaggedStruct("Saga", { tripId: Schema.String, offerings: Schema.Array(Schema.String) })

export const OperationSpec = Schema.Union(Put, Increment, WalAppend, Produce, Saga)
export type OperationSpec = typeof OperationSpec.Type

export const Operation = Schema.Struct({
  id: Schema.Int,
  /** The client (a logical process) that ran it: `kv-0`, `wal-1`, `saga-0`, ... */
  client: Schema.String,
  spec: OperationSpec,
  path: ReplyPath,
  /** Milliseconds since the campaign began. */
  invokedAt: Schema.Number,
  completedAt: Schema.optional(Schema.Number),
  outcome: Outcome,
  /** What the reply said: the WAL's LSN, a saga's `reserved`/`compensated`, ... */
  result: Schema.optional(Schema.Unknown),
  /** The last failure seen (for `fail` and `info`), or the failures that were retried. */
  error: Schema.optional(Schema.String),
  /** How many times it was sent (retries with the same idempotency key included). */
  attempts: Schema.Int
})
export type Operation = typeof Operation.Type

/** A fault the campaign injected: one or more processes SIGKILLed at once, or a damaged file. */
export const Fault = Schema.Struct({
  at: Schema.Number,
  kind: Schema.Literal("kill", "corrupt"),
  targets: Schema.Array(Schema.String),
  note: Schema.String
})
export type Fault = typeof Fault.Type

/** What the workload started from (opening balances, stock), to judge conservation. */
export const Setup = Schema.Struct({
  runId: Schema.String,
  balances: Schema.Record({ key: Schema.String, value: Schema.Number }),
  stock: Schema.Record({ key: Schema.String, value: Schema.Number })
})
export type Setup = typeof Setup.Type

export const History = Schema.Struct({
  seed: Schema.Int,
  setup: Setup,
  operations: Schema.Array(Operation),
  faults: Schema.Array(Fault)
})
export type History = typeof History.Type

/**
 * Records a history while clients run. Operations are appended at invocation and completed in
 * place, so a campaign that is cut short still has every invocation (as `info`).
 */
export class Recorder {
  private readonly started = performance.now()
  private readonly operations: Array<{ -readonly [K in keyof Operation]: Operation[K] }> = []
  private readonly faults: Array<Fault> = []
  private setup: Setup = { runId: "", balances: {}, stock: {} }

  constructor(readonly seed: number) {}

  now(): number {
    return Math.round((performance.now() - this.started) * 10) / 10
  }

  setSetup(setup: Setup): void {
    this.setup = setup
  }

  /** Records an invocation; returns its id (pass it to `complete`). */
  invoke(client: string, spec: OperationSpec, path: ReplyPath = "outside"): number {
    const id = this.operations.length
    this.operations.push({ id, client, spec, path, invokedAt: this.now(), outcome: "info", attempts: 0 })
    return id
  }

  /** One more send of the operation. */
  attempt(id: number): void {
    this.operations[id]!.attempts++
  }

  /** The failure of the last send (kept if the operation never succeeds). */
  note(id: number, error: string): void {
    this.operations[id]!.error = error
  }

  complete(id: number, outcome: Outcome, detail: { readonly result?: unknown; readonly error?: string } = {}): void {
    const op = this.operations[id]!
    op.outcome = outcome
    op.completedAt = this.now()
    if (detail.result !== undefined) op.result = detail.result
    if (detail.error !== undefined) op.error = detail.error
  }

  fault(kind: Fault["kind"], targets: ReadonlyArray<string>, note: string): void {
    this.faults.push({ at: this.now(), kind, targets: [...targets], note })
  }

  get size(): number {
    return this.operations.length
  }

  snapshot(): History {
    return {
      seed: this.seed,
      setup: this.setup,
      operations: this.operations.map((o) => ({ ...o })),
      faults: [...this.faults]
    }
  }
}
