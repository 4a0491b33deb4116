/**
 * A broken promise the checker found: which rule, about what (a key, a producer, a trip, a file),
 * and the shortest excerpt of the history that shows it (the operations involved and the faults
 * injected while they were in flight).
 */
import { Schema } from "effect"
import { Fault, Operation } from "./History"

export const Rule = Schema.Literal(
  /** An acknowledged write is not in the final committed state. */
  "lost-write",
  /** A write was applied more than once (its idempotency key did not deduplicate). */
  "double-apply",
  /** An account's balance is not its opening balance plus the acknowledged transfers, each once. */
  "balance-mismatch",
  /** Money was created or destroyed across the accounts (all shards). */
  "conservation",
  /** An acknowledged WAL append is missing from the committed log. */
  "wal-lost",
  /** A WAL append is in the committed log more than once. */
  "wal-duplicate",
  /** A producer's WAL entries are out of order, or not at the LSN the client was told. */
  "wal-order",
  /** The committed log holds an entry no client appended. */
  "wal-phantom",
  /** An acknowledged broker input is not at the committed sink. */
  "broker-lost",
  /** A broker input is at the committed sink more than once. */
  "broker-duplicate",
  /** A producer's inputs reach the sink out of order. */
  "broker-order",
  /** The committed sink holds an event no client produced. */
  "broker-phantom",
  /** A saga holds some of its reservations but not all. */
  "saga-partial",
  /** A saga's reservations contradict what its client was told (reserved / compensated). */
  "saga-outcome",
  /** An offering's stock plus its held reservations is not its opening stock. */
  "saga-stock",
  /** A workflow execution is not complete once the cluster is quiet. */
  "workflow-stuck",
  /** A worker keeps more checkpoints than the bound: pruning does not keep up. */
  "storage-unpruned",
  /** A damaged data file was not reported clearly on start. */
  "corruption-unreported"
)
export type Rule = typeof Rule.Type

export const Excerpt = Schema.Struct({
  operations: Schema.Array(Operation),
  faults: Schema.Array(Fault),
  /** Related operations left out to keep the excerpt short. */
  omitted: Schema.Int
})
export type Excerpt = typeof Excerpt.Type

export const Violation = Schema.Struct({
  rule: Rule,
  /** What it is about: a key, `producer/seq`, a trip id, a worker. */
  subject: Schema.String,
  message: Schema.String,
  excerpt: Excerpt
})
export type Violation = typeof Violation.Type

/**
 * The operations of an excerpt, every fault injected while any of them was in flight, and the
 * first fault after the last of them ended (often the one that lost an acknowledged write).
 */
export const excerpt = (
  all: { readonly faults: ReadonlyArray<Fault> },
  operations: ReadonlyArray<Operation>,
  omitted = 0
): Excerpt => {
  const sorted = [...operations].sort((a, b) => a.invokedAt - b.invokedAt || a.id - b.id)
  if (sorted.length === 0) return { operations: [], faults: [], omitted }
  const from = sorted[0]!.invokedAt
  const to = Math.max(...sorted.map((o) => o.completedAt ?? Number.POSITIVE_INFINITY))
  const next = all.faults.find((f) => f.at > to)
  return { operations: sorted, faults: all.faults.filter((f) => (f.at >= from && f.at <= to) || f === next), omitted }
}

/** One line per operation and fault, in time order: what `dse chaos` prints for a violation. */
export const render = (violation: Violation): ReadonlyArray<string> => {
  const lines: Array<{ at: number; text: string }> = []
  for (const o of violation.excerpt.operations) {
    const spec = Object.entries(o.spec)
      .filter(([k]) => k !== "_tag")
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(" ")
    const outcome = `${o.outcome}${o.result !== undefined ? ` ${JSON.stringify(o.result)}` : ""}${o.error ? ` (${o.error})` : ""}`
    lines.push({
      at: o.invokedAt,
      text:
        `${fmt(o.invokedAt)} #${o.id} ${o.client} ${o.spec._tag} ${spec} via ${o.path}: ${outcome}` +
        ` at ${o.completedAt === undefined ? "-" : fmt(o.completedAt)}, ${o.attempts} attempt(s)`
    })
  }
  for (const f of violation.excerpt.faults) lines.push({ at: f.at, text: `${fmt(f.at)} FAULT ${f.kind} ${f.targets.join("+")}: ${f.note}` })
  lines.sort((a, b) => a.at - b.at)
  const out = lines.map((l) => l.text)
  if (violation.excerpt.omitted > 0) out.push(`(+${violation.excerpt.omitted} related operations omitted)`)
  return out
}

const fmt = (ms: number) => `${(ms / 1000).toFixed(3)}s`
