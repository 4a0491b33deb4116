/**
 * The WAL as a real process (src/main.ts) next to a real coordinator process, over TCP, under
 * SIGKILL: every append acknowledged (committed) survives, producer dedup holds across the
 * restart, and the process starts, stops and refuses bad input as documented.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Schedule } from "effect"
import * as WalClient from "../src/WalClient"
import type { WalEntry } from "../src/WalModel"
import { Endpoint } from "@dse/transport"
import { freePort, runWalToExit, startCoordinator, startWal, tempDir } from "./support/processes"

const json = (e: WalEntry) => (e.data._tag === "Json" ? e.data.value : "bytes")

/** Retries transport failures (the log restarting) for up to 60 s: a restart on a loaded CI machine can take more than 10 s. */
const retryUnavailable = <A, E extends { readonly _tag: string }>(effect: Effect.Effect<A, E>) =>
  Effect.retry(effect, {
    schedule: Schedule.spaced("50 millis").pipe(Schedule.upTo("60 seconds")),
    while: (e) => e._tag === "WalUnavailable"
  })

const committedLog = (wal: WalClient.WalClientService) =>
  Effect.gen(function* () {
    const out: Array<WalEntry> = []
    let from = 0
    for (;;) {
      const page = yield* retryUnavailable(wal.scan(from, { mode: "committed", limit: 1000 }))
      out.push(...page.entries)
      if (page.entries.length === 0) return out
      from = page.next
    }
  })

describe("the WAL process", () => {
  it.scopedLive(
    "SIGKILL: committed appends survive, and producer dedup holds across the restart",
    () =>
      Effect.gen(function* () {
        const data = yield* tempDir("wal")
        yield* startCoordinator(data)
        const port = yield* freePort
        const first = yield* startWal(data, ["--port", String(port)])
        expect(first.info.port).toBe(port)
        const wal = yield* WalClient.makeRemote({ endpoint: Endpoint.tcp(port), reconnect: Schedule.spaced("50 millis") })
        // Outside the domain: each reply comes after commit.
        const a = yield* wal.appendBatch(["a0", "a1"], { producer: { id: "p", seq: 0 } })
        const b = yield* wal.append(new Uint8Array([1, 2, 3]), { producer: { id: "p", seq: 1 } })
        expect([a.first, b.lsn]).toEqual([0, 2])
        yield* first.kill("SIGKILL")
        const down = yield* Effect.flip(wal.info)
        expect(down._tag).toBe("WalUnavailable")
        const second = yield* startWal(data, ["--port", String(port)])
        const entries = yield* committedLog(wal)
        expect(entries.map(json)).toEqual(["a0", "a1", "bytes"])
        // Dedup across the restart: the retry gets the original LSNs and appends nothing.
        const retry = yield* retryUnavailable(wal.append(new Uint8Array([1, 2, 3]), { producer: { id: "p", seq: 1 } }))
        expect(retry).toEqual({ lsn: 2, duplicate: true })
        const next = yield* retryUnavailable(wal.append("c", { producer: { id: "p", seq: 2 } }))
        expect(next).toEqual({ lsn: 3, duplicate: false })
        yield* second.kill("SIGKILL")
      }),
    120_000
  )

  it.scopedLive(
    "SIGKILL while appending: every acknowledged append is there exactly once, at its LSNs, in order",
    () =>
      Effect.gen(function* () {
        const data = yield* tempDir("wal")
        yield* startCoordinator(data)
        const port = yield* freePort
        let current = yield* startWal(data, ["--port", String(port)])
        const wal = yield* WalClient.makeRemote({ endpoint: Endpoint.tcp(port), reconnect: Schedule.spaced("50 millis"), timeout: "5 seconds" })
        const acks: Array<{ readonly seq: number; readonly first: number; readonly count: number }> = []
        // One producer; every append retried with the same seq and entries until it is acknowledged.
        const writer = yield* Effect.fork(
          Effect.gen(function* () {
            for (let seq = 0; seq < 10_000; seq++) {
              const values = [`s${seq}.0`, `s${seq}.1`]
              const r = yield* retryUnavailable(wal.appendBatch(values, { producer: { id: "w", seq } }))
              acks.push({ seq, first: r.first, count: r.count })
            }
          })
        )
        // Each kill lands after the writer has made progress (a few more acknowledged batches), so
        // the test does not depend on how fast a loaded machine runs it.
        // A writer that stopped (an error it does not retry) is reported as such, not as a stall.
        const progressed = (count: number) =>
          Effect.gen(function* () {
            if (acks.length >= count) return
            const ended = yield* Fiber.poll(writer)
            if (ended._tag === "Some") {
              const cause = Exit.isFailure(ended.value) ? Cause.pretty(ended.value.cause) : "it returned"
              return yield* Effect.die(new Error(`the writer stopped after ${acks.length} acks: ${cause}`))
            }
            return yield* Effect.fail("waiting" as const)
          }).pipe(
            Effect.retry(Schedule.spaced("20 millis")),
            Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => new Error(`the writer made no progress: ${acks.length} acks`) })
          )
        for (let round = 0; round < 3; round++) {
          yield* progressed(acks.length + 3 + round * 2)
          yield* current.kill("SIGKILL")
          current = yield* startWal(data, ["--port", String(port)])
        }
        yield* progressed(acks.length + 3)
        yield* Fiber.interrupt(writer)
        expect(acks.length).toBeGreaterThan(3)
        const entries = yield* committedLog(wal)
        const byLsn = new Map(entries.map((e) => [e.lsn, e]))
        for (const ack of acks) {
          expect(ack.count).toBe(2)
          expect([json(byLsn.get(ack.first)!), json(byLsn.get(ack.first + 1)!)]).toEqual([`s${ack.seq}.0`, `s${ack.seq}.1`])
        }
        // Exactly once and in order: the log is the acknowledged batches in sequence order (plus at
        // most the batch in flight when the writer stopped).
        const seqs = entries.map((e) => e.producer!.seq)
        expect(seqs).toEqual([...seqs].sort((x, y) => x - y))
        expect(new Set(seqs).size * 2).toBe(entries.length)
        expect(entries.map((e) => e.lsn)).toEqual(entries.map((_, i) => i))
        expect(new Set(seqs).size - acks.length).toBeLessThanOrEqual(1)
        yield* current.kill("SIGKILL")
      }),
    240_000
  )

  it.scopedLive(
    "SIGTERM stops it cleanly (exit code 0); bad flags exit 2; no coordinator exits 1",
    () =>
      Effect.gen(function* () {
        const data = yield* tempDir("wal")
        yield* startCoordinator(data)
        const wal = yield* startWal(data)
        expect(yield* wal.kill("SIGTERM")).toBe(0)
        const bad = yield* runWalToExit(["--mode", "fast"])
        expect(bad.code).toBe(2)
        expect(bad.stderr).toContain("--mode")
        const empty = yield* tempDir("wal-empty")
        const none = yield* runWalToExit(["--data", empty])
        expect(none.code).toBe(1)
        expect(none.stderr).toContain("no coordinator")
      }),
    120_000
  )
})
