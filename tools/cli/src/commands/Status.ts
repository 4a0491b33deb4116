/**
 * `dse status [--json] [--data DIR]`: world-line, committed cut, and per worker its process, its
 * versions (persisted and committed, as the coordinator sees them), commit lag and checkpoint size.
 */
import { Command } from "@effect/cli"
import { Console, Effect } from "effect"
type StatusReport = Connect.StatusReport
import { Connect } from "@dse/launcher"
import * as Render from "../Render"
import * as Shared from "./Shared"

/** The JSON document of `dse status --json`. */
export const toJson = (report: StatusReport) => ({
  dataDir: report.dataDir,
  mode: report.mode,
  worldLine: report.worldLine,
  rebuilding: report.rebuilding,
  coordinator: report.coordinator,
  cut: report.cut,
  workers: report.workers.map((w) => ({
    name: w.name,
    pid: w.pid,
    version: w.version,
    committed: w.committed,
    kind: w.kind,
    address: w.address,
    lag: w.lag,
    bytes: w.bytes,
    id: w.id,
    pending: w.pending,
    registered: w.registered
  })),
  processes: report.processes
})

/** The text form. */
export const render = (report: StatusReport): string => {
  const lines: Array<string> = []
  lines.push(
    `${Render.bold("cluster")} ${report.dataDir}${report.mode ? ` (${report.mode})` : ""}, coordinator ${report.coordinator.host}:${report.coordinator.port} (pid ${report.coordinator.pid})`
  )
  lines.push(
    `${Render.bold("world-line")} ${report.worldLine}${report.rebuilding ? Render.yellow("  rebuilding: commits pause until every member re-attaches") : ""}`
  )
  lines.push(
    `${Render.bold("committed cut")} ${report.cut.length === 0 ? "(empty)" : report.cut.map((c) => `${c.worker}@${c.version}`).join("  ")}`
  )
  lines.push("")
  lines.push(
    Render.table(
      ["worker", "kind", "pid", "address", "version", "committed", "lag", "checkpoint"],
      report.workers.map((w) => [
        w.registered ? w.name : `${w.name} ${Render.red("(not attached)")}`,
        w.kind ?? "-",
        w.pid ?? "-",
        w.address ?? "-",
        w.version,
        w.committed,
        w.lag,
        Render.bytes(w.bytes)
      ])
    )
  )
  if (report.processes.length > 0) {
    lines.push("")
    lines.push(
      Render.table(
        ["process", "kind", "state", "pid", "address", "restarts"],
        report.processes.map((p) => [
          p.name,
          p.kind,
          p.alive ? Render.green(p.state) : Render.red(p.state === "up" ? "gone" : p.state),
          p.pid ?? "-",
          p.address ?? "-",
          p.restarts
        ])
      )
    )
    lines.push(Render.dim(`logs: ${report.dataDir}/logs/<process>.log`))
  }
  return lines.join("\n")
}

export const command = Command.make("status", { data: Shared.data, json: Shared.json }, ({ data, json }) =>
  Effect.scoped(
    Effect.gen(function* () {
      const report = yield* Connect.statusReport(data)
      yield* Console.log(json ? JSON.stringify(toJson(report), null, 2) : render(report))
    })
  )
).pipe(Command.withDescription("world-line, committed cut, each worker's versions, commit lag, checkpoint sizes"))
