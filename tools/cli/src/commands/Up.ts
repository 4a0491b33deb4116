/**
 * `dse up [--data DIR] [--mode M] [--kv-shards N] [--seal-period MS] [--no-auto-restart]`: starts a
 * local cluster as child processes and supervises it until Ctrl-C (SIGINT or SIGTERM), which stops
 * the services, then the coordinator, and removes DIR/cluster.json.
 */
import type { ClusterStatus } from "@dse/core"
import { Command, Options } from "@effect/cli"
import { Console, Deferred, Effect, Option, Schedule } from "effect"
import * as CliError from "../CliError"
import { Cluster } from "@dse/launcher"
import { Connect } from "@dse/launcher"
import * as Display from "../internal/Display"
import * as Render from "../Render"
import * as Shared from "./Shared"

const kvShards = Options.integer("kv-shards").pipe(
  Options.withDefault(3),
  Options.withDescription("number of KV shards (kv-0 .. kv-N-1)")
)
const sealPeriod = Options.integer("seal-period").pipe(
  Options.withDescription("how often workers seal a version, in ms (default 10)"),
  Options.optional
)
const noAutoRestart = Options.boolean("no-auto-restart").pipe(
  Options.withDescription("do not restart a process that dies")
)
const coordinatorPort = Options.integer("coordinator-port").pipe(
  Options.withDefault(0),
  Options.withDescription("the coordinator's port (default 0: a free one)")
)
const brokerTopics = Options.text("broker-topics").pipe(
  Options.withDefault("events:2"),
  Options.withDescription("the broker's topics, name:partitions,...")
)

export const command = Command.make(
  "up",
  { data: Shared.data, mode: Shared.mode, kvShards, sealPeriod, noAutoRestart, coordinatorPort, brokerTopics },
  (options) =>
    Effect.scoped(
      Effect.gen(function* () {
        if (options.kvShards < 1 || options.kvShards > 64) return yield* Effect.fail(CliError.usage("--kv-shards must be 1..64"))
        if (Option.isSome(options.sealPeriod) && options.sealPeriod.value < 1) return yield* Effect.fail(CliError.usage("--seal-period must be >= 1"))
        const tty = process.stdout.isTTY === true
        yield* Effect.addFinalizer(() => Console.log(Render.dim("stopped: every process has exited")))
        const cluster = yield* Cluster.start({
          dataDir: options.data,
          mode: options.mode,
          kvShards: options.kvShards,
          sealPeriod: Option.getOrUndefined(options.sealPeriod),
          autoRestart: !options.noAutoRestart,
          coordinatorPort: options.coordinatorPort,
          brokerTopics: options.brokerTopics,
          progress: (line) => process.stdout.write(Render.dim(`${line}...`) + "\n")
        })
        yield* Effect.addFinalizer(() => Console.log(Render.dim("stopping the services, then the coordinator...")))
        for (const s of cluster.skipped) yield* Console.log(Render.yellow(`not started: ${s.name} (${s.reason})`))
        yield* Console.log(
          [
            `${Render.bold("dse cluster up")} in ${cluster.dataDir} (${cluster.mode})`,
            `  coordinator ${cluster.coordinator.host}:${cluster.coordinator.port}, control API ${cluster.control.host}:${cluster.control.port}, logs in ${cluster.dataDir}/logs`,
            `  try: pnpm dse status --data ${options.data}   |   pnpm dse kill kv-0 --data ${options.data}   |   Ctrl-C to stop`
          ].join("\n")
        )

        // The coordinator's view (world-line, versions), polled for the display.
        const located = yield* Connect.locate(cluster.dataDir)
        const client = yield* Connect.coordinator(located, "2 seconds")
        let status: ClusterStatus | undefined
        let lastWorldLine = 0
        const header = () => `${Render.bold("processes")} ${Render.dim(new Date().toISOString().slice(11, 19))}`
        const screen = tty ? new Display.InPlace(process.stdout) : undefined
        const seen = new Map<string, string>()
        const redraw = () => {
          const processes = cluster.supervisor.statuses()
          if (screen) {
            screen.draw(Display.lines(header(), processes, status))
          } else {
            for (const line of Display.changes(seen, processes)) process.stdout.write(line + "\n")
            for (const p of processes) seen.set(p.name, Display.keyOf(p))
          }
        }
        redraw()
        // Stays registered while the cluster stops, so that the processes are seen stopping.
        cluster.supervisor.onChange(redraw)
        yield* client.status.pipe(
          Effect.tap((s) =>
            Effect.sync(() => {
              status = s
              if (!tty && s.worldLine !== lastWorldLine) {
                if (lastWorldLine !== 0) process.stdout.write(`[${new Date().toISOString().slice(11, 23)}] world-line ${lastWorldLine} -> ${s.worldLine}\n`)
                lastWorldLine = s.worldLine
              }
              if (tty) redraw()
            })
          ),
          Effect.ignore,
          Effect.repeat(Schedule.spaced("1 second")),
          Effect.forkScoped
        )
        // Until Ctrl-C (the runtime interrupts this fiber and the scope stops everything) or `dse down`.
        yield* Deferred.await(cluster.shutdown)
        yield* Console.log("shutdown requested through the control API")
      })
    )
).pipe(Command.withDescription("start a local cluster as child processes on loopback; Ctrl-C stops it"))
