/**
 * `dse kill NAME [--data DIR]`: SIGKILL a process of the cluster by its pid in cluster.json (for
 * demos and tests). The supervisor restarts it, unless the cluster runs with --no-auto-restart.
 */
import { Args, Command } from "@effect/cli"
import { Console, Effect } from "effect"
import * as CliError from "../CliError"
import { ClusterFile } from "@dse/launcher"
import { Connect } from "@dse/launcher"
import * as Shared from "./Shared"

const name = Args.text({ name: "NAME" }).pipe(Args.withDescription("the process: coordinator, wal, kv-0, broker, workflow..."))

export const command = Command.make("kill", { name, data: Shared.data }, ({ name, data }) =>
  Effect.gen(function* () {
    const located = yield* Connect.locate(data)
    const cluster = yield* Connect.requireClusterFile(located)
    const entry = cluster.processes.find((p) => p.name === name)
    if (entry === undefined) {
      return yield* CliError.fail(`no process named ${name}; the cluster's processes: ${cluster.processes.map((p) => p.name).join(", ")}`)
    }
    if (entry.pid === null || !ClusterFile.isOurs(entry.pid)) {
      return yield* CliError.fail(`${name} is not running (state ${entry.state ?? "unknown"})`)
    }
    yield* Effect.try({
      try: () => process.kill(entry.pid!, "SIGKILL"),
      catch: (e) => CliError.fail(`cannot kill ${name} (pid ${entry.pid}): ${CliError.describe(e)}`)
    })
    yield* Console.log(
      `killed ${name} (pid ${entry.pid}) with SIGKILL; ` +
        (cluster.autoRestart === false
          ? `auto-restart is off: it stays down (\`dse restart ${name}\` starts it again)`
          : "the supervisor restarts it (watch `dse status`)")
    )
  })
).pipe(Command.withDescription("SIGKILL a process of the cluster (the supervisor restarts it)"))
