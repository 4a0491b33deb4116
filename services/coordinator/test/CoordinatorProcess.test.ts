/**
 * The coordinator as a real process, with real bank worker processes, over real TCP, killed with
 * real SIGKILLs (only processes these tests started, by pid).
 */
import { describe, expect, it } from "@effect/vitest"
import { Dse } from "@dse/core"
import { SqliteCheckpointStore } from "@dse/storage"
import { DseRpcClient, Endpoint } from "@dse/transport"
import { Effect, Layer, Schedule } from "effect"
import type { Scope } from "effect"
import * as fs from "node:fs"
import * as Net from "node:net"
import * as path from "node:path"
import { CoordinatorFile, RemoteCoordinatorClient } from "../src/index"
import { BankRpcs, INITIAL_BALANCE } from "./fixtures/Bank"
import { freePort, runCoordinatorToExit, startCoordinator, startWorker, tempDir } from "./support/cluster"

describe("the coordinator process", () => {
  it.scopedLive("writes coordinator.json once listening, prints one ready line, and exits cleanly on SIGTERM", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir("coord")
      const coordinator = yield* startCoordinator(dir)
      const info = yield* CoordinatorFile.read(dir)
      expect(info._tag === "Some" && info.value).toEqual({ host: "127.0.0.1", port: coordinator.info.port, pid: coordinator.pid })
      expect(fs.readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([])
      expect(yield* coordinator.kill("SIGTERM")).toBe(0)
      expect(coordinator.output().match(/dse-coordinator ready/g)).toHaveLength(1)
      expect(fs.existsSync(CoordinatorFile.pathOf(dir))).toBe(false)
    }))

  it.scopedLive("a busy port is a clear error", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir("coord")
      const holder = yield* Effect.acquireRelease(
        Effect.async<Net.Server>((resume) => {
          const server = Net.createServer().listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
      )
      const port = (holder.address() as Net.AddressInfo).port
      const result = yield* runCoordinatorToExit(["--data", dir, "--port", String(port)])
      expect(result.code).toBe(1)
      expect(result.stderr).toContain(`cannot listen on tcp://127.0.0.1:${port}: the port is already in use`)
    }))

  it.scopedLive("a coordinator.db that is damaged, or belongs to something else, is a clear error", () =>
    Effect.gen(function* () {
      const damaged = yield* tempDir("coord")
      fs.writeFileSync(path.join(damaged, "coordinator.db"), Buffer.alloc(4096, 0x5a))
      const first = yield* runCoordinatorToExit(["--data", damaged])
      expect(first.code).toBe(1)
      expect(first.stderr).toContain("coordinator.db is unusable (not a SQLite database")

      // A worker's checkpoint file where the coordinator's should be.
      const foreign = yield* tempDir("coord")
      yield* Effect.scoped(
        Effect.flatMap(SqliteCheckpointStore.make({ dataDir: foreign }), (store) => Effect.scoped(store.open("coordinator")))
      )
      const second = yield* runCoordinatorToExit(["--data", foreign])
      expect(second.code).toBe(1)
      expect(second.stderr).toMatch(/coordinator\.db is unusable \(the file holds \S+ data, not cluster-state\)/)
    }))

  it.scopedLive("restarted on the same data directory, it keeps the world-line and the membership", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir("coord")
      const first = yield* startCoordinator(dir)
      const before = yield* Effect.scoped(
        Effect.gen(function* () {
          const client = yield* RemoteCoordinatorClient.make({ port: first.info.port })
          yield* client.register({ name: "w1", worldLine: 0, committed: 0, checkpoints: [] })
          yield* client.register({ name: "w2", worldLine: 0, committed: 0, checkpoints: [] })
          // w1 comes back from a crash with a past: the cluster moves to world-line 2.
          yield* client.register({ name: "w1", worldLine: 0, committed: 1, checkpoints: [] })
          return yield* client.status
        })
      )
      expect(before.worldLine).toBe(2)
      yield* first.kill("SIGKILL")
      const second = yield* startCoordinator(dir)
      const after = yield* Effect.scoped(
        Effect.flatMap(RemoteCoordinatorClient.make({ port: second.info.port }), (client) => client.status)
      )
      expect(after.worldLine).toBe(2)
      expect(after.workers.map((w) => [w.id, w.name])).toEqual(before.workers.map((w) => [w.id, w.name]))
      // Nobody has re-attached yet: commits wait for both members.
      expect(after.rebuilding).toBe(true)
    }))
})

/** A cluster of real processes: the coordinator and two bank branches, and a client in this process. */
const bankCluster = Effect.gen(function* () {
  const dir = yield* tempDir("bank")
  // All three start at once (start-up dominates these tests): workers wait for the coordinator.
  const port = yield* freePort
  const [coordinator, a, b] = yield* Effect.all(
    [startCoordinator(dir, port), startWorker("branch-a", dir, port), startWorker("branch-b", dir, port)],
    { concurrency: 3 }
  )
  const client = yield* Layer.build(Layer.provideMerge(Dse.layer(), RemoteCoordinatorClient.layer({ port })))
  const bankA = yield* DseRpcClient.make(BankRpcs, { endpoint: Endpoint.tcp(a.info.port), timeout: "2 seconds" })
  const bankB = yield* DseRpcClient.make(BankRpcs, { endpoint: Endpoint.tcp(b.info.port), timeout: "2 seconds" })
  return { dir, coordinator, a, b, client, bankA, bankB }
})

type BankCluster = Effect.Effect.Success<typeof bankCluster>

interface Workload {
  readonly committed: Array<number>
  readonly failures: Map<string, number>
}

/**
 * Transfer i moves (i % 5) + 1 from account x at branch a to account y at branch b, in one sthread,
 * and waits for commit; any failure (rolled back, a peer down, a timeout) is retried with the same
 * operation ids, so each side applies it once.
 */
const transfer = (cluster: BankCluster, workload: Workload, i: number) => {
  const amount = (i % 5) + 1
  const attempt = Dse.sthread(
    Effect.gen(function* () {
      const debit = yield* cluster.bankA.Apply({ op: `t${i}:debit`, account: "x", delta: -amount })
      if (debit.result !== "ok") return yield* Effect.dieMessage(`transfer ${i} refused: ${debit.result}`)
      yield* cluster.bankB.Apply({ op: `t${i}:credit`, account: "y", delta: amount })
      yield* Dse.awaitCommit
    })
  ).pipe(
    Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => ({ _tag: "AttemptTimeout" as const }) }),
    Effect.tapError((error) =>
      Effect.sync(() => workload.failures.set(error._tag, (workload.failures.get(error._tag) ?? 0) + 1))
    )
  )
  return attempt.pipe(
    Effect.retry(Schedule.spaced("100 millis")),
    Effect.tap(() => Effect.sync(() => workload.committed.push(i))),
    Effect.provide(cluster.client)
  )
}

/** Runs `count` transfers on 4 lanes while `chaos` runs; then checks the committed state. */
const runWorkload = (
  cluster: BankCluster,
  count: number,
  chaos: (workload: Workload) => Effect.Effect<void, unknown, Scope.Scope>
) =>
  Effect.gen(function* () {
    const workload: Workload = { committed: [], failures: new Map() }
    const lanes = Effect.forEach(
      [0, 1, 2, 3],
      (lane) =>
        Effect.forEach(
          Array.from({ length: count / 4 }, (_, k) => k * 4 + lane),
          // Paced, so that the workload is still running when the chaos strikes.
          (i) => Effect.zipRight(Effect.sleep("25 millis"), transfer(cluster, workload, i)),
          { discard: true }
        ),
      { concurrency: 4, discard: true }
    )
    yield* Effect.all([lanes, chaos(workload)], { concurrency: 2, discard: true })
    expect(workload.committed.slice().sort((x, y) => x - y)).toEqual(Array.from({ length: count }, (_, i) => i))

    // Committed reads: outside calls, answered only with committed state.
    const a = yield* cluster.bankA.Read()
    const b = yield* cluster.bankB.Read()
    const total = Array.from({ length: count }, (_, i) => (i % 5) + 1).reduce((x, y) => x + y, 0)
    expect(a.accounts.x).toBe(INITIAL_BALANCE - total)
    expect(b.accounts.y).toBe(INITIAL_BALANCE + total)
    expect(a.applied).toEqual(Array.from({ length: count }, (_, i) => `t${i}:debit`).sort())
    expect(b.applied).toEqual(Array.from({ length: count }, (_, i) => `t${i}:credit`).sort())
    // Nothing of an old world-line was applied (only the survivors' counts: a killed process's are gone).
    expect([a.violations, b.violations]).toEqual([0, 0])
    return { workload, a, b }
  })

const whenCommitted = (workload: Workload, n: number) =>
  Effect.repeat(Effect.sync(() => workload.committed.length >= n), {
    until: (done) => done,
    schedule: Schedule.spaced("20 millis")
  })

describe("a workload across real processes", () => {
  it.scopedLive("survives a SIGKILL of a worker and its restart: every committed transfer is applied once", () =>
    Effect.gen(function* () {
      const cluster = yield* bankCluster
      let atKill = 0
      const { a, b, workload } = yield* runWorkload(cluster, 40, (workload) =>
        Effect.gen(function* () {
          yield* whenCommitted(workload, 8)
          atKill = workload.committed.length
          yield* cluster.b.kill("SIGKILL")
          yield* startWorker("branch-b", cluster.dir, cluster.coordinator.info.port, cluster.b.info.port)
        })
      )
      expect(atKill).toBeLessThan(40)
      // Attempts failed while b was down (RpcClientError) or lost (RolledBack), and were driven again.
      expect(Array.from(workload.failures.values()).reduce((x, y) => x + y, 0)).toBeGreaterThan(0)
      // The restart moved the cluster to a new world-line, and both branches followed.
      expect(a.worldLine).toBeGreaterThanOrEqual(2)
      expect(b.worldLine).toBe(a.worldLine)
    }), 60_000)

  it.scopedLive("survives a SIGKILL of the coordinator and its restart: commits resume, nothing is lost", () =>
    Effect.gen(function* () {
      const cluster = yield* bankCluster
      let atKill = 0
      const { a } = yield* runWorkload(cluster, 40, (workload) =>
        Effect.gen(function* () {
          yield* whenCommitted(workload, 8)
          atKill = workload.committed.length
          yield* cluster.coordinator.kill("SIGKILL")
          yield* startCoordinator(cluster.dir, cluster.coordinator.info.port)
        })
      )
      expect(atKill).toBeLessThan(40)
      // Re-attaching after a coordinator restart is not a failure: the world-line stays.
      expect(a.worldLine).toBe(1)
    }), 60_000)
})
