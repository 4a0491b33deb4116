/**
 * `dse demo [--quick]`: the main job of the README's first command.
 *
 * On a fresh temporary data directory, for speculative mode and then durable mode: brings a local
 * cluster up (the supervisor of `dse up`: coordinator, WAL, 3 KV shards, and the broker and the
 * workflow host when they exist), runs bank transfers from a client that is inside the DSE domain
 * (each transfer an sthread: debit and credit on different KV shards, a WAL append, a broker event;
 * done when committed), SIGKILLs a KV shard mid-run in speculative mode (the supervisor restarts
 * it; the cluster moves to a new world-line; lost transfers are driven again with the same
 * idempotency keys), checks with committed reads that every committed transfer is reflected
 * exactly once and money is conserved, runs the TravelSaga workflow on the workflow host (one trip
 * reserved on every shard, one sold out and compensated), prints the committed cut, and finally the
 * latency of a transfer until committed in both modes (speculative: the transfers that committed
 * before the SIGKILL; durable mode runs without the workflow host, which its workload does not
 * use). Exit code 1 if a check fails.
 *
 * The temporary directory and every child process are removed at the end, also on Ctrl-C.
 */
import { RemoteCoordinatorClient } from "@dse/coordinator-service"
import type { ClusterStatus, ExecutionMode } from "@dse/core"
import { CoordinatorClient, Dse } from "@dse/core"
import { Command, Options } from "@effect/cli"
import { Console, Duration, Effect, Fiber, Layer, Option } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as CliError from "../CliError"
import { Cluster } from "@dse/launcher"
import { Connect } from "@dse/launcher"
import { Paths } from "@dse/launcher"
import * as Render from "../Render"
import * as Services from "../Services"
import * as Workload from "../internal/BankWorkload"
import * as SagaStep from "../internal/SagaStep"
import type { BrokerStep } from "../internal/BrokerStep"
import * as Status from "./Status"

const VICTIM = "kv-1"

export interface DemoOptions {
  readonly quick: boolean
  readonly lanes: number
  readonly perLane: number
  readonly seed: number
  readonly keep: boolean
}

interface ModeResult {
  readonly mode: ExecutionMode
  readonly outcomes: ReadonlyArray<Workload.Outcome>
  readonly checks: ReadonlyArray<Workload.Check>
  readonly workloadSeconds: number
  /** Committed transfers not disturbed by the crash (committed before the SIGKILL, never retried): the latency sample. */
  readonly clean: ReadonlyArray<Workload.Outcome>
}

const line = (text = "") => Console.log(text)
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

/** Waits until `condition` holds (polling), or fails with `what` after `timeout`. */
const waitFor = (what: string, condition: () => boolean, timeout: Duration.DurationInput = "60 seconds") =>
  Effect.gen(function* () {
    const deadline = Date.now() + Duration.toMillis(Duration.decode(timeout))
    while (!condition()) {
      if (Date.now() > deadline) return yield* CliError.fail(`timed out waiting for ${what}`)
      yield* Effect.sleep("25 millis")
    }
  })

/** The broker's demo step, when the broker runs (loaded lazily: the broker may still be in the making). */
const loadBroker = (discover: Effect.Effect<ClusterStatus, any>) =>
  Effect.gen(function* () {
    const module = yield* Effect.tryPromise(() => import("../internal/BrokerStep"))
    return yield* module.make(discover)
  }).pipe(
    Effect.map(Option.some),
    Effect.catchAll((e) =>
      Effect.as(Console.log(Render.yellow(`  (the broker's client did not load, the workload runs without it: ${CliError.describe(e)})`)), Option.none<BrokerStep>())
    )
  )

const runMode = (root: string, mode: ExecutionMode, options: DemoOptions, withCrash: boolean) =>
  Effect.scoped(
    Effect.gen(function* () {
      yield* line()
      yield* line(Render.bold(Render.cyan(`== ${mode} mode ==`)))
      const started = performance.now()
      const cluster = yield* Cluster.start({
        dataDir: path.join(root, mode),
        mode,
        kvShards: 3,
        autoRestart: true,
        broker: !options.quick,
        workflow: !options.quick && withCrash,
        brokerTopics: Workload.BROKER_TOPICS,
        progress: (text) => process.stdout.write(Render.dim(`  ${text}...`) + "\n")
      })
      const names = cluster.supervisor.statuses().filter((s) => s.state === "up").map((s) => s.name)
      yield* line(`  cluster up in ${seconds(performance.now() - started)}: ${names.join(", ")}; data ${cluster.dataDir}`)
      for (const s of cluster.skipped) yield* line(Render.dim(`  (not started: ${s.name}, ${s.reason})`))

      // This process joins the DSE domain: its own runtime, connected to the coordinator.
      const coordinator = yield* RemoteCoordinatorClient.make({ host: cluster.coordinator.host, port: cluster.coordinator.port })
      const runtime = yield* Layer.build(Dse.layer({ mode }).pipe(Layer.provide(Layer.succeed(CoordinatorClient, coordinator))))
      const located: Connect.Located = {
        dataDir: cluster.dataDir,
        coordinator: { ...cluster.coordinator, pid: cluster.supervisor.status("coordinator")?.pid ?? 0 },
        cluster: Option.some(cluster.info())
      }
      const status0 = yield* Connect.status(coordinator, located)
      const kv = yield* Services.kv(status0, { timeout: "5 seconds" })
      const wal = yield* Services.wal(status0)
      const broker = names.includes("broker") ? Option.getOrUndefined(yield* loadBroker(coordinator.status)) : undefined
      const services: Workload.Services = { kv, wal, broker }

      const accounts = Workload.accounts(kv)
      yield* Workload.openAccounts(kv, accounts).pipe(Effect.mapError((e) => CliError.fail(`opening the accounts: ${CliError.describe(e)}`)))
      const byShard = Array.from({ length: kv.shards }, (_, s) => `kv-${s}: ${accounts.filter((a) => kv.shardOf(a) === s).map((a) => a.slice(5)).join(", ")}`)
      yield* line(`  ${accounts.length} accounts of ${Workload.INITIAL_BALANCE} (${byShard.join("; ")})`)
      const transfers = Workload.plan(kv, accounts, options.lanes, options.perLane, options.seed)
      yield* line(
        `  ${options.lanes} clients x ${options.perLane} transfers; each one sthread: debit + credit on two shards, a WAL append` +
          `${broker ? ", a broker event" : ""}; done when committed`
      )

      let committed = 0
      const workloadStart = performance.now()
      const chaos = withCrash
        ? yield* Effect.fork(
            Effect.gen(function* () {
              const killAt = Math.max(2, Math.floor(transfers.length * 0.5))
              yield* waitFor(`${killAt} committed transfers`, () => committed >= killAt, "120 seconds")
              const before = (yield* Connect.status(coordinator, located)).worldLine
              const victim = cluster.supervisor.status(VICTIM)
              if (victim?.pid === undefined) return yield* CliError.fail(`${VICTIM} is not running`)
              process.kill(victim.pid, "SIGKILL")
              const killedAt = performance.now()
              yield* line(
                Render.yellow(`  SIGKILL ${VICTIM} (pid ${victim.pid}) after ${committed}/${transfers.length} transfers committed, world-line ${before}`)
              )
              yield* waitFor(
                `${VICTIM} to be restarted`,
                () => {
                  const s = cluster.supervisor.status(VICTIM)
                  return s?.state === "up" && s.pid !== victim.pid
                },
                "90 seconds"
              )
              const restarted = cluster.supervisor.status(VICTIM)!
              const restartedAt = performance.now()
              let after = before
              const deadline = Date.now() + 30_000
              while (after <= before && Date.now() < deadline) {
                yield* Effect.sleep("50 millis")
                after = (yield* Connect.status(coordinator, located)).worldLine
              }
              yield* line(
                Render.yellow(
                  `  ${VICTIM} restarted by the supervisor in ${seconds(restartedAt - killedAt)} (pid ${restarted.pid}, same port ${restarted.address}); ` +
                    `world-line ${before} -> ${after}`
                )
              )
              return { before, after, killedAt }
            })
          )
        : undefined

      const outcomes = yield* Workload.run(services, transfers, {
        mode,
        runId: `demo-${mode}`,
        onCommitted: () => {
          committed++
        }
      }).pipe(Effect.provide(runtime))
      const workloadSeconds = (performance.now() - workloadStart) / 1000
      const crash = chaos ? yield* Fiber.join(chaos).pipe(Effect.either) : undefined
      const ok = outcomes.filter((o) => o.committed).length
      yield* line(`  ${ok}/${outcomes.length} transfers committed in ${workloadSeconds.toFixed(1)} s`)
      const retried = outcomes.filter((o) => o.failures.length > 0)
      if (retried.length > 0) {
        const shown = retried.slice(0, 10).map((o) => `t${o.transfer.id} (${summarizeFailures(o.failures)})`)
        yield* line(
          `  ${retried.length} transfers had to be driven again (same idempotency keys): ${shown.join(", ")}` +
            `${retried.length > shown.length ? `, +${retried.length - shown.length} more` : ""}`
        )
      } else if (withCrash) {
        yield* line("  no transfer had to be driven again")
      }

      yield* line("  checks (committed reads, from outside the domain):")
      const verified = yield* Workload.verify(services, accounts, outcomes).pipe(
        Effect.mapError((e) => CliError.fail(`the committed reads failed: ${CliError.describe(e)}`))
      )
      const checks = [...verified.checks]
      const killedAt = crash?._tag === "Right" ? crash.right.killedAt : Number.POSITIVE_INFINITY
      const clean = outcomes.filter((o) => o.committed && o.failures.length === 0 && o.committedAt < killedAt)
      if (crash) {
        checks.push(
          crash._tag === "Right"
            ? {
                name: `the SIGKILL of ${VICTIM} moved the cluster to a new world-line`,
                passed: crash.right.after > crash.right.before,
                detail: `${crash.right.before} -> ${crash.right.after}`
              }
            : { name: `the SIGKILL of ${VICTIM} and its restart`, passed: false, detail: CliError.describe(crash.left) }
        )
      }
      if (withCrash && names.includes("workflow")) {
        const saga = yield* SagaStep.run(yield* Connect.status(coordinator, located), kv).pipe(
          Effect.timeout("120 seconds"),
          Effect.either
        )
        if (saga._tag === "Right") {
          for (const l of saga.right.lines) yield* line(`  ${l}`)
          checks.push(...saga.right.checks)
        } else {
          checks.push({ name: "the TravelSaga workflow ran on the workflow host", passed: false, detail: CliError.describe(saga.left) })
        }
      }
      for (const c of checks) yield* line(`    ${c.passed ? Render.green("PASS") : Render.red("FAIL")} ${c.name}: ${c.detail}`)

      const status = yield* Connect.status(coordinator, located)
      yield* line()
      yield* line(
        Status.render(Connect.report({ ...located, cluster: Option.some(cluster.info()) }, status))
          .split("\n")
          .map((l) => `  ${l}`)
          .join("\n")
      )
      yield* line(Render.dim("  stopping the cluster..."))
      return { mode, outcomes, checks, workloadSeconds, clean } satisfies ModeResult
    })
  )

const summarizeFailures = (failures: ReadonlyArray<string>) => {
  const counts = new Map<string, number>()
  for (const f of failures) counts.set(f, (counts.get(f) ?? 0) + 1)
  return Array.from(counts, ([tag, n]) => (n > 1 ? `${tag} x${n}` : tag)).join(", ")
}

export const demo = (options: DemoOptions) =>
  Effect.gen(function* () {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "dse-demo-"))
    // Registered first, so it runs last: after every cluster has stopped.
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        if (!options.keep) fs.rmSync(root, { recursive: true, force: true })
      })
    )
    const services = (["broker", "workflow"] as const).filter((k) => Paths.entryOf(k) !== undefined)
    yield* line(Render.bold("dse demo") + ": a local cluster on loopback, bank transfers across services, a SIGKILL mid-run, recovery, latency")
    yield* line(
      Render.dim(
        `  data ${root} (${options.keep ? "kept" : "removed at the end"}); processes: coordinator, wal, kv-0..2` +
          (options.quick ? " (--quick: no broker, no workflow host)" : services.length > 0 ? `, ${services.join(", ")}` : "") +
          `; logs in <data>/<mode>/logs`
      )
    )
    const began = performance.now()
    const speculative = yield* runMode(root, "speculative", options, true)
    const durable = yield* runMode(root, "durable", options, false)

    yield* line()
    yield* line(
      Render.bold("latency of a transfer, until committed") +
        Render.dim(` (${options.lanes} concurrent clients; speculative: the transfers committed before the SIGKILL, never retried)`)
    )
    const rows = [speculative, durable].map((r) => ({ mode: r.mode, s: Render.summarize(r.clean.map((o) => o.latency)) }))
    yield* line(
      Render.table(
        ["mode", "transfers", "p50", "p95", "p99", "mean"],
        rows.map((r) => [r.mode, r.s.count, Render.ms(r.s.p50), Render.ms(r.s.p95), Render.ms(r.s.p99), Render.ms(r.s.mean)]),
        "  "
      )
    )
    const [spec, dur] = [rows[0]!.s, rows[1]!.s]
    yield* line(
      `  durable / speculative: p50 ${(dur.p50 / spec.p50).toFixed(1)}x, p95 ${(dur.p95 / spec.p95).toFixed(1)}x` +
        Render.dim("  (durable: every step waits for its fsync; speculative: one commit wait per transfer)")
    )
    const slowest = Math.max(...speculative.outcomes.filter((o) => o.failures.length > 0 && o.committed).map((o) => o.latency), Number.NEGATIVE_INFINITY)
    if (Number.isFinite(slowest)) yield* line(Render.dim(`  the slowest transfer hit by the crash took ${Render.ms(slowest)} (recovery included)`))

    const checks = [...speculative.checks, ...durable.checks]
    const failed = checks.filter((c) => !c.passed)
    yield* line()
    yield* line(
      failed.length === 0
        ? Render.green(Render.bold(`PASS: all ${checks.length} checks passed`)) + Render.dim(` (${seconds(performance.now() - began)})`)
        : Render.red(Render.bold(`FAIL: ${failed.length} of ${checks.length} checks failed`)) + ` (${failed.map((c) => c.name).join("; ")})`
    )
    if (failed.length > 0) return yield* new CliError.CliError({ message: "", code: 1 })
  }).pipe(Effect.scoped)

export const command = Command.make(
  "demo",
  {
    quick: Options.boolean("quick").pipe(Options.withDescription("a shorter run: fewer transfers, no broker or workflow host")),
    lanes: Options.integer("clients").pipe(Options.withDefault(4), Options.withDescription("concurrent clients")),
    perLane: Options.integer("transfers").pipe(Options.optional, Options.withDescription("transfers per client (default 30; 8 with --quick)")),
    seed: Options.integer("seed").pipe(Options.withDefault(7), Options.withDescription("seed of the transfers' random accounts and amounts")),
    keep: Options.boolean("keep").pipe(Options.withDescription("keep the temporary data directory (its logs) at the end"))
  },
  (o) =>
    Effect.gen(function* () {
      if (o.lanes < 1 || o.lanes > 64) return yield* CliError.usage("--clients must be 1..64")
      const perLane = Option.getOrElse(o.perLane, () => (o.quick ? 8 : 30))
      if (perLane < 1) return yield* CliError.usage("--transfers must be >= 1")
      yield* demo({ quick: o.quick, lanes: o.lanes, perLane, seed: o.seed, keep: o.keep })
    })
).pipe(Command.withDescription("a cluster, a workload across services, a SIGKILL mid-run, recovery, and latency figures"))
