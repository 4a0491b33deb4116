/**
 * The demo's workload: bank transfers between accounts on different KV shards, driven by a client
 * process that is inside the DSE domain (its own Dse runtime connected to the coordinator).
 *
 * A transfer is one sthread: debit (one shard), credit (another shard), an append to the WAL and,
 * when the broker runs, an event on topic `transfers`. Each call is speculative (it returns at once,
 * tagged with what it depends on); the transfer is done when the sthread's dependencies have
 * committed (`Dse.awaitCommit`: the output boundary). If a crash loses what it depended on, the wait
 * fails with RolledBack and the transfer is driven again with the same idempotency keys (KV request
 * ids, WAL and broker producer sequence numbers), so each step applies exactly once in the
 * surviving history.
 */
import type { ExecutionMode } from "@dse/core"
import { Dse } from "@dse/core"
import type { KvClient } from "@dse/kv"
import type { WalClient } from "@dse/wal"
import { Duration, Effect, Option, Schedule } from "effect"
import type { BrokerStep } from "./BrokerStep"

export const INITIAL_BALANCE = 1000

/** The broker topic of the transfers' events (its partitions: the clients' lanes modulo 2). */
export const BROKER_TOPIC = "transfers"
export const BROKER_PARTITIONS = 2
export const BROKER_TOPICS = `${BROKER_TOPIC}:${BROKER_PARTITIONS}`

/** Failures after which a transfer is driven again (the same keys): speculation lost, a service away. */
const TRANSIENT = new Set([
  "RolledBack",
  "StaleWorldLine",
  "FutureWorldLine",
  "StateObjectFailed",
  "ShardUnavailable",
  "WalUnavailable",
  "BrokerUnavailable",
  "AttemptTimeout"
])

export interface Transfer {
  readonly id: number
  readonly lane: number
  readonly from: string
  readonly to: string
  readonly amount: number
}

export interface Outcome {
  readonly transfer: Transfer
  /** Until committed, retries included (ms). */
  readonly latency: number
  /** Failed attempts, by the failure's tag. */
  readonly failures: ReadonlyArray<string>
  readonly committed: boolean
  /** The failure that stopped it (a non-transient error, or too many attempts). */
  readonly error: string | undefined
  readonly startedAt: number
  readonly committedAt: number
}

export interface Services {
  readonly kv: KvClient.KvClientService
  readonly wal: WalClient.WalClientService
  readonly broker: BrokerStep | undefined
}

/** A small deterministic PRNG (mulberry32). */
export const random = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj", "olivia", "peggy"]

/** Accounts: at least two on every shard. */
export const accounts = (kv: KvClient.KvClientService): ReadonlyArray<string> => {
  const byShard = new Map<number, Array<string>>()
  const out: Array<string> = []
  for (let i = 0; out.length < 64; i++) {
    const key = `acct/${NAMES[i] ?? `x${i}`}`
    const shard = kv.shardOf(key)
    const list = byShard.get(shard) ?? []
    if (list.length >= 3) continue
    list.push(key)
    byShard.set(shard, list)
    out.push(key)
    if (out.length >= 6 && Array.from({ length: kv.shards }, (_, s) => (byShard.get(s)?.length ?? 0) >= 2).every((x) => x)) break
  }
  return out.sort()
}

/** `count` transfers on `lanes` lanes, between accounts on different shards. */
export const plan = (kv: KvClient.KvClientService, names: ReadonlyArray<string>, lanes: number, perLane: number, seed: number): ReadonlyArray<Transfer> => {
  const rnd = random(seed)
  const out: Array<Transfer> = []
  for (let i = 0; i < lanes * perLane; i++) {
    const from = names[Math.floor(rnd() * names.length)]!
    const others = names.filter((n) => kv.shardOf(n) !== kv.shardOf(from))
    const to = others[Math.floor(rnd() * others.length)]!
    out.push({ id: i, lane: i % lanes, from, to, amount: 1 + Math.floor(rnd() * 20) })
  }
  return out
}

/** Opens the accounts (outside the domain: acknowledged once committed). */
export const openAccounts = (kv: KvClient.KvClientService, names: ReadonlyArray<string>) =>
  Effect.forEach(
    names,
    (name) =>
      kv.put(name, INITIAL_BALANCE, { idempotencyKey: `open/${name}` }).pipe(
        Effect.retry({ while: (e) => e._tag === "ShardUnavailable", schedule: Schedule.spaced("200 millis").pipe(Schedule.upTo("20 seconds")) })
      ),
    { concurrency: "unbounded", discard: true }
  )

class AttemptTimeout {
  readonly _tag = "AttemptTimeout"
}

interface Lane {
  /** The WAL producer's next sequence number (advances when a transfer commits). */
  walSeq: number
  /** The broker producer's next batch number on its partition (from 1). */
  brokerSeq: number
}

/**
 * Runs the transfers, each lane sequentially (a client that sends its next transfer once the last
 * one is done), lanes concurrently. `onCommitted` is called after every committed transfer.
 */
export const run = (
  services: Services,
  transfers: ReadonlyArray<Transfer>,
  options: {
    readonly mode: ExecutionMode
    readonly runId: string
    readonly attemptTimeout?: Duration.DurationInput
    readonly giveUpAfter?: Duration.DurationInput
    readonly onCommitted?: (outcome: Outcome) => void
  }
): Effect.Effect<ReadonlyArray<Outcome>, never, Dse.Dse> =>
  Effect.gen(function* () {
    const lanes = new Map<number, Lane>()
    const attemptTimeout = Duration.decode(options.attemptTimeout ?? "5 seconds")
    const giveUpAfter = Duration.toMillis(Duration.decode(options.giveUpAfter ?? "45 seconds"))
    const { kv, wal, broker } = services

    const attempt = (t: Transfer, lane: Lane) =>
      Dse.sthread(
        Effect.gen(function* () {
          yield* kv.increment(t.from, undefined, -t.amount, { idempotencyKey: `t${t.id}/debit` })
          yield* kv.increment(t.to, undefined, t.amount, { idempotencyKey: `t${t.id}/credit` })
          const record = { transfer: t.id, from: t.from, to: t.to, amount: t.amount }
          yield* wal.append(record, { producer: { id: `${options.runId}-lane${t.lane}`, seq: lane.walSeq } })
          if (broker) yield* broker.produce(t.lane % BROKER_PARTITIONS, `${options.runId}-lane${t.lane}`, lane.brokerSeq, `t${t.id}`, record)
          // The output boundary: done only once everything it depends on has committed.
          yield* Dse.awaitCommit
        })
      ).pipe(Effect.timeoutFail({ duration: attemptTimeout, onTimeout: () => new AttemptTimeout() }))

    const one = (t: Transfer): Effect.Effect<Outcome, never, Dse.Dse> =>
      Effect.gen(function* () {
        let lane = lanes.get(t.lane)
        if (!lane) {
          lane = { walSeq: 0, brokerSeq: 1 }
          lanes.set(t.lane, lane)
        }
        const startedAt = performance.now()
        const failures: Array<string> = []
        for (;;) {
          const result = yield* Effect.either(attempt(t, lane))
          if (result._tag === "Right") {
            lane.walSeq++
            lane.brokerSeq++
            const committedAt = performance.now()
            const outcome: Outcome = { transfer: t, latency: committedAt - startedAt, failures, committed: true, error: undefined, startedAt, committedAt }
            options.onCommitted?.(outcome)
            return outcome
          }
          const tag = (result.left as { _tag?: string })._tag ?? "Error"
          failures.push(tag)
          const elapsed = performance.now() - startedAt
          if (!TRANSIENT.has(tag) || elapsed > giveUpAfter) {
            const error = TRANSIENT.has(tag) ? `still failing after ${Math.round(elapsed / 1000)} s (${tag})` : describeFailure(result.left)
            return { transfer: t, latency: elapsed, failures, committed: false, error, startedAt, committedAt: Number.NaN }
          }
          // Driven again with the same keys, after a short pause (a restarting service, a recovery).
          yield* Effect.sleep(Duration.millis(tag === "RolledBack" ? 20 : 150))
        }
      })

    const byLane = new Map<number, Array<Transfer>>()
    for (const t of transfers) byLane.set(t.lane, [...(byLane.get(t.lane) ?? []), t])
    const results = yield* Effect.forEach(
      Array.from(byLane.values()),
      (list) => Effect.forEach(list, one),
      { concurrency: "unbounded" }
    )
    return results.flat().sort((a, b) => a.transfer.id - b.transfer.id)
  })

const describeFailure = (e: unknown): string => {
  const tagged = e as { _tag?: string; message?: string }
  return `${tagged._tag ?? "Error"}${tagged.message ? `: ${tagged.message}` : ""}`
}

export interface Check {
  readonly name: string
  readonly passed: boolean
  readonly detail: string
}

/**
 * Checks with committed reads (outside the domain: no sthread) that every committed transfer is
 * reflected exactly once: in the WAL, in the balances, in the broker's topic; and that money is
 * conserved.
 */
export const verify = (services: Services, names: ReadonlyArray<string>, outcomes: ReadonlyArray<Outcome>) =>
  Effect.gen(function* () {
    const checks: Array<Check> = []
    const committed = outcomes.filter((o) => o.committed)
    const failed = outcomes.filter((o) => !o.committed)
    checks.push({
      name: "every transfer committed",
      passed: failed.length === 0,
      detail:
        failed.length === 0
          ? `${committed.length}/${outcomes.length}`
          : `${committed.length}/${outcomes.length}; failed: ${failed.slice(0, 3).map((o) => `t${o.transfer.id} (${o.error})`).join(", ")}`
    })

    // The WAL's committed prefix: one entry per committed transfer, nothing else.
    const entries: Array<{ transfer?: number }> = []
    let from = 0
    for (;;) {
      const page = yield* services.wal.scan(from, { mode: "committed", limit: 1000 })
      for (const e of page.entries) entries.push(e.data._tag === "Json" ? (e.data.value as { transfer?: number }) : {})
      if (page.entries.length === 0 || page.next >= page.end) break
      from = page.next
    }
    checks.push(exactlyOnce("the WAL holds each committed transfer exactly once", entries.map((e) => e.transfer), committed, "entries"))

    // Balances: each committed transfer applied once (debit and credit), money conserved.
    const balances = new Map<string, number>()
    for (const name of names) {
      const entry = yield* services.kv.get(name, { committed: true })
      balances.set(name, Option.match(entry, { onNone: () => Number.NaN, onSome: (e) => Number(e.value) }))
    }
    const expected = new Map(names.map((n) => [n, INITIAL_BALANCE]))
    for (const o of committed) {
      expected.set(o.transfer.from, expected.get(o.transfer.from)! - o.transfer.amount)
      expected.set(o.transfer.to, expected.get(o.transfer.to)! + o.transfer.amount)
    }
    const wrong = names.filter((n) => balances.get(n) !== expected.get(n))
    checks.push({
      name: "balances = opening balances + each committed transfer applied once",
      passed: wrong.length === 0,
      detail:
        wrong.length === 0
          ? `${names.length} accounts on ${services.kv.shards} shards`
          : wrong.map((n) => `${n}: ${balances.get(n)} (expected ${expected.get(n)})`).join(", ")
    })
    const total = Array.from(balances.values()).reduce((a, b) => a + b, 0)
    checks.push({
      name: "money is conserved",
      passed: total === names.length * INITIAL_BALANCE,
      detail: `total ${total} = ${names.length} x ${INITIAL_BALANCE}${total === names.length * INITIAL_BALANCE ? "" : " expected"}`
    })

    if (services.broker) {
      const events = yield* services.broker.committedEvents
      checks.push(
        exactlyOnce(
          "the broker's topic holds each committed transfer's event exactly once",
          events.map((e) => (e.value as { transfer?: number } | undefined)?.transfer),
          committed,
          "events"
        )
      )
    }
    return { checks, balances }
  })

const exactlyOnce = (
  name: string,
  seen: ReadonlyArray<number | undefined>,
  committed: ReadonlyArray<Outcome>,
  what: string
): Check => {
  const counts = new Map<number, number>()
  let foreign = 0
  for (const id of seen) {
    if (id === undefined) foreign++
    else counts.set(id, (counts.get(id) ?? 0) + 1)
  }
  const ids = new Set(committed.map((o) => o.transfer.id))
  const missing = Array.from(ids).filter((id) => !counts.has(id))
  const twice = Array.from(counts).filter(([, n]) => n > 1).map(([id]) => id)
  const extra = Array.from(counts.keys()).filter((id) => !ids.has(id))
  const passed = missing.length === 0 && twice.length === 0 && extra.length === 0 && foreign === 0
  const problems = [
    missing.length ? `missing t${missing.slice(0, 5).join(", t")}` : "",
    twice.length ? `more than once t${twice.slice(0, 5).join(", t")}` : "",
    extra.length ? `not acknowledged t${extra.slice(0, 5).join(", t")}` : "",
    foreign ? `${foreign} foreign` : ""
  ].filter((p) => p !== "")
  return { name, passed, detail: passed ? `${seen.length} ${what}` : `${seen.length} ${what}: ${problems.join("; ")}` }
}
