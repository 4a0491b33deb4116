/**
 * Reads the final state once the cluster is quiet: committed reads from outside the DSE domain (KV
 * scans and gets, the WAL's committed log, the broker's committed partitions, the workflow host's
 * executions), and, once the processes have stopped, the checkpoint files.
 */
import type { BrokerClient } from "@dse/broker"
import type { KvClient } from "@dse/kv"
import type { WalClient } from "@dse/wal"
import type { WorkflowClient } from "@dse/workflow"
import { Examples } from "@dse/workflow"
import Database from "better-sqlite3"
import { Effect, Option, Schedule } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import type { FinalState, SinkEvent, StorageRecord, WalRecord } from "./FinalState"
import type { History } from "./History"
import { BROKER_PARTITIONS } from "./Workload"

/** A read that outlives a service's restart: retried for up to a minute. */
const patiently = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  effect.pipe(Effect.timeout("15 seconds"), Effect.retry(Schedule.spaced("300 millis").pipe(Schedule.upTo("60 seconds"))), Effect.catchTag("TimeoutException", () => effect)) as Effect.Effect<A, E, R>

/** Every key under `prefix`, committed. */
const scanAll = (kv: KvClient.KvClientService, prefix: string) =>
  Effect.gen(function* () {
    const out: Record<string, unknown> = {}
    let after: string | undefined
    for (;;) {
      const page = yield* patiently(kv.scan(prefix, { limit: 1000, ...(after !== undefined ? { after } : {}) }))
      for (const e of page.entries) out[e.key] = e.value
      if (!page.more || page.entries.length === 0) return out
      after = page.entries[page.entries.length - 1]!.key
    }
  })

export const kvState = (kv: KvClient.KvClientService, history: History) =>
  Effect.gen(function* () {
    const out = yield* scanAll(kv, `${history.setup.runId}/`)
    const reservations: Record<string, Record<string, { status: string; amount: number }>> = {}
    const stock: Record<string, number> = {}
    for (const offering of Object.keys(history.setup.stock)) {
      const entry = yield* patiently(kv.get(offering))
      const value = Option.getOrUndefined(entry)?.value as { available?: unknown } | undefined
      if (typeof value?.available === "number") stock[offering] = value.available
    }
    const trips = history.operations.flatMap((o) => (o.spec._tag === "Saga" ? [o.spec] : []))
    yield* Effect.forEach(
      trips,
      (trip) =>
        Effect.forEach(trip.offerings, (offering) =>
          Effect.map(patiently(kv.get(Examples.TravelSaga.reservationKey(offering, trip.tripId))), (entry) => {
            const value = Option.getOrUndefined(entry)?.value as { status?: unknown; amount?: unknown } | undefined
            if (value === undefined) return
            const forTrip = (reservations[trip.tripId] ??= {})
            forTrip[offering] = { status: String(value.status), amount: typeof value.amount === "number" ? value.amount : Number.NaN }
          })
        ),
      { concurrency: 8, discard: true }
    )
    return { kv: out, reservations, stock }
  })

export const walState = (wal: WalClient.WalClientService) =>
  Effect.gen(function* () {
    const out: Array<WalRecord> = []
    let from = 0
    for (;;) {
      const page = yield* patiently(wal.scan(from, { mode: "committed", limit: 1000 }))
      for (const e of page.entries) out.push({ lsn: e.lsn, worldLine: e.worldLine, ...(e.producer ? { producer: e.producer } : {}) })
      if (page.entries.length === 0 || page.next >= page.end) return out
      from = page.next
    }
  })

/** Every committed event of `topic`, partition by partition. */
export const sinkState = (broker: BrokerClient.BrokerClientService, topic: string) =>
  Effect.gen(function* () {
    const out: Array<SinkEvent> = []
    for (let partition = 0; partition < BROKER_PARTITIONS; partition++) {
      let from = 0
      for (;;) {
        const batch = yield* patiently(broker.fetch({ topic, partition, from, mode: "committed", maxEvents: 1000 }))
        for (const e of batch.events) out.push({ partition, offset: e.offset, value: String(e.value) })
        if (batch.events.length === 0 || batch.next >= batch.end) break
        from = batch.next
      }
    }
    return out
  })

/**
 * Waits until every value in `expected` is committed at `topic` (what the relay must have copied
 * there; the input topic itself cannot be counted, retention drops what the relay consumed), for
 * at most `limitMs`; returns the sink as last read. When it gives up, the checker reports the
 * inputs that never arrived.
 */
export const awaitRelay = (broker: BrokerClient.BrokerClientService, topic: string, expected: ReadonlyArray<string>, limitMs: number) =>
  Effect.gen(function* () {
    const began = Date.now()
    for (;;) {
      const sink = yield* sinkState(broker, topic)
      const at = new Set(sink.map((e) => e.value))
      const arrived = expected.filter((v) => at.has(v)).length
      if (arrived === expected.length || Date.now() - began > limitMs) return { sink, expected: expected.length, arrived, caughtUp: arrived === expected.length }
      yield* Effect.sleep("500 millis")
    }
  })

export const executions = (workflow: WorkflowClient.WorkflowClientService, history: History) =>
  Effect.gen(function* () {
    const out: Record<string, { executionId: string; status: string; outcome?: string }> = {}
    const trips = history.operations.flatMap((o) => (o.spec._tag === "Saga" ? [o.spec] : []))
    yield* Effect.forEach(
      trips,
      (trip) =>
        Effect.gen(function* () {
          const executionId = yield* Examples.TravelSaga.TravelSaga.executionId({ tripId: trip.tripId, offerings: trip.offerings })
          const info = yield* patiently(workflow.status(executionId)).pipe(
            Effect.map(Option.some),
            Effect.catchAll((e) => ((e as { _tag?: string })._tag === "ExecutionNotFound" ? Effect.succeed(Option.none()) : Effect.fail(e)))
          )
          if (Option.isSome(info)) {
            out[trip.tripId] = { executionId, status: info.value.status, ...(info.value.outcome ? { outcome: info.value.outcome } : {}) }
          }
        }),
      { concurrency: 8, discard: true }
    )
    return out
  })

/** The checkpoint files of the workers in `dataDir` (read after the processes stopped). */
export const storage = (dataDir: string): Array<StorageRecord> => {
  const out: Array<StorageRecord> = []
  for (const name of fs.readdirSync(dataDir).sort()) {
    if (!name.endsWith(".db")) continue
    const file = path.join(dataDir, name)
    let db: Database.Database | undefined
    try {
      db = new Database(file, { readonly: true, fileMustExist: true })
      const table = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'checkpoints'").get()
      if (table === undefined) continue
      const row = db.prepare("SELECT COUNT(*) AS n, COALESCE(MAX(version), 0) AS v FROM checkpoints").get() as { n: number; v: number }
      const bytes = ["", "-wal"].reduce((a, suffix) => a + (fs.existsSync(file + suffix) ? fs.statSync(file + suffix).size : 0), 0)
      out.push({ worker: name.slice(0, -3), file, checkpoints: row.n, maxVersion: row.v, bytes })
    } catch {
      // Not a checkpoint file we can read (the corruption scenario's garbage file): not judged here.
    } finally {
      db?.close()
    }
  }
  return out
}

export type Live = Omit<FinalState, "storage">
