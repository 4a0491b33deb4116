/**
 * `DIR/cluster.json`: what `dse up` (or `dse demo`) started in a data directory. Written
 * atomically (a temporary file, fsync'd, renamed over the old one) when the cluster is up and after
 * every change of a process (a crash, a restart), and removed when the cluster stops cleanly.
 *
 *   { "mode", "startedAt", "dataDir", "supervisorPid", "autoRestart",
 *     "control": { "host", "port" },
 *     "processes": [ { "name", "kind", "pid", "address", "args", "state", "restarts", "log" } ] }
 *
 * After a crash of the supervisor the file stays: `livePids` tells whether what it names still runs.
 */
import { ExecutionMode } from "@dse/core"
import { Effect, Option, Schema } from "effect"
import * as fs from "node:fs"
import { isAlive } from "./Supervisor"
import * as Paths from "./Paths"

export const ProcessEntry = Schema.Struct({
  name: Schema.String,
  kind: Schema.String,
  /** null while the process is down. */
  pid: Schema.NullOr(Schema.Int),
  /** `host:port` of its ready line (null until it is ready). */
  address: Schema.NullOr(Schema.String),
  args: Schema.Array(Schema.String),
  state: Schema.optional(Schema.String),
  restarts: Schema.optional(Schema.Int),
  log: Schema.optional(Schema.String)
})
export type ProcessEntry = typeof ProcessEntry.Type

export const ClusterInfo = Schema.Struct({
  mode: ExecutionMode,
  startedAt: Schema.String,
  dataDir: Schema.optional(Schema.String),
  supervisorPid: Schema.optional(Schema.Int),
  autoRestart: Schema.optional(Schema.Boolean),
  /** The supervisor's control API (POST /restart/:name, GET /processes, POST /shutdown). */
  control: Schema.Struct({ host: Schema.String, port: Schema.Int }),
  processes: Schema.Array(ProcessEntry)
})
export type ClusterInfo = typeof ClusterInfo.Type

export class ClusterFileError extends Schema.TaggedError<ClusterFileError>("@dse/cli/ClusterFileError")("ClusterFileError", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `${this.path} is unreadable: ${this.reason}`
  }
}

/** Writes the file atomically: readers see the old content or the new one, never a part. */
export const writeSync = (dataDir: string, info: ClusterInfo): void => {
  const target = Paths.clusterFile(dataDir)
  const temp = `${target}.${process.pid}.tmp`
  const fd = fs.openSync(temp, "w")
  try {
    fs.writeSync(fd, JSON.stringify(info, null, 2) + "\n")
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
  fs.renameSync(temp, target)
}

/** The file's content; none when it is missing. */
export const read = (dataDir: string): Effect.Effect<Option.Option<ClusterInfo>, ClusterFileError> =>
  Effect.gen(function* () {
    const file = Paths.clusterFile(dataDir)
    const text = yield* Effect.try({
      try: () => (fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined),
      catch: (error) => new ClusterFileError({ path: file, reason: error instanceof Error ? error.message : String(error) })
    })
    if (text === undefined) return Option.none()
    return Option.some(
      yield* Schema.decodeUnknown(Schema.parseJson(ClusterInfo))(text).pipe(
        Effect.mapError((error) => new ClusterFileError({ path: file, reason: error.message }))
      )
    )
  })

/** Removes the file if it was written by `supervisorPid` (a newer cluster may have replaced it). */
export const removeSync = (dataDir: string, supervisorPid: number): void => {
  const file = Paths.clusterFile(dataDir)
  try {
    const info = JSON.parse(fs.readFileSync(file, "utf8")) as { supervisorPid?: number }
    if (info.supervisorPid === undefined || info.supervisorPid === supervisorPid) fs.rmSync(file, { force: true })
  } catch {
    // gone already
  }
}

/**
 * Whether `pid` is alive and (where /proc tells) still a process of ours: a node process, so that
 * a pid reused by something else after a crash does not look like a running cluster.
 */
export const isOurs = (pid: number): boolean => {
  if (!isAlive(pid)) return false
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8")
    return /node|tsx/.test(cmdline)
  } catch {
    return true
  }
}

/** The pids named by the file that still run (the supervisor's included). */
export const livePids = (info: ClusterInfo): Array<{ readonly name: string; readonly pid: number }> => {
  const out: Array<{ name: string; pid: number }> = []
  if (info.supervisorPid !== undefined && info.supervisorPid !== process.pid && isOurs(info.supervisorPid)) {
    out.push({ name: "supervisor", pid: info.supervisorPid })
  }
  for (const p of info.processes) if (p.pid !== null && isOurs(p.pid)) out.push({ name: p.name, pid: p.pid })
  return out
}
