/**
 * A local cluster as child processes (what `dse up` and `dse demo` run): the coordinator first,
 * then the WAL, the KV shards and the broker (concurrently), then the workflow host (it discovers
 * the KV shards through the coordinator). On a data directory that held a cluster before (after a
 * crash, or a clean stop) every service starts at once, because the recovering coordinator answers
 * no registration until all its former members are back. Every process gets `--data DIR --mode M` and the
 * coordinator's address. The supervisor restarts what dies; cluster.json records what runs (updated
 * on every change) and the control API lets other commands ask for restarts.
 *
 * Services whose `src/main.ts` is not in this checkout, or whose process does not start (the
 * broker and the workflow host: optional) are skipped and reported in `skipped`; the coordinator,
 * the WAL and the KV are required.
 */
import { CoordinatorFile } from "@dse/coordinator-service"
import type { ExecutionMode } from "@dse/core"
import type { CommandExecutor } from "@effect/platform"
import type { Scope } from "effect"
import { Deferred, Effect, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as LaunchError from "./LaunchError"
import * as ClusterFile from "./ClusterFile"
import * as ControlApi from "./ControlApi"
import * as Paths from "./Paths"
import type { ProcessSpec, ProcessStatus } from "./Supervisor"
import { Supervisor } from "./Supervisor"

export interface ClusterOptions {
  readonly dataDir: string
  readonly mode: ExecutionMode
  /** Number of KV shards (kv-0 .. kv-N-1). */
  readonly kvShards: number
  /** `--seal-period MS` for every worker process. */
  readonly sealPeriod?: number | undefined
  readonly autoRestart: boolean
  /** The coordinator's port (default 0: a free one). */
  readonly coordinatorPort?: number | undefined
  /** The broker's `--topics` (default `events:2`). */
  readonly brokerTopics?: string | undefined
  /** Start the broker / the workflow host when they exist (default true). */
  readonly broker?: boolean | undefined
  readonly workflow?: boolean | undefined
  /**
   * Also run a broker pipeline stage as a process of its own, `relay`: every event of topic `from`
   * to the same partition of topic `to` (both in `brokerTopics`), exactly once. Default: none.
   */
  readonly relay?: { readonly from: string; readonly to: string } | undefined
  /** Progress messages while starting. */
  readonly progress?: ((line: string) => void) | undefined
  /** How long a process may take to print its ready line. Default 120 s (a loaded machine is slow to start tsx). */
  readonly startTimeoutSeconds?: number | undefined
}

export interface Cluster {
  readonly dataDir: string
  readonly mode: ExecutionMode
  readonly startedAt: string
  readonly supervisor: Supervisor
  readonly coordinator: { readonly host: string; readonly port: number }
  readonly control: ControlApi.ControlAddress
  /** Services that were not started, and why. */
  readonly skipped: ReadonlyArray<{ readonly name: string; readonly reason: string }>
  /** Completed when someone asks the cluster to stop (POST /shutdown). */
  readonly shutdown: Deferred.Deferred<void>
  readonly info: () => ClusterFile.ClusterInfo
}

/** Fails when the data directory belongs to a cluster that runs (cluster.json or coordinator.json with live pids). */
export const ensureFree = (dataDir: string): Effect.Effect<void, LaunchError.LaunchError> =>
  Effect.gen(function* () {
    const cluster = yield* ClusterFile.read(dataDir).pipe(
      // A damaged cluster.json names nothing we could check: the coordinator file decides.
      Effect.orElseSucceed(() => Option.none<ClusterFile.ClusterInfo>())
    )
    if (Option.isSome(cluster)) {
      const live = ClusterFile.livePids(cluster.value)
      if (live.length > 0) {
        const control = cluster.value.control
        return yield* LaunchError.fail(
          `a cluster is already running in ${dataDir} (started ${cluster.value.startedAt}; live: ` +
            `${live.map((p) => `${p.name} pid ${p.pid}`).join(", ")}).\n` +
            `  Stop it first: Ctrl-C in the terminal of its \`dse up\`, or \`pnpm dse down --data ${dataDir}\`` +
            ` (control API ${control.host}:${control.port}); or use another --data directory.`
        )
      }
    }
    const coordinator = yield* CoordinatorFile.read(dataDir).pipe(Effect.orElseSucceed(() => Option.none()))
    if (Option.isSome(coordinator) && coordinator.value.pid !== process.pid && ClusterFile.isOurs(coordinator.value.pid)) {
      return yield* LaunchError.fail(
        `a coordinator is already running in ${dataDir} (pid ${coordinator.value.pid}, ${coordinator.value.host}:${coordinator.value.port}), ` +
          `started outside \`dse up\`: stop it first, or use another --data directory.`
      )
    }
  })

const startFailed = (e: { readonly message: string }) => Effect.fail(LaunchError.fail(e.message))

/** Starts the cluster; it runs until the scope closes (then every process is stopped, services first). */
export const start = (
  options: ClusterOptions
): Effect.Effect<Cluster, LaunchError.LaunchError, Scope.Scope | CommandExecutor.CommandExecutor> =>
  Effect.gen(function* () {
    const dataDir = Paths.dataDir(options.dataDir)
    const say = options.progress ?? (() => {})
    if (fs.existsSync(dataDir) && !fs.statSync(dataDir).isDirectory()) {
      return yield* LaunchError.fail(`--data ${dataDir} is not a directory`)
    }
    fs.mkdirSync(dataDir, { recursive: true })
    yield* ensureFree(dataDir)
    // The coordinator's durable state: this data directory held a cluster before.
    const restarting = fs.existsSync(path.join(dataDir, "coordinator.db"))

    const entries = {
      coordinator: Paths.entryOf("coordinator"),
      wal: Paths.entryOf("wal"),
      kv: Paths.entryOf("kv"),
      broker: options.broker === false ? undefined : Paths.entryOf("broker"),
      workflow: options.workflow === false ? undefined : Paths.entryOf("workflow"),
      relay: options.relay === undefined || options.broker === false ? undefined : Paths.entryOf("relay")
    }
    for (const kind of ["coordinator", "wal", "kv"] as const) {
      if (entries[kind] === undefined) {
        return yield* LaunchError.fail(`the ${kind} service is missing: ${Paths.serviceEntries[kind]} does not exist in ${Paths.repoRoot}`)
      }
    }
    const skipped: Array<{ name: string; reason: string }> = []
    if (entries.broker === undefined) {
      skipped.push({ name: "broker", reason: options.broker === false ? "not requested" : `${Paths.serviceEntries.broker} does not exist yet` })
    }
    if (entries.workflow === undefined) {
      skipped.push({ name: "workflow", reason: options.workflow === false ? "not requested" : `${Paths.serviceEntries.workflow} does not exist yet` })
    }

    const startedAt = new Date().toISOString()
    const shutdown = yield* Deferred.make<void>()
    // Removed after the supervisor has stopped everything (finalizers run in reverse order).
    let stopListening = () => {}
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        stopListening()
        ClusterFile.removeSync(dataDir, process.pid)
      })
    )
    const supervisor = yield* Supervisor.make({
      dataDir,
      cwd: Paths.repoRoot,
      autoRestart: options.autoRestart,
      startTimeout: `${options.startTimeoutSeconds ?? 120} seconds`
    })
    const control = yield* ControlApi.serve(supervisor, shutdown)
    const info = (): ClusterFile.ClusterInfo => ({
      mode: options.mode,
      startedAt,
      dataDir,
      supervisorPid: process.pid,
      autoRestart: options.autoRestart,
      control,
      processes: supervisor.statuses().map((s: ProcessStatus) => ({
        name: s.name,
        kind: s.kind,
        pid: s.pid ?? null,
        address: s.address ?? null,
        args: [...s.args],
        state: s.state,
        restarts: s.restarts,
        log: supervisor.logPath(s.name)
      }))
    })
    const save = () => {
      try {
        ClusterFile.writeSync(dataDir, info())
      } catch {
        // the next change writes it again
      }
    }
    save()
    stopListening = supervisor.onChange(save)

    const spec = (name: string, kind: Paths.ServiceKind, args: ReadonlyArray<string>): ProcessSpec => ({
      name,
      kind,
      entry: entries[kind]!,
      args
    })

    /**
     * The coordinator, the WAL and the KV are required: the cluster fails to start without them.
     * The broker, the workflow host and the relay are optional: when one does not start, the cluster runs
     * without it, and `skipped` says why (its log has the details).
     */
    const startOne = (s: ProcessSpec): Effect.Effect<void, LaunchError.LaunchError> =>
      supervisor.start(s).pipe(
        Effect.asVoid,
        Effect.catchAll((e) => {
          if (s.kind !== "broker" && s.kind !== "workflow" && s.kind !== "relay") return startFailed(e)
          const why = e.excerpt.length > 0 ? `${e.reason}: ${e.excerpt[e.excerpt.length - 1]}` : e.reason
          return Effect.zipRight(
            supervisor.stop(s.name),
            Effect.sync(() => {
              skipped.push({ name: s.name, reason: `it did not start (${why}; log ${e.log})` })
              say(`${s.name} did not start; the cluster runs without it (see ${e.log})`)
            })
          )
        })
      )

    say(`starting the coordinator (data ${dataDir}, mode ${options.mode})`)
    const coordinatorStatus = yield* supervisor
      .start(spec("coordinator", "coordinator", ["--data", dataDir, "--port", String(options.coordinatorPort ?? 0)]))
      .pipe(Effect.catchAll(startFailed))
    const [host, port] = splitAddress(coordinatorStatus.address!)
    const common = [
      "--data",
      dataDir,
      "--coordinator",
      `${host}:${port}`,
      "--mode",
      options.mode,
      "--port",
      "0",
      ...(options.sealPeriod !== undefined ? ["--seal-period", String(options.sealPeriod)] : [])
    ]
    const services: Array<ProcessSpec> = [
      spec("wal", "wal", common),
      ...Array.from({ length: options.kvShards }, (_, i) => spec(`kv-${i}`, "kv", [...common, "--shard", String(i)]))
    ]
    const topics = options.brokerTopics ?? "events:2"
    if (entries.broker !== undefined) services.push(spec("broker", "broker", [...common, "--topics", topics]))
    // The relay is no member: it reads the partitions' addresses from the coordinator, so on a fresh
    // data directory it starts once the broker is up (like the host, below).
    const relaySpec =
      entries.broker !== undefined && entries.relay !== undefined && options.relay !== undefined
        ? spec("relay", "relay", [...common, "--topics", topics, "--from", options.relay.from, "--to", options.relay.to])
        : undefined
    // After a crash of the whole cluster the coordinator rebuilds: it answers no member's Register
    // until every former member has re-attached, so nobody may wait for anybody else's ready line.
    // On a fresh data directory the workflow host comes last: it discovers the KV shards through
    // the coordinator once they have registered.
    const recovering = restarting
    // The host waits for all KV shards: a partial list would route keys to the wrong shards.
    const workflowSpec = () => spec("workflow", "workflow", options.kvShards > 0 ? [...common, "--kv-shards", String(options.kvShards)] : common)
    if (recovering && entries.workflow !== undefined) services.push(workflowSpec())
    if (recovering && relaySpec !== undefined) services.push(relaySpec)
    say(`${recovering ? "recovering the cluster of this data directory: " : ""}starting ${services.map((s) => s.name).join(", ")}`)
    yield* Effect.forEach(services, startOne, { concurrency: "unbounded", discard: true })
    const later = recovering ? [] : [...(entries.workflow !== undefined ? [workflowSpec()] : []), ...(relaySpec !== undefined ? [relaySpec] : [])]
    if (later.length > 0) {
      say(`starting ${later.map((s) => (s.name === "workflow" ? "the workflow host" : s.name)).join(" and ")}`)
      yield* Effect.forEach(later, startOne, { concurrency: "unbounded", discard: true })
    }
    save()
    return {
      dataDir,
      mode: options.mode,
      startedAt,
      supervisor,
      coordinator: { host, port },
      control,
      skipped,
      shutdown,
      info
    }
  })

/** `host:port` (also `[v6]:port`) as its parts. */
export const splitAddress = (address: string): readonly [string, number] => {
  const i = address.lastIndexOf(":")
  const host = address.slice(0, i).replace(/^\[(.*)\]$/, "$1")
  return [host, Number(address.slice(i + 1))]
}
