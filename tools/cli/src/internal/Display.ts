/**
 * The live view of `dse up`: one line per process (state, pid, address, restarts, and the worker's
 * versions from the coordinator), redrawn in place on a terminal; on a pipe or a file, one line per
 * change instead (a process going down or up, a world-line change).
 */
import type { ClusterStatus } from "@dse/core"
import type { Supervisor } from "@dse/launcher"
type ProcessStatus = Supervisor.ProcessStatus
import * as Render from "../Render"

const stateText = (s: ProcessStatus): string => {
  switch (s.state) {
    case "up":
      return Render.green("up")
    case "starting":
      return Render.yellow("starting")
    case "down":
      return Render.red("down")
    case "failed":
      return Render.red("FAILED")
    case "stopped":
      return Render.dim("stopped")
  }
}

/** The workers of a process: its name, or (broker) every worker whose address is the process's. */
const workersOf = (p: ProcessStatus, status: ClusterStatus | undefined) =>
  status?.workers.filter((w) => w.name === p.name || (p.address !== undefined && w.address?.endsWith(`//${p.address}`) === true)) ?? []

const versions = (p: ProcessStatus, status: ClusterStatus | undefined): string => {
  const workers = workersOf(p, status)
  if (workers.length === 0) return ""
  if (workers.length === 1) {
    const w = workers[0]!
    const v = Math.max(w.persisted, w.committed)
    return `v${v} committed ${w.committed}${v > w.committed ? ` (lag ${v - w.committed})` : ""}`
  }
  const committed = workers.reduce((s, w) => s + w.committed, 0)
  return `${workers.length} workers, committed versions ${committed}`
}

export const lines = (
  header: string,
  processes: ReadonlyArray<ProcessStatus>,
  status: ClusterStatus | undefined
): Array<string> => {
  const rows = processes.map((p) => [
    p.name,
    p.kind,
    stateText(p),
    p.pid !== undefined ? `pid ${p.pid}` : "",
    p.address ?? "",
    p.restarts > 0 ? `restarts ${p.restarts}` : "",
    p.state === "up" ? versions(p, status) : p.lastExit ? `last: ${p.lastExit}` : ""
  ])
  const world = status ? `world-line ${status.worldLine}${status.rebuilding ? Render.yellow(" (rebuilding)") : ""}` : ""
  return [header + (world ? `  ${world}` : ""), ...Render.table(["process", "kind", "state", "pid", "address", "", ""], rows, "  ").split("\n")]
}

/** Redraws a block of lines in place on a terminal. */
export class InPlace {
  private previous = 0
  constructor(private readonly out: NodeJS.WriteStream) {}

  draw(block: ReadonlyArray<string>): void {
    let text = ""
    if (this.previous > 0) text += `\x1b[${this.previous}F\x1b[J`
    text += block.map((l) => `\x1b[2K${l}`).join("\n") + "\n"
    this.previous = block.length
    this.out.write(text)
  }

  /** Forget the block (the next draw prints below it). */
  release(): void {
    this.previous = 0
  }
}

/** What makes a change worth a line: the state, and the pid once it is up. */
export const keyOf = (p: ProcessStatus): string => (p.state === "up" ? `up/${p.pid}` : p.state)

/** One line per change, for a log. */
export const changes = (before: ReadonlyMap<string, string>, processes: ReadonlyArray<ProcessStatus>): Array<string> => {
  const out: Array<string> = []
  for (const p of processes) {
    const key = keyOf(p)
    if (before.get(p.name) === key) continue
    const time = new Date().toISOString().slice(11, 23)
    const detail =
      p.state === "up"
        ? `up, pid ${p.pid}, ${p.address}${p.restarts > 0 ? `, restarts ${p.restarts}` : ""}`
        : p.state === "starting"
          ? `starting${p.restarts > 0 ? ` (restart ${p.restarts})` : ""}`
          : `${p.state}${p.lastExit ? ` (${p.lastExit})` : ""}`
    out.push(`[${time}] ${p.name}: ${detail}`)
  }
  return out
}
