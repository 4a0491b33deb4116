/**
 * A crash campaign: a local cluster of real processes (@dse/launcher's Cluster: coordinator, WAL,
 * 3 KV shards, broker, the relay: a broker pipeline stage, workflow host) on a temporary data directory, several outside clients that
 * record every operation, and a seeded schedule of SIGKILLs (the supervisor restarts what dies).
 * When the workload's time is up, the clients finish what they started, the campaign waits until
 * every process is back and quiet, reads the final committed state, stops the cluster, inspects the
 * checkpoint files, and runs the checker.
 */
import { BrokerTransport, Topics } from "@dse/broker"
import { RemoteCoordinatorClient } from "@dse/coordinator-service"
import { CoordinatorClient, Dse } from "@dse/core"
import { KvClient } from "@dse/kv"
import { Cluster } from "@dse/launcher"
import { Endpoint } from "@dse/transport"
import { WalClient } from "@dse/wal"
import { WorkflowClient } from "@dse/workflow"
import type { CommandExecutor } from "@effect/platform"
import { Data, Effect, Either, Exit, Fiber, Layer, Option, Schedule, Scope } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Checker from "./Checker"
import * as FaultSchedule from "./FaultSchedule"
import type { FinalState } from "./FinalState"
import type { History } from "./History"
import { Recorder } from "./History"
import * as Random from "./Random"
import * as ReadFinal from "./ReadFinal"
import type { Violation } from "./Violation"
import * as Workload from "./Workload"

export class CampaignError extends Data.TaggedError("CampaignError")<{ readonly message: string }> {}

export interface CampaignOptions {
  /** Seconds of workload (faults fall between 5% and 85% of it). */
  readonly duration: number
  readonly seed: number
  /** SIGKILLs to deliver. */
  readonly kills: number
  /** Clients of each kind. Defaults: 2 KV writers, 2 bank clients, 2 WAL appenders, 1 broker producer per partition, 1 saga client. */
  readonly clients?: Partial<Record<"kv" | "bank" | "wal" | "broker" | "saga", number>>
  /** Include the broker / the workflow host (default true, when the launcher finds them). */
  readonly broker?: boolean
  readonly workflow?: boolean
  /** `--seal-period` of every worker (default: the services' own, 10 ms). */
  readonly sealPeriod?: number
  /** Unpruned checkpoints a worker may keep at the end (default 64). */
  readonly maxCheckpoints?: number
  /** How long one operation is resent before it is left indeterminate (ms, default 90 s). */
  readonly opDeadline?: number
  /** Replace the workload by the deliberately buggy inside client that acks before commit (the checker's own test). */
  readonly bug?: "ack-before-commit"
  /**
   * At 20% of the workload (once no kill is in progress), stop `worker` cleanly, damage its checkpoint file (`garbage`: random bytes; `torn`: cut
   * in half), check that its start fails with a clear report, then put the saved file back and
   * start it again. Meanwhile the rest of the cluster keeps serving (and is checked as usual).
   */
  readonly corrupt?: { readonly worker: string; readonly style: "garbage" | "torn" } | undefined
  /** The processes the schedule may kill (default: all of them). */
  readonly victims?: ReadonlyArray<string> | undefined
  /** Keep the data directory (logs, checkpoint files, history.json, final.json) and say where. */
  readonly keep?: boolean
  /** Progress lines. */
  readonly log?: (line: string) => void
}

export interface KillRecord {
  readonly at: number
  readonly kind: FaultSchedule.EventKind
  readonly victims: ReadonlyArray<string>
  readonly delivered: number
}

export interface CorruptionRecord {
  readonly worker: string
  readonly style: "garbage" | "torn"
  /** The start on the damaged file failed, naming the file and the damage. */
  readonly detected: boolean
  /** What the failed start reported (its error lines). */
  readonly report: string
  /** The worker came back once its file was restored. */
  readonly recovered: boolean
}

export interface CampaignReport {
  readonly seed: number
  readonly kills: number
  readonly operations: number
  readonly violations: ReadonlyArray<Violation>
  readonly passed: boolean
  readonly events: ReadonlyArray<KillRecord>
  readonly corruption: CorruptionRecord | undefined
  readonly outcomes: Readonly<Record<"ok" | "fail" | "info", number>>
  readonly worldLine: number
  readonly restarts: Readonly<Record<string, number>>
  readonly skipped: ReadonlyArray<string>
  readonly seconds: number
  readonly dataDir: string | undefined
  readonly history: History
  readonly final: FinalState
}

const fail = (message: string) => new CampaignError({ message })

/** Waits (polling) until `condition` holds; false after `timeoutMs`. */
const until = (condition: () => boolean, timeoutMs: number) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    while (!condition()) {
      if (Date.now() > deadline) return false
      yield* Effect.sleep("25 millis")
    }
    return true
  })

const endpointOf = (cluster: Cluster.Cluster, name: string) =>
  Effect.gen(function* () {
    const address = cluster.supervisor.status(name)?.address
    if (address === undefined) return yield* fail(`${name} has no address`)
    const endpoint = Endpoint.parse(address)
    if (Either.isLeft(endpoint)) return yield* fail(`${name}: ${endpoint.left}`)
    return endpoint.right
  })

/** Retries a setup write until the cluster takes it (outside: acknowledged once committed). */
const setupWrite = <A, E>(what: string, effect: Effect.Effect<A, E>) =>
  effect.pipe(
    Effect.timeout("15 seconds"),
    Effect.retry(Schedule.spaced("250 millis").pipe(Schedule.upTo("90 seconds"))),
    Effect.mapError((e) => fail(`setup (${what}): ${Workload.describe(e)}`))
  )

/** Runs a campaign; the cluster and (unless `keep`) its data directory are removed at the end. */
export const campaign = (options: CampaignOptions): Effect.Effect<CampaignReport, CampaignError, CommandExecutor.CommandExecutor> =>
  Effect.scoped(
    Effect.gen(function* () {
      const say = options.log ?? (() => {})
      const began = performance.now()
      const root = fs.mkdtempSync(path.join(os.tmpdir(), "dse-chaos-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => (options.keep ? undefined : fs.rmSync(root, { recursive: true, force: true }))))
      const dataDir = path.join(root, "data")
      const runId = `c${options.seed}`
      const recorder = new Recorder(options.seed)

      // The cluster lives in its own scope: closed before the checkpoint files are read.
      const clusterScope = yield* Scope.make()
      yield* Effect.addFinalizer(() => Scope.close(clusterScope, Exit.void))
      const inCluster = <A, E, R>(effect: Effect.Effect<A, E, R>) => Scope.extend(effect, clusterScope)
      const buggy = options.bug === "ack-before-commit"
      const cluster = yield* inCluster(
        Cluster.start({
          dataDir,
          mode: "speculative",
          kvShards: 3,
          autoRestart: true,
          broker: !buggy && options.broker !== false,
          workflow: !buggy && options.workflow !== false,
          brokerTopics: Workload.BROKER_TOPICS,
          // The broker pipeline: the producers' topic copied, exactly once, to the sink the checker reads.
          relay: { from: Workload.BROKER_TOPIC, to: Workload.BROKER_SINK },
          sealPeriod: options.sealPeriod,
          startTimeoutSeconds: 90,
          progress: (l) => say(`  ${l}`)
        })
      ).pipe(Effect.mapError((e) => fail(`the cluster did not start: ${e.message}`)))
      const names = cluster.supervisor.statuses().map((s) => s.name)
      say(`cluster up: ${names.join(", ")} (data ${dataDir})`)

      const coordinator = yield* inCluster(RemoteCoordinatorClient.make({ host: cluster.coordinator.host, port: cluster.coordinator.port }))
      const kvShards = yield* Effect.forEach([0, 1, 2], (i) => endpointOf(cluster, `kv-${i}`))
      const kv = yield* inCluster(KvClient.connect({ shards: kvShards, timeout: "10 seconds" }))
      const wal = yield* inCluster(
        Effect.flatMap(endpointOf(cluster, "wal"), (endpoint) => WalClient.makeRemote({ endpoint, name: "wal", timeout: "10 seconds" }))
      )
      const broker = names.includes("broker")
        ? yield* inCluster(
            Effect.flatMap(Topics.parse(Workload.BROKER_TOPICS), (topics) => BrokerTransport.make({ topics, discover: coordinator.status, timeout: "10 seconds" }))
          ).pipe(Effect.mapError((e) => fail(`broker client: ${Workload.describe(e)}`)))
        : undefined
      const workflow = names.includes("workflow")
        ? yield* inCluster(Effect.flatMap(endpointOf(cluster, "workflow"), (endpoint) => WorkflowClient.connect({ endpoint, timeout: "20 seconds", retryFor: "60 seconds" })))
        : undefined

      // Setup: opening balances and stock, acknowledged (committed) before the workload starts.
      const accounts = Workload.accounts(kv, runId)
      const stock = Workload.offerings(3, runId)
      const stockLevels: Record<string, number> = {}
      if (workflow) {
        for (const o of stock.plentiful) stockLevels[o] = Workload.STOCK
        stockLevels[stock.scarce] = Workload.SCARCE_STOCK
      }
      yield* Effect.forEach(accounts, (a) => setupWrite(`open ${a}`, kv.put(a, Workload.INITIAL_BALANCE, { idempotencyKey: `open/${a}` })), {
        concurrency: "unbounded",
        discard: true
      })
      yield* Effect.forEach(
        Object.entries(stockLevels),
        ([o, n]) => setupWrite(`stock ${o}`, kv.put(o, { [Workload.FIELD]: n }, { idempotencyKey: `stock/${o}` })),
        { concurrency: "unbounded", discard: true }
      )
      recorder.setSetup({ runId, balances: Object.fromEntries(accounts.map((a) => [a, Workload.INITIAL_BALANCE])), stock: stockLevels })

      // The workload.
      let stopped = false
      const ctx: Workload.Context = {
        recorder,
        runId,
        stopped: () => stopped,
        opDeadline: options.opDeadline ?? 90_000,
        attemptTimeout: 10_000
      }
      const counts = { kv: 2, bank: 2, wal: 2, broker: Workload.BROKER_PARTITIONS, saga: 1, ...options.clients }
      const clients: Array<Effect.Effect<void>> = []
      if (buggy) {
        const runtime = yield* inCluster(Layer.build(Dse.layer({ mode: "speculative" }).pipe(Layer.provide(Layer.succeed(CoordinatorClient, coordinator))))).pipe(
          Effect.mapError((e) => fail(`the buggy client's runtime: ${Workload.describe(e)}`))
        )
        clients.push(Effect.provide(Workload.ackBeforeCommit(ctx, kv, "fast-0"), runtime))
      } else {
        for (let i = 0; i < counts.kv; i++) clients.push(Workload.kvWriter(ctx, kv, `kv-writer-${i}`))
        for (let i = 0; i < counts.bank; i++) clients.push(Workload.bank(ctx, kv, accounts, `bank-${i}`, Random.make(options.seed * 31 + i), i * 1_000_000))
        for (let i = 0; i < counts.wal; i++) clients.push(Workload.walAppender(ctx, wal, `wal-${i}`))
        if (broker) for (let i = 0; i < counts.broker; i++) clients.push(Workload.brokerProducer(ctx, broker, `producer-${i}`, i % Workload.BROKER_PARTITIONS))
        if (workflow) for (let i = 0; i < counts.saga; i++) clients.push(Workload.sagas(ctx, workflow, stock, `saga-${i}`, Random.make(options.seed * 17 + i)))
      }
      say(`workload: ${clients.length} clients for ${options.duration} s, ${options.kills} SIGKILLs (seed ${options.seed})`)
      const workers = yield* Effect.forEach(clients, (c) => Effect.fork(c))

      // The faults.
      const schedule = FaultSchedule.plan({
        seed: options.seed,
        duration: options.duration * 1000,
        kills: options.kills,
        processes: options.victims ?? (buggy ? ["kv-0", "kv-1", "kv-2"] : names)
      })
      const events: Array<KillRecord> = []
      const start = Date.now()
      const allUp = () => cluster.supervisor.statuses().every((s) => s.state === "up")
      // While a checkpoint file is being damaged and restored, its worker is left alone (the others are not).
      let damaging = false
      let killing = false
      const spared = () => (damaging ? options.corrupt?.worker : undefined)
      const ready = () => cluster.supervisor.statuses().every((s) => s.state === "up" || s.name === spared())
      const kill = (wanted: string, note: string) => {
        // The worker whose file is being damaged is replaced by another victim.
        const name = damaging && wanted === spared() ? names.find((n) => n !== wanted && n !== "coordinator" && cluster.supervisor.status(n)?.state === "up") ?? wanted : wanted
        const pid = cluster.supervisor.status(name)?.pid
        if (pid === undefined) return undefined
        try {
          process.kill(pid, "SIGKILL")
        } catch {
          return undefined
        }
        recorder.fault("kill", [name], `SIGKILL pid ${pid} (${note})`)
        return { name, pid }
      }
      /** Waits until `name` runs again as a new process (ready, or only started). */
      const restarted = (name: string, pid: number, ready: boolean, timeoutMs: number) =>
        until(() => {
          const s = cluster.supervisor.status(name)
          return s?.pid !== undefined && s.pid !== pid && (!ready || s.state === "up")
        }, timeoutMs)
      const injector = Effect.gen(function* () {
        for (const event of schedule) {
          const wait = start + event.at - Date.now()
          if (wait > 0) yield* Effect.sleep(`${wait} millis`)
          if (stopped) return
          // Each event starts from a whole cluster (except the second kill of recovery/restart events).
          yield* until(ready, 90_000)
          if (stopped) return
          killing = true
          let delivered = 0
          const [a, b] = event.victims
          if (event.kind === "pair") {
            const first = kill(a!, "pair")
            const second = kill(b!, "pair")
            delivered = (first ? 1 : 0) + (second ? 1 : 0)
          } else if (event.kind === "recovery") {
            const first = kill(a!, "first of a recovery pair")
            if (first) {
              delivered++
              yield* restarted(first.name, first.pid, true, 60_000)
              yield* Effect.sleep(`${event.gap} millis`)
              if (kill(b!, `while the cluster recovers from ${first.name}`)) delivered++
            }
          } else if (event.kind === "restart") {
            const first = kill(a!, "first of a restart pair")
            if (first) {
              delivered++
              yield* restarted(first.name, first.pid, false, 30_000)
              yield* Effect.sleep(`${Math.min(event.gap, 150)} millis`)
              if (kill(first.name, "again, while it restarts")) delivered++
            }
          } else if (kill(a!, event.kind)) delivered++
          // Let the supervisor notice the deaths before anyone else looks at the statuses.
          yield* until(() => event.victims.every((v) => cluster.supervisor.status(v)?.state !== "up"), 2_000)
          killing = false
          events.push({ at: Date.now() - start, kind: event.kind, victims: event.victims, delivered })
          say(`  ${((Date.now() - start) / 1000).toFixed(1)}s SIGKILL ${event.victims.join(" + ")} (${event.kind})`)
        }
      })
      let corruption: CorruptionRecord | undefined
      const corrupt = options.corrupt
      const damage = corrupt
        ? Effect.gen(function* () {
            yield* Effect.sleep(`${Math.round(options.duration * 200)} millis`)
            yield* until(() => !killing && allUp(), 90_000)
            damaging = true
            const file = path.join(dataDir, `${corrupt.worker}.db`)
            yield* cluster.supervisor.stop(corrupt.worker)
            const saved = ["", "-wal", "-shm"].filter((x) => fs.existsSync(file + x))
            for (const x of saved) fs.copyFileSync(file + x, `${file}${x}.saved`)
            for (const x of ["-wal", "-shm"]) fs.rmSync(file + x, { force: true })
            const size = fs.statSync(file).size
            if (corrupt.style === "garbage") {
              const bytes = Buffer.alloc(size)
              const junk = Random.make(options.seed ^ 0xbad)
              for (let i = 0; i < size; i++) bytes[i] = junk.int(256)
              fs.writeFileSync(file, bytes)
            } else {
              fs.truncateSync(file, Math.max(1, Math.floor(size / 2)))
            }
            recorder.fault("corrupt", [corrupt.worker], `${corrupt.style}: ${file} (${size} bytes)`)
            say(`  ${((Date.now() - start) / 1000).toFixed(1)}s damaged ${file} (${corrupt.style}); starting ${corrupt.worker} on it`)
            const attempt = yield* Effect.either(cluster.supervisor.restart(corrupt.worker))
            const report = Either.isLeft(attempt) ? [attempt.left.reason, ...attempt.left.excerpt].join(" | ") : "it started"
            const detected = Either.isLeft(attempt) && /corrupt|unusable|not a dse file|malformed|not a (sqlite )?database/i.test(report) && report.includes(corrupt.worker)
            say(`  ${corrupt.worker} on the damaged file: ${Either.isLeft(attempt) ? "refused to start" : "STARTED"}: ${report.slice(0, 300)}`)
            // The operator's move: put the last good file back and start again.
            yield* cluster.supervisor.stop(corrupt.worker)
            for (const x of ["", "-wal", "-shm"]) fs.rmSync(file + x, { force: true })
            for (const x of saved) fs.renameSync(`${file}${x}.saved`, file + x)
            const back = yield* Effect.either(cluster.supervisor.restart(corrupt.worker))
            recorder.fault("corrupt", [corrupt.worker], `restored the saved file; ${Either.isRight(back) ? "restarted" : `restart failed: ${back.left.message}`}`)
            corruption = { worker: corrupt.worker, style: corrupt.style, detected, report, recovered: Either.isRight(back) }
            damaging = false
          })
        : Effect.void
      const faults = yield* Effect.fork(Effect.zip(injector, damage, { concurrent: true }))
      yield* Effect.sleep(`${options.duration} seconds`)
      // The workload goes on until every scheduled kill was delivered (each event waits for a whole
      // cluster, and restarts take seconds), for at most twice the duration (and 3 minutes) more.
      yield* Fiber.join(faults).pipe(Effect.timeout(`${Math.min(options.duration * 2, 180)} seconds`), Effect.ignore)
      stopped = true
      yield* Fiber.join(faults)
      say(`workload over after ${((Date.now() - start) / 1000).toFixed(0)} s: ${recorder.size} operations; the clients finish what they started`)
      yield* Fiber.joinAll(workers)

      // Quiet: every process back up (a process that gave up restarting is started once more).
      if (!(yield* until(allUp, 45_000))) {
        // A process whose restart was itself killed, or that gave up restarting: start it again.
        for (const s of cluster.supervisor.statuses().filter((s) => s.state !== "up")) {
          say(`  ${s.name} is ${s.state} (${s.lastExit ?? "?"}): starting it again`)
          yield* cluster.supervisor.restart(s.name).pipe(Effect.ignore)
        }
        if (!(yield* until(allUp, 60_000))) {
          const down = cluster.supervisor.statuses().filter((s) => s.state !== "up")
          return yield* fail(`processes did not come back: ${down.map((s) => `${s.name} (${s.state}, ${s.lastExit ?? "?"})`).join(", ")}`)
        }
      }
      say("all processes up; reading the final committed state")
      const live = yield* ReadFinal.kvState(kv, recorder.snapshot()).pipe(Effect.mapError((e) => fail(`final KV read: ${Workload.describe(e)}`)))
      const walLog = yield* ReadFinal.walState(wal).pipe(Effect.mapError((e) => fail(`final WAL read: ${Workload.describe(e)}`)))
      const brokerRead = (e: unknown) => fail(`final broker read: ${Workload.describe(e)}`)
      const sink =
        broker === undefined
          ? undefined
          : names.includes("relay")
            ? yield* ReadFinal.awaitRelay(
                broker,
                Workload.BROKER_SINK,
                recorder.snapshot().operations.flatMap((o) => (o.spec._tag === "Produce" && Checker.promised(o) ? [o.spec.value] : [])),
                90_000
              ).pipe(
                Effect.tap(({ arrived, caughtUp, expected }) =>
                  Effect.sync(() => say(`  relay: ${arrived} of ${expected} acknowledged inputs at the sink${caughtUp ? "" : " after 90 s: it did not catch up"}`))
                ),
                Effect.map((r) => r.sink),
                Effect.mapError(brokerRead)
              )
            : yield* ReadFinal.sinkState(broker, Workload.BROKER_TOPIC).pipe(Effect.mapError(brokerRead))
      const executions = workflow
        ? yield* ReadFinal.executions(workflow, recorder.snapshot()).pipe(Effect.mapError((e) => fail(`final workflow read: ${Workload.describe(e)}`)))
        : undefined
      // Diagnostics only: the checker names them next to a stuck execution.
      const hostStats = workflow ? Option.getOrUndefined(yield* Effect.option(Effect.map(workflow.describe, (d) => d.stats))) : undefined
      const status = yield* coordinator.status.pipe(Effect.option)
      const restarts = Object.fromEntries(cluster.supervisor.statuses().map((s) => [s.name, s.restarts]))
      yield* Scope.close(clusterScope, Exit.void)

      const final: FinalState = {
        ...live,
        wal: walLog,
        ...(sink ? { sink } : {}),
        ...(executions ? { executions } : {}),
        ...(hostStats ? { hostStats } : {}),
        storage: ReadFinal.storage(dataDir)
      }
      const history = recorder.snapshot()
      if (options.keep) {
        fs.writeFileSync(path.join(root, "history.json"), JSON.stringify(history, null, 1))
        fs.writeFileSync(path.join(root, "final.json"), JSON.stringify(final, null, 1))
      }
      const violations = Checker.check(history, final, options.maxCheckpoints !== undefined ? { maxCheckpoints: options.maxCheckpoints } : {})
      if (corrupt && (corruption === undefined || !corruption.detected)) {
        violations.push({
          rule: "corruption-unreported",
          subject: corrupt.worker,
          message:
            corruption === undefined
              ? `the damage to ${corrupt.worker}'s checkpoint file was not carried out before the workload ended`
              : `${corrupt.worker} on a ${corrupt.style} checkpoint file: ${corruption.report}`,
          excerpt: { operations: [], faults: history.faults.filter((f) => f.kind === "corrupt"), omitted: 0 }
        })
      }
      const outcomes = { ok: 0, fail: 0, info: 0 }
      for (const o of history.operations) outcomes[o.outcome]++
      return {
        seed: options.seed,
        kills: events.reduce((a, e) => a + e.delivered, 0),
        operations: history.operations.length,
        violations,
        passed: violations.length === 0,
        events,
        corruption,
        outcomes,
        worldLine: Option.match(status, { onNone: () => 0, onSome: (s) => s.worldLine }),
        restarts,
        skipped: cluster.skipped.map((s) => `${s.name} (${s.reason})`),
        seconds: (performance.now() - began) / 1000,
        dataDir: options.keep ? root : undefined,
        history,
        final
      } satisfies CampaignReport
    })
  )
