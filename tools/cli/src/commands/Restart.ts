/**
 * `dse restart NAME [--data DIR]`: asks the cluster's supervisor (its control API) to stop the
 * process (SIGTERM) and start it again on the same port; prints its new pid once it is ready.
 */
import { Args, Command } from "@effect/cli"
import { Console, Effect } from "effect"
import { Connect } from "@dse/launcher"
import { ControlApi } from "@dse/launcher"
import * as Shared from "./Shared"

const name = Args.text({ name: "NAME" }).pipe(Args.withDescription("the process: coordinator, wal, kv-0, broker, workflow..."))

export const command = Command.make("restart", { name, data: Shared.data, json: Shared.json }, ({ name, data, json }) =>
  Effect.gen(function* () {
    const located = yield* Connect.locate(data)
    const cluster = yield* Connect.requireClusterFile(located)
    const status = yield* ControlApi.restart(cluster.control, name)
    yield* Console.log(
      json ? JSON.stringify(status) : `restarted ${status.name}: pid ${status.pid}, ${status.address}, restarts ${status.restarts}`
    )
  })
).pipe(Command.withDescription("stop a process and start it again (through the supervisor)"))
