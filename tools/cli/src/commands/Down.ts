/**
 * `dse down [--data DIR]`: stops a running cluster as Ctrl-C in its `dse up` terminal would (through
 * the supervisor's control API). If the supervisor is gone (it was SIGKILLed), sends SIGTERM to the
 * processes cluster.json still names (services first, the coordinator last) and removes the file.
 */
import { Command } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import * as CliError from "../CliError"
import { ClusterFile } from "@dse/launcher"
import { ControlApi } from "@dse/launcher"
import { Paths } from "@dse/launcher"
import * as Shared from "./Shared"
import * as fs from "node:fs"

const waitGone = (pids: ReadonlyArray<number>, ms: number) =>
  Effect.gen(function* () {
    const deadline = Date.now() + ms
    while (Date.now() < deadline && pids.some((p) => ClusterFile.isOurs(p))) yield* Effect.sleep("100 millis")
    return pids.filter((p) => ClusterFile.isOurs(p))
  })

export const command = Command.make("down", { data: Shared.data }, ({ data }) =>
  Effect.gen(function* () {
    const dataDir = Paths.dataDir(data)
    const cluster = yield* ClusterFile.read(dataDir).pipe(Effect.mapError((e) => CliError.fail(e.message)))
    if (Option.isNone(cluster)) return yield* CliError.fail(`no cluster is running in ${dataDir} (no cluster.json)`)
    const info = cluster.value
    const live = ClusterFile.livePids(info)
    if (live.length === 0) {
      fs.rmSync(Paths.clusterFile(dataDir), { force: true })
      return yield* Console.log(`nothing was running in ${dataDir}; removed its stale cluster.json`)
    }
    const supervisor = live.find((p) => p.name === "supervisor")
    if (supervisor !== undefined) {
      yield* ControlApi.shutdown(info.control)
      const left = yield* waitGone(live.map((p) => p.pid), 30_000)
      if (left.length > 0) return yield* CliError.fail(`still running after 30 s: pids ${left.join(", ")}`)
      return yield* Console.log(`stopped the cluster in ${dataDir}`)
    }
    // No supervisor: stop the orphans ourselves.
    const order = [...live.filter((p) => p.name !== "coordinator"), ...live.filter((p) => p.name === "coordinator")]
    for (const p of order) {
      try {
        process.kill(p.pid, "SIGTERM")
      } catch {
        // gone
      }
      if (p.name === "coordinator") yield* waitGone([p.pid], 5_000)
    }
    const left = yield* waitGone(order.map((p) => p.pid), 10_000)
    for (const pid of left) {
      try {
        process.kill(pid, "SIGKILL")
      } catch {
        // gone
      }
    }
    fs.rmSync(Paths.clusterFile(dataDir), { force: true })
    yield* Console.log(`its supervisor was gone: stopped ${order.map((p) => `${p.name} (pid ${p.pid})`).join(", ")}`)
  })
).pipe(Command.withDescription("stop a running cluster (as Ctrl-C in its `dse up` would)"))
