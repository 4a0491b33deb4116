/**
 * The WAL over @dse/transport (DseRpcServer / DseRpcClient), on the in-process hub and on real TCP
 * sockets in this process: typed errors and entries cross the wire intact, speculation travels in
 * the headers both ways, the tail is a streaming RPC, and outside callers get committed answers.
 * Real clock (the transport's timers are real).
 */
import { describe, expect, it } from "@effect/vitest"
import { Dse } from "@dse/core"
import { InProcessCluster } from "@dse/testing"
import { Endpoint, InProcessHub } from "@dse/transport"
import type { Scope } from "effect"
import { Cause, Chunk, Duration, Effect, Exit, Fiber, Option, Schedule, Stream } from "effect"
import * as WalClient from "../src/WalClient"
import * as WalHandlers from "../src/WalHandlers"
import type { WalLogService } from "../src/WalLog"
import { make as makeLog } from "../src/WalLog"
import type { WalEntry } from "../src/WalModel"
import { callX, xProgram } from "./support/cluster"

type Transport = { readonly name: string; readonly endpoint: () => Endpoint.Endpoint }

const transports: ReadonlyArray<Transport> = [
  { name: "the in-process hub", endpoint: () => Endpoint.inProcess("wal") },
  { name: "tcp", endpoint: () => Endpoint.tcp(0) }
]

const json = (e: WalEntry) => (e.data._tag === "Json" ? e.data.value : "bytes")

const failureOf = <A, E>(exit: Exit.Exit<A, E> | null): unknown =>
  exit && Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined

/** Polls `check` until it holds (5 s at most). */
const eventually = (check: Effect.Effect<boolean>) =>
  Effect.flatMap(check, (ok) => (ok ? Effect.void : Effect.fail("not yet"))).pipe(
    Effect.retry({ schedule: Schedule.spaced("10 millis"), times: 500 }),
    Effect.orDie
  )

for (const transport of transports) {
  describe(`WAL over ${transport.name}`, () => {
    const setup = (sealPeriod: Duration.DurationInput = "10 millis") =>
      Effect.gen(function* () {
        const cluster = yield* InProcessCluster.make({ sealPeriod })
        let live: WalLogService | undefined
        let endpoint: Endpoint.Endpoint | undefined
        const proc = yield* cluster.spawn(
          "wal",
          Effect.gen(function* () {
            const log = yield* makeLog()
            live = log
            endpoint = (yield* WalHandlers.serve(log, { endpoint: endpoint ?? transport.endpoint() })).endpoint
          })
        )
        const client = yield* cluster.spawn("client", Effect.void)
        const wal = yield* WalClient.makeRemote({ endpoint: endpoint!, reconnect: Schedule.spaced("20 millis") })
        const inClient = <A, E>(effect: Effect.Effect<A, E, Dse.Dse>) => Effect.provide(effect, client.context())
        return { cluster, proc, wal, inClient, log: () => live! }
      })

    const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) => Effect.provide(effect, InProcessHub.layer)

    it.scopedLive("append, scan and info round-trip; bytes and JSON entries come back intact (bytes as Uint8Array)", () =>
      run(
        Effect.gen(function* () {
          const { wal, inClient } = yield* setup()
          const a = yield* inClient(wal.appendBatch([new Uint8Array([1, 2, 250]), { k: ["v", 1, null] }]))
          expect(a).toEqual({ first: 0, count: 2, duplicate: false })
          const page = yield* inClient(wal.scan(0))
          expect(page.entries.map((e) => e.data)).toEqual([
            { _tag: "Bytes", bytes: new Uint8Array([1, 2, 250]) },
            { _tag: "Json", value: { k: ["v", 1, null] } }
          ])
          expect(yield* inClient(wal.info)).toMatchObject({ name: "wal", end: 2, committedEnd: 2 })
        })
      ))

    it.scopedLive("typed errors cross the wire: limits, sequence gaps, truncation beyond the committed prefix", () =>
      run(
        Effect.gen(function* () {
          const { wal, inClient } = yield* setup()
          const empty = yield* inClient(Effect.flip(wal.appendBatch([])))
          expect(empty._tag).toBe("InvalidRequest")
          const big = yield* inClient(Effect.flip(wal.append(new Uint8Array(256 * 1024 + 1))))
          expect(big).toMatchObject({ _tag: "EntryTooLarge", size: 256 * 1024 + 1, limit: 256 * 1024 })
          // Above the transport's frame limit (1 MiB) the request never leaves: WalUnavailable.
          const frame = yield* inClient(Effect.flip(wal.append(new Uint8Array(2 * 1024 * 1024))))
          expect(frame._tag).toBe("WalUnavailable")
          yield* inClient(wal.append("a", { producer: { id: "p", seq: 0 } }))
          const gap = yield* inClient(Effect.flip(wal.append("c", { producer: { id: "p", seq: 2 } })))
          expect(gap).toMatchObject({ _tag: "SequenceGap", expected: 1, received: 2 })
          const beyond = yield* inClient(Effect.flip(wal.truncate(5)))
          expect(beyond).toMatchObject({ _tag: "TruncateBeyondCommitted", upTo: 5, committedEnd: 1 })
          yield* inClient(wal.truncate(1))
          const truncated = yield* inClient(Effect.flip(wal.scan(0)))
          expect(truncated).toMatchObject({ _tag: "LsnTruncated", lsn: 0, start: 1 })
        })
      ))

    it.scopedLive("at the default limits, the largest append and the largest scan page fit in one frame", () =>
      run(
        Effect.gen(function* () {
          const { wal, inClient } = yield* setup()
          // Largest batch of small entries, with producer ids (the most metadata per byte).
          for (let b = 0; b < 10; b++) {
            yield* inClient(wal.appendBatch(Array.from({ length: 1000 }, (_, i) => i), { producer: { id: "producer-with-a-long-name", seq: b } }))
          }
          const small = yield* inClient(wal.scan(0, { limit: 10_000 }))
          expect(small.entries.length).toBeGreaterThan(5000)
          // Largest entries: a page of them stays within the bytes limit.
          const start = small.end
          for (let b = 0; b < 4; b++) yield* inClient(wal.appendBatch([new Uint8Array(256 * 1024), new Uint8Array(256 * 1024)]))
          const large = yield* inClient(wal.scan(start, { limit: 10_000 }))
          expect(large.entries.length).toBe(2)
          const maxBatch = yield* inClient(wal.appendBatch([new Uint8Array(256 * 1024), new Uint8Array(256 * 1024), new Uint8Array(256 * 1024)]))
          expect(maxBatch.count).toBe(3)
        })
      ))

    it.scopedLive("producer dedup over the wire returns the original LSNs", () =>
      run(
        Effect.gen(function* () {
          const { wal, inClient } = yield* setup()
          const first = yield* inClient(wal.appendBatch(["a", "b"], { producer: { id: "p", seq: 0 } }))
          const retry = yield* inClient(wal.appendBatch(["a", "b"], { producer: { id: "p", seq: 0 } }))
          expect(retry).toEqual({ ...first, duplicate: true })
        })
      ))

    it.scopedLive("an append in an sthread returns before commit and its reply header joins the sthread", () =>
      run(
        Effect.gen(function* () {
          const { wal, inClient, log } = yield* setup("1 hour")
          const [r, thread] = yield* inClient(Dse.sthread(wal.append("s")))
          expect(r.lsn).toBe(0)
          expect((yield* log().info).committedEnd).toBe(0)
          expect(thread.deps.get(log().stateObject.id)).toBeGreaterThan(0)
          yield* inClient(Dse.awaitCommitOf(thread))
          expect((yield* log().info).committedEnd).toBe(1)
        })
      ))

    it.scopedLive("an append from outside the domain is answered after it commits", () =>
      run(
        Effect.gen(function* () {
          const { wal, inClient, log } = yield* setup("1 hour")
          const r = yield* inClient(wal.append("outside"))
          expect((yield* log().info).committedEnd).toBeGreaterThan(r.lsn)
        })
      ))

    it.scopedLive("the tail is a streaming RPC: speculative entries as appended, committed ones as they commit", () =>
      run(
        Effect.gen(function* () {
          const { wal, inClient } = yield* setup("1 hour")
          const spec: Array<WalEntry> = []
          const committed: Array<WalEntry> = []
          const f1 = yield* Effect.fork(inClient(Dse.sthread(Stream.runForEach(wal.tail(0, { mode: "speculative" }), (e) => Effect.sync(() => spec.push(e))))))
          const f2 = yield* Effect.fork(inClient(Stream.runForEach(wal.tail(0, { mode: "committed" }), (e) => Effect.sync(() => committed.push(e)))))
          yield* inClient(Dse.sthread(wal.appendBatch(["a", "b"])))
          yield* eventually(Effect.sync(() => spec.length === 2))
          yield* inClient(wal.append("c"))
          yield* eventually(Effect.sync(() => committed.length === 3 && spec.length === 3))
          expect(committed.map(json)).toEqual(["a", "b", "c"])
          expect(spec.map(json)).toEqual(["a", "b", "c"])
          yield* Fiber.interrupt(f1)
          yield* Fiber.interrupt(f2)
        })
      ))

    it.scopedLive("a speculative tail that saw a rolled-back entry fails with RolledBack over the wire", () =>
      run(
        Effect.gen(function* () {
          const { cluster, wal, inClient } = yield* setup("1 hour")
          const x = yield* cluster.spawn("x", xProgram(cluster.network))
          const seen: Array<WalEntry> = []
          const tail = yield* Effect.fork(
            inClient(Dse.sthread(Stream.runForEach(wal.tail(0, { mode: "speculative" }), (e) => Effect.sync(() => seen.push(e)))))
          )
          yield* inClient(Dse.sthread(Effect.zipRight(callX(cluster.network), wal.append("depends-on-x"))))
          yield* eventually(Effect.sync(() => seen.length === 1))
          yield* x.crash
          yield* x.restart
          const exit = yield* Fiber.await(tail)
          expect(failureOf(exit)).toMatchObject({ _tag: "RolledBack" })
        })
      ))

    if (transport.name === "the in-process hub") {
      it.scopedLive("the log's process crashes: calls fail with WalUnavailable, the committed prefix is back after restart", () =>
        run(
          Effect.gen(function* () {
            const { wal, inClient, proc } = yield* setup()
            yield* inClient(wal.appendBatch(["c0", "c1"]))
            yield* proc.crash
            const down = yield* inClient(Effect.flip(wal.info))
            expect(down._tag).toBe("WalUnavailable")
            yield* proc.restart
            const page = yield* inClient(wal.scan(0).pipe(Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 100 })))
            expect(page.entries.map(json)).toEqual(["c0", "c1"])
            const retry = yield* inClient(Stream.runCollect(Stream.take(wal.tail(0, { mode: "committed" }), 2)))
            expect(Chunk.toReadonlyArray(retry).map(json)).toEqual(["c0", "c1"])
          })
        ))
    }
  })
}
