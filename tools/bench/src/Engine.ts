/**
 * The benchmark engine behind `dse bench` and `pnpm bench`: runs the chosen suites one after the
 * other on a temporary data directory, shares the dse clusters between suites (one per mode and
 * storage setting, started on first use with everything the run's suites need, stopped after the
 * last suite that needs it), measures the machine's floor first, and writes `results.json`,
 * `report.md` and the SVG charts to the output directory. Progress goes to stderr.
 *
 * Every process it starts is killed by pid and the temporary directory removed when the run ends,
 * fails, or is interrupted (Ctrl-C).
 */
import type { ExecutionMode } from "@dse/core"
import { Cause, Deferred, Effect, Either, Exit, FiberId } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { Floor } from "./Floor"
import * as FloorModule from "./Floor"
import type { Cluster } from "./internal/Cluster"
import * as ClusterModule from "./internal/Cluster"
import * as Launcher from "./internal/Launcher"
import { NodeContext } from "@effect/platform-node"
import type { BenchOptions } from "./Options"
import { InvalidOptions } from "./Options"
import type { BenchReport, Meta, SuiteReport } from "./Report"
import { renderMarkdown, toJson } from "./Report"
import type { ClusterNeed, Suite, SuiteContext } from "./Suite"
import { SUITES } from "./suites"
import * as Svg from "./Svg"

const stamp = (d: Date) => d.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15)

const gitCommit = (): string | undefined => {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: Launcher.REPO, stdio: ["ignore", "pipe", "ignore"] })
      .toString()
      .trim()
  } catch {
    return undefined
  }
}

const keyOf = (mode: ExecutionMode, latency: number) => `${mode}@${latency}`

/** Resolves suite names (in the registry's order, duplicates removed); unknown names fail with the known ones. */
export const selectSuites = (names: ReadonlyArray<string> | undefined): Either.Either<Array<Suite>, InvalidOptions> => {
  if (!names || names.length === 0) return Either.right([...SUITES])
  const unknown = names.filter((name) => !SUITES.some((s) => s.name === name))
  if (unknown.length > 0) {
    return Either.left(new InvalidOptions({ reason: `unknown suite ${unknown.join(", ")} (known: ${SUITES.map((s) => s.name).join(", ")})` }))
  }
  return Either.right(SUITES.filter((s) => names.includes(s.name)))
}

const errorText = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "Some") {
    const e = failure.value as { message?: string; _tag?: string }
    return e && typeof e === "object" && typeof e.message === "string" && e.message.length > 0 ? e.message : String(e?._tag ?? failure.value)
  }
  return Cause.pretty(cause).split("\n").slice(0, 6).join("\n")
}

/**
 * Runs the suites of `options` and writes the results; returns the report. Suites that fail are
 * reported with their error (the others still run).
 */
export const run = (options: BenchOptions = {}): Effect.Effect<BenchReport, InvalidOptions | Error> =>
  Effect.scoped(
    Effect.gen(function* () {
      const started = Date.now()
      const date = new Date()
      const quick = options.quick ?? false
      const storageLatencyMs = options.storageLatencyMs ?? 0
      const suites = yield* selectSuites(options.suites)
      if (options.storageLatencyMs !== undefined && !(options.storageLatencyMs >= 0 && options.storageLatencyMs <= 1000)) {
        return yield* new InvalidOptions({ reason: `storageLatencyMs must be in [0, 1000], got ${options.storageLatencyMs}` })
      }
      const progress =
        options.progress ??
        ((line: string) => {
          process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(1)}s] ${line}\n`)
        })
      // Every chart says where and when it was measured.
      const chartFooter =
        `dse bench, ${date.toISOString().slice(0, 16).replace("T", " ")} UTC, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"})` +
        `${storageLatencyMs > 0 ? `, --storage-latency ${storageLatencyMs} ms emulated on marked series` : ""}${quick ? ", quick run" : ""}`
      const outDir = path.resolve(options.out ?? path.join("bench-results", stamp(date)))
      fs.mkdirSync(outDir, { recursive: true })
      const root = yield* Effect.acquireRelease(
        Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "dse-bench-"))),
        (dir) =>
          Effect.sync(() => {
            if (options.keep) process.stderr.write(`bench: kept ${dir}\n`)
            else fs.rmSync(dir, { recursive: true, force: true })
          })
      )
      const launcher = yield* Launcher.make(root)
      const loadStart = os.loadavg()

      progress(`floor: measuring fsync'd commit and loopback round trip`)
      const floor: Floor = yield* FloorModule.measure(launcher, path.join(root, "floor"), quick).pipe(
        Effect.mapError((e) => new Error(`floor: ${String(e)}`))
      )

      // The shared clusters: what every selected suite needs, per (mode, storage latency).
      const needs = new Map<string, ClusterNeed & { lastUser: number }>()
      suites.forEach((suite, index) => {
        for (const need of suite.needs?.({ quick, storageLatencyMs }) ?? []) {
          const key = keyOf(need.mode, need.storageLatencyMs)
          const prev = needs.get(key)
          needs.set(key, {
            mode: need.mode,
            storageLatencyMs: need.storageLatencyMs,
            kvShards: Math.max(prev?.kvShards ?? 0, need.kvShards),
            wal: (prev?.wal ?? false) || (need.wal ?? false),
            host: (prev?.host ?? false) || (need.host ?? false),
            lastUser: index
          })
        }
      })
      const clusters = new Map<string, Deferred.Deferred<Cluster, unknown>>()
      const pool = {
        get: (mode: ExecutionMode, latency: number): Effect.Effect<Cluster, unknown> =>
          Effect.suspend(() => {
            const key = keyOf(mode, latency)
            const existing = clusters.get(key)
            if (existing) return Deferred.await(existing)
            const deferred = Deferred.unsafeMake<Cluster, unknown>(FiberId.none)
            clusters.set(key, deferred)
            const need = needs.get(key) ?? { mode, storageLatencyMs: latency, kvShards: 1, wal: false, host: false }
            progress(
              `cluster ${key}: starting coordinator, ${need.kvShards} KV shards${need.wal ? ", WAL" : ""}${need.host ? ", workflow host" : ""}`
            )
            return ClusterModule.start(launcher, root, {
              name: `${mode}${latency > 0 ? `-l${latency}` : ""}`,
              mode,
              storageLatencyMs: latency,
              kvShards: need.kvShards,
              wal: need.wal ?? false,
              host: need.host ?? false
            }).pipe(
              Effect.exit,
              Effect.flatMap((exit) => Effect.zipRight(Deferred.done(deferred, exit), exit))
            )
          })
      }

      const reports: Array<SuiteReport> = []
      for (let index = 0; index < suites.length; index++) {
        const suite = suites[index]!
        const t0 = Date.now()
        progress(`${suite.name}: ${suite.title}`)
        const exit = yield* Effect.exit(
          Effect.scoped(
            Effect.gen(function* () {
              // Start the clusters this suite needs, two at a time: a node process loading TypeScript
              // is CPU-bound for seconds, and this machine is shared (more at once only adds load).
              yield* Effect.forEach(suite.needs?.({ quick, storageLatencyMs }) ?? [], (n) => pool.get(n.mode, n.storageLatencyMs), {
                concurrency: 2,
                discard: true
              })
              const ctx: SuiteContext = {
                quick,
                storageLatencyMs,
                progress: (line) => progress(line),
                launcher,
                root,
                pool,
                floor,
                // Cluster processes are owned by the launcher (all stopped when the run ends); a
                // private cluster's are stopped when its suite ends.
                // Not acquireRelease: the Supervisor races the ready line against the child's exit,
                // which would hang in an uninterruptible acquire (the losing fiber cannot be interrupted).
                privateCluster: (o) =>
                  Effect.tap(ClusterModule.start(launcher, root, o), (c) =>
                    Effect.addFinalizer(() =>
                      Effect.forEach(c.processes().slice().reverse(), (p) => launcher.stop(p, 2000), { concurrency: "unbounded", discard: true })
                    )
                  )
              }
              return yield* suite.run(ctx)
            })
          )
        )
        const durationS = (Date.now() - t0) / 1000
        const base = {
          name: suite.name,
          title: suite.title,
          description: suite.description,
          modes: suite.modes,
          requiredModes: suite.requiredModes,
          durationS
        }
        if (Exit.isSuccess(exit)) {
          reports.push({ ...base, result: exit.value, error: undefined })
          for (const c of exit.value.charts) fs.writeFileSync(path.join(outDir, c.file), Svg.render({ ...c, footer: chartFooter }))
          progress(`${suite.name}: done in ${durationS.toFixed(1)} s`)
        } else {
          const error = errorText(exit.cause)
          reports.push({ ...base, result: undefined, error })
          progress(`${suite.name}: FAILED: ${error}`)
        }
        // Stop the shared clusters no later suite needs.
        for (const [key, need] of needs) {
          const deferred = clusters.get(key)
          if (deferred && need.lastUser <= index) {
            clusters.delete(key)
            const started = yield* Effect.exit(Deferred.await(deferred))
            if (Exit.isFailure(started)) continue
            const cluster = started.value
            yield* Effect.forEach(cluster.processes().slice().reverse(), (p) => launcher.stop(p, 2000), { concurrency: "unbounded", discard: true })
          }
        }
      }

      const meta: Meta = {
        date: date.toISOString(),
        cores: os.cpus().length,
        cpu: os.cpus()[0]?.model ?? "?",
        memoryGiB: Math.round(os.totalmem() / 2 ** 30),
        node: process.version,
        platform: `${os.platform()} ${os.release()}`,
        loadAverage: { start: loadStart, end: os.loadavg() },
        quick,
        storageLatencyMs,
        durationS: Math.round((Date.now() - started) / 100) / 10,
        commit: gitCommit(),
        command: options.command ?? "pnpm bench"
      }
      const files: Array<string> = []
      const base: BenchReport = { meta, floor, suites: reports, outDir, files }
      const write = (name: string, text: string) => {
        fs.writeFileSync(path.join(outDir, name), text)
        files.push(path.join(outDir, name))
      }
      for (const s of reports) for (const c of s.result?.charts ?? []) files.push(path.join(outDir, c.file))
      write("results.json", `${JSON.stringify(toJson(base, { cdf: true }), null, 2)}\n`)
      write("report.md", renderMarkdown(base))
      return base
    })
  ).pipe(Effect.provide(NodeContext.layer))
