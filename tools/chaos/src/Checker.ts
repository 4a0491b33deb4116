/**
 * The checker: pure functions from (history, final state) to the violations found. Each rule is
 * one function, so each can be tested with hand-made histories.
 *
 * The model is Jepsen's: an `ok` operation happened exactly once, a `fail` one did not happen, an
 * `info` one happened at most once (we cannot know). Only replies that came through the
 * commit-gated path (`outside`, `inside-committed`) are promises; a speculative reply
 * (`inside-speculative`) promises nothing and is judged as `info`.
 */
import type { FinalState } from "./FinalState"
import type { History, Operation, OperationSpec } from "./History"
import type { Rule, Violation } from "./Violation"
import { excerpt } from "./Violation"

export interface CheckOptions {
  /** Unpruned checkpoints a worker may keep at the end. Default 64. */
  readonly maxCheckpoints?: number
  /** Operations shown per violation at most. Default 12. */
  readonly excerptLimit?: number
}

type Of<T extends OperationSpec["_tag"]> = Operation & { readonly spec: Extract<OperationSpec, { readonly _tag: T }> }

/**
 * Items grouped by key, in order. Pushes instead of copying: a long campaign's history holds
 * 10^5-10^6 operations, and copy-on-append grouping made the checker quadratic (it did not finish
 * a 30-minute campaign in 22 minutes).
 */
const groupBy = <A, K>(items: Iterable<A>, keyOf: (a: A) => K): Map<K, Array<A>> => {
  const groups = new Map<K, Array<A>>()
  for (const item of items) {
    const key = keyOf(item)
    const group = groups.get(key)
    if (group === undefined) groups.set(key, [item])
    else group.push(item)
  }
  return groups
}

const ofTag = <T extends OperationSpec["_tag"]>(history: History, tag: T): Array<Of<T>> =>
  history.operations.filter((o): o is Of<T> => o.spec._tag === tag)

/** A saga reported failed and compensated (`compensated:<the offering that ran out>`). */
const compensated = (o: Operation) => typeof o.result === "string" && o.result.startsWith("compensated")

/** `ok` through a commit-gated path: a promise. */
export const promised = (o: Operation) => o.outcome === "ok" && o.path !== "inside-speculative"
/** Could have happened (once). */
const maybe = (o: Operation) => o.outcome === "info" || (o.outcome === "ok" && o.path === "inside-speculative")

/** The shortest excerpt: the suspicious operations first (retried, indeterminate), then the rest. */
const shortest = (history: History, ops: ReadonlyArray<Operation>, limit: number) => {
  if (ops.length <= limit) return excerpt(history, ops)
  const suspicious = ops.filter((o) => o.outcome !== "ok" || o.attempts > 1)
  const isSuspicious = new Set(suspicious)
  const rest = ops.filter((o) => !isSuspicious.has(o))
  const chosen = [...suspicious, ...rest].slice(0, limit)
  return excerpt(history, chosen, ops.length - chosen.length)
}

const violation = (
  history: History,
  rule: Rule,
  subject: string,
  message: string,
  ops: ReadonlyArray<Operation>,
  limit: number
): Violation => ({ rule, subject, message, excerpt: shortest(history, ops, limit) })

/** Sums reachable by adding any subset of `deltas` to `base` (exact for up to 16 deltas, else the range). */
const reachable = (base: number, deltas: ReadonlyArray<number>) => {
  const min = base + deltas.filter((d) => d < 0).reduce((a, b) => a + b, 0)
  const max = base + deltas.filter((d) => d > 0).reduce((a, b) => a + b, 0)
  if (deltas.length > 16) return { min, max, has: (v: number) => v >= min && v <= max }
  let sums = new Set([base])
  for (const d of deltas) sums = new Set([...sums, ...Array.from(sums, (s) => s + d)])
  return { min, max, has: (v: number) => sums.has(v) }
}

const numberOf = (value: unknown): number | undefined => (typeof value === "number" ? value : undefined)

/** Every acknowledged put of a fresh key is in the final state with its value. */
export const checkPuts = (history: History, final: FinalState, limit = 12): Array<Violation> =>
  ofTag(history, "Put")
    .filter(promised)
    .filter((o) => final.kv[o.spec.key] !== o.spec.value)
    .map((o) =>
      violation(
        history,
        "lost-write",
        o.spec.key,
        `put ${o.spec.key} = ${o.spec.value} was acknowledged (${o.path}) but the committed value is ${JSON.stringify(final.kv[o.spec.key]) ?? "absent"}`,
        [o],
        limit
      )
    )

/**
 * Every key written with increments (counters, accounts) holds its opening value plus each
 * acknowledged increment once, plus some of the indeterminate ones.
 */
export const checkIncrements = (history: History, final: FinalState, limit = 12): Array<Violation> => {
  const byKey = groupBy(ofTag(history, "Increment"), (o) => o.spec.key)
  const out: Array<Violation> = []
  for (const [key, ops] of byKey) {
    const opening = history.setup.balances[key]
    const base = (opening ?? 0) + ops.filter(promised).reduce((a, o) => a + o.spec.delta, 0)
    const range = reachable(base, ops.filter(maybe).map((o) => o.spec.delta))
    const raw = final.kv[key]
    const value = raw === undefined ? (opening === undefined ? 0 : undefined) : numberOf(raw)
    if (value !== undefined && range.has(value)) continue
    const isAccount = opening !== undefined
    const oneSign = ops.every((o) => o.spec.delta > 0)
    const rule: Rule = value === undefined ? "lost-write" : isAccount || !oneSign ? "balance-mismatch" : value < range.min ? "lost-write" : "double-apply"
    const expected = range.min === range.max ? `${range.min}` : `one of ${range.min}..${range.max} (some operations indeterminate)`
    out.push(
      violation(
        history,
        rule,
        key,
        `${key} is ${JSON.stringify(raw) ?? "absent"}, expected ${expected}: ` +
          `${opening ?? 0} opening + ${ops.filter(promised).length} acknowledged increments` +
          (rule === "double-apply" ? " (an increment was applied more than once)" : rule === "lost-write" ? " (an acknowledged increment is missing)" : ""),
        ops,
        limit
      )
    )
  }
  return out
}

/** Money is neither created nor destroyed: the accounts' total moves only by unfinished transfers. */
export const checkConservation = (history: History, final: FinalState, limit = 12): Array<Violation> => {
  const accounts = Object.keys(history.setup.balances)
  if (accounts.length === 0) return []
  const opening = accounts.reduce((a, k) => a + history.setup.balances[k]!, 0)
  const values = accounts.map((k) => numberOf(final.kv[k]))
  if (values.some((v) => v === undefined)) {
    const missing = accounts.filter((_, i) => values[i] === undefined)
    return [violation(history, "conservation", missing.join(","), `accounts without a numeric committed balance: ${missing.join(", ")}`, [], limit)]
  }
  const total = values.reduce((a: number, v) => a + v!, 0)
  const transfers = ofTag(history, "Increment").filter((o) => o.spec.transfer !== undefined && accounts.includes(o.spec.key))
  const base = opening + transfers.filter(promised).reduce((a, o) => a + o.spec.delta, 0)
  const range = reachable(base, transfers.filter(maybe).map((o) => o.spec.delta))
  if (range.has(total)) return []
  // The transfers whose two halves did not both succeed explain the difference, if anything does.
  const byTransfer = groupBy(transfers, (o) => o.spec.transfer!)
  const unfinished = Array.from(byTransfer.values()).filter((halves) => halves.length !== 2 || halves.some((h) => !promised(h)))
  return [
    violation(
      history,
      "conservation",
      `${accounts.length} accounts`,
      `the accounts hold ${total} in total; opening ${opening}, and the acknowledged transfer halves allow ` +
        (range.min === range.max ? `${range.min}` : `${range.min}..${range.max}`) +
        ` (${byTransfer.size} transfers, ${unfinished.length} unfinished)`,
      unfinished.length > 0 ? unfinished.flat() : transfers,
      limit
    )
  ]
}

/**
 * The WAL's committed log holds every acknowledged append exactly once, at the LSN the client was
 * told, and each producer's entries in the order it appended them.
 */
export const checkWal = (history: History, final: FinalState, limit = 12): Array<Violation> => {
  if (final.wal === undefined) return []
  const ops = ofTag(history, "WalAppend")
  if (ops.length === 0) return []
  const out: Array<Violation> = []
  const producers = new Set(ops.map((o) => o.spec.producer))
  const ours = final.wal.flatMap((e) =>
    e.producer !== undefined && producers.has(e.producer.id) ? [{ lsn: e.lsn, producer: e.producer.id, seq: e.producer.seq }] : []
  )
  const found = groupBy(ours, (e) => `${e.producer}/${e.seq}`)
  const byProducer = groupBy(ours, (e) => e.producer)
  const opsByKey = groupBy(ops, (o) => `${o.spec.producer}/${o.spec.seq}`)
  const opsOf = (key: string) => opsByKey.get(key) ?? []
  for (const o of ops) {
    const key = `${o.spec.producer}/${o.spec.seq}`
    const at = found.get(key) ?? []
    if (promised(o) && at.length === 0) {
      out.push(violation(history, "wal-lost", key, `append ${key} was acknowledged at LSN ${JSON.stringify(o.result)} but is not in the committed log`, [o], limit))
    } else if (promised(o) && at.length === 1 && typeof o.result === "number" && at[0]!.lsn !== o.result) {
      out.push(violation(history, "wal-order", key, `append ${key} was acknowledged at LSN ${o.result} but is committed at LSN ${at[0]!.lsn}`, [o], limit))
    }
  }
  for (const [key, at] of found) {
    if (at.length > 1) {
      out.push(violation(history, "wal-duplicate", key, `append ${key} is in the committed log ${at.length} times (LSNs ${at.map((a) => a.lsn).join(", ")})`, opsOf(key), limit))
    }
    if (opsOf(key).length === 0) {
      out.push(violation(history, "wal-phantom", key, `the committed log holds ${key}, which no client appended`, [], limit))
    }
  }
  for (const [producer, entries] of byProducer) {
    const sorted = [...entries].sort((a, b) => a.lsn - b.lsn)
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i]!.seq < sorted[i - 1]!.seq) {
        const keys = [sorted[i - 1]!, sorted[i]!].map((e) => `${producer}/${e.seq}`)
        out.push(
          violation(
            history,
            "wal-order",
            producer,
            `${keys[1]} (LSN ${sorted[i]!.lsn}) comes after ${keys[0]} (LSN ${sorted[i - 1]!.lsn}) in the committed log`,
            keys.flatMap(opsOf),
            limit
          )
        )
        break
      }
    }
  }
  return out
}

/** The broker's committed sink reflects every acknowledged input exactly once, in producer order. */
export const checkBroker = (history: History, final: FinalState, limit = 12): Array<Violation> => {
  if (final.sink === undefined) return []
  const ops = ofTag(history, "Produce")
  const out: Array<Violation> = []
  const byValue = groupBy(final.sink, (e) => e.value)
  const invoked = new Map(ops.map((o) => [o.spec.value, o]))
  for (const o of ops) {
    const at = byValue.get(o.spec.value) ?? []
    if (promised(o) && at.length === 0) {
      out.push(violation(history, "broker-lost", o.spec.value, `input ${o.spec.value} was acknowledged but is not at the committed sink`, [o], limit))
    }
    if (at.length > 1) {
      out.push(
        violation(history, "broker-duplicate", o.spec.value, `input ${o.spec.value} is at the committed sink ${at.length} times (offsets ${at.map((a) => `${a.partition}@${a.offset}`).join(", ")})`, [o], limit)
      )
    }
  }
  for (const [value] of byValue) {
    if (!invoked.has(value)) out.push(violation(history, "broker-phantom", value, `the committed sink holds ${value}, which no client produced`, [], limit))
  }
  // Per producer and partition, the sink's order is the order of the sequence numbers.
  const lanes = groupBy(
    ops.flatMap((o) =>
      (byValue.get(o.spec.value) ?? []).map((at) => ({ lane: `${o.spec.producer}@${at.partition}`, seq: o.spec.seq, offset: at.offset, op: o as Operation }))
    ),
    (e) => e.lane
  )
  for (const [lane, entries] of lanes) {
    const sorted = [...entries].sort((a, b) => a.offset - b.offset)
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i]!.seq < sorted[i - 1]!.seq) {
        out.push(violation(history, "broker-order", lane, `seq ${sorted[i]!.seq} is at offset ${sorted[i]!.offset}, after seq ${sorted[i - 1]!.seq}`, [sorted[i - 1]!.op, sorted[i]!.op], limit))
        break
      }
    }
  }
  return out
}

/**
 * Every saga holds all its reservations or none, as its client was told; stock is conserved
 * (stock left + held reservations = opening stock); no execution is left unfinished.
 */
export const checkSagas = (history: History, final: FinalState, limit = 12): Array<Violation> => {
  const ops = ofTag(history, "Saga")
  const out: Array<Violation> = []
  const held = (trip: string, offering: string) => final.reservations[trip]?.[offering]?.status === "held"
  const involving = groupBy(
    ops.flatMap((o) => Array.from(new Set(o.spec.offerings), (offering) => ({ offering, op: o }))),
    (x) => x.offering
  )
  const sagasByOffering = new Map(Array.from(involving, ([offering, xs]) => [offering, xs.map((x) => x.op)] as const))
  const sagasOf = (offering: string) => sagasByOffering.get(offering) ?? []
  for (const o of ops) {
    const n = o.spec.offerings.length
    const h = o.spec.offerings.filter((off) => held(o.spec.tripId, off)).length
    const detail = o.spec.offerings.map((off) => `${off}: ${final.reservations[o.spec.tripId]?.[off]?.status ?? "none"}`).join(", ")
    if (h !== 0 && h !== n) {
      out.push(violation(history, "saga-partial", o.spec.tripId, `trip ${o.spec.tripId} holds ${h} of its ${n} reservations (${detail})`, [o], limit))
    } else if (promised(o) && o.result === "reserved" && h !== n) {
      out.push(violation(history, "saga-outcome", o.spec.tripId, `trip ${o.spec.tripId} was reported reserved but holds ${h} of ${n} reservations (${detail})`, [o], limit))
    } else if (promised(o) && compensated(o) && h !== 0) {
      out.push(violation(history, "saga-outcome", o.spec.tripId, `trip ${o.spec.tripId} was reported compensated but holds ${h} of ${n} reservations (${detail})`, [o], limit))
    } else if (promised(o) && compensated(o)) {
      // Sold out on an offering whose stock no set of these sagas could exhaust: a wrong answer.
      const offering = String(o.result).slice("compensated:".length)
      const opening = history.setup.stock[offering]
      const demand = sagasOf(offering).length
      if (opening !== undefined && opening > demand) {
        out.push(
          violation(
            history,
            "saga-outcome",
            o.spec.tripId,
            `trip ${o.spec.tripId} was reported sold out on ${offering}, whose opening stock ${opening} exceeds what all ${demand} sagas could take`,
            [o],
            limit
          )
        )
      }
    }
  }
  for (const [offering, opening] of Object.entries(history.setup.stock)) {
    const left = final.stock[offering]
    const trips = Object.entries(final.reservations).filter(([, r]) => r[offering]?.status === "held")
    const reserved = trips.reduce((a, [, r]) => a + r[offering]!.amount, 0)
    if (left === undefined || left + reserved !== opening) {
      const involved = sagasOf(offering)
      out.push(
        violation(
          history,
          "saga-stock",
          offering,
          `${offering}: ${left ?? "absent"} left + ${reserved} held by ${trips.length} trips != opening stock ${opening}`,
          involved,
          limit
        )
      )
    }
  }
  if (final.executions !== undefined) {
    const h = final.hostStats
    const latch = h?.stateObject
      ? `; its StateObject at version ${h.stateObject.version}, committed ${h.stateObject.committed}, ${h.stateObject.actionsRunning} Actions in its latch${h.stateObject.exclusivePending ? ", a seal or restore pending" : ""}`
      : ""
    const hostNote = h
      ? ` (the host then: ${h.runsInFlight} runs in flight, ${h.redrives} re-drives, ${h.restores} restores, ${h.swept} swept${h.failed ? ", failed" : ""}${latch})`
      : ""
    const stepOf = (executionId: string) => {
      const run = h?.runs?.find((r) => r.executionId === executionId)
      return run ? `; its run is at "${run.step}" for ${Math.round(run.forMillis / 1000)} s` : ""
    }
    for (const o of ops) {
      const execution = final.executions[o.spec.tripId]
      if (execution === undefined) {
        if (promised(o)) out.push(violation(history, "lost-write", o.spec.tripId, `trip ${o.spec.tripId} was acknowledged but its execution is unknown to the host`, [o], limit))
      } else if (execution.status !== "complete") {
        out.push(
          violation(history, "workflow-stuck", o.spec.tripId, `execution ${execution.executionId} of trip ${o.spec.tripId} is ${execution.status} once the cluster is quiet${stepOf(execution.executionId)}${hostNote}`, [o], limit)
        )
      }
    }
  }
  return out
}

/** No worker keeps checkpoints without bound: old ones are pruned once a later one commits. */
export const checkStorage = (history: History, final: FinalState, options: CheckOptions = {}): Array<Violation> => {
  const bound = options.maxCheckpoints ?? 64
  return final.storage
    .filter((s) => s.checkpoints > bound)
    .map((s) =>
      violation(
        history,
        "storage-unpruned",
        s.worker,
        `${s.worker} keeps ${s.checkpoints} checkpoints (bound ${bound}; ${s.maxVersion} versions sealed; ${s.bytes} bytes in ${s.file})`,
        [],
        0
      )
    )
}

/** Every rule. */
export const check = (history: History, final: FinalState, options: CheckOptions = {}): Array<Violation> => {
  const limit = options.excerptLimit ?? 12
  return [
    ...checkPuts(history, final, limit),
    ...checkIncrements(history, final, limit),
    ...checkConservation(history, final, limit),
    ...checkWal(history, final, limit),
    ...checkBroker(history, final, limit),
    ...checkSagas(history, final, limit),
    ...checkStorage(history, final, options)
  ]
}
