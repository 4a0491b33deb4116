/** cluster.json: atomic write and read back, missing and damaged files, removal, live pids; Paths. */
import { Effect, Either, Option } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import * as Cluster from "../src/Cluster"
import * as ClusterFile from "../src/ClusterFile"
import * as Paths from "../src/Paths"
import { fixture, killLeftovers, tempDir, waitGone } from "./helpers"

const dirs: Array<string> = []
const pids: Array<number> = []
afterAll(() => {
  killLeftovers(pids)
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true })
})
const dir = () => {
  const d = tempDir()
  dirs.push(d)
  return d
}

const info = (dataDir: string, over: Partial<ClusterFile.ClusterInfo> = {}): ClusterFile.ClusterInfo => ({
  mode: "speculative",
  startedAt: "2026-01-01T00:00:00.000Z",
  dataDir,
  supervisorPid: 999_999_99,
  autoRestart: true,
  control: { host: "127.0.0.1", port: 4242 },
  processes: [
    { name: "coordinator", kind: "coordinator", pid: null, address: "127.0.0.1:1", args: ["--port", "0"], state: "up", restarts: 0, log: "x.log" },
    { name: "kv-0", kind: "kv", pid: null, address: null, args: [], state: "down", restarts: 2 }
  ],
  ...over
})

/** A real node process of ours (the ready fixture), and the pid of one that has exited. */
const liveChild = async (): Promise<number> => {
  const child = spawn(process.execPath, [fixture("ready")], { stdio: ["ignore", "pipe", "inherit"] })
  pids.push(child.pid!)
  await new Promise<void>((resolve) => child.stdout!.on("data", (d) => String(d).includes("ready") && resolve()))
  return child.pid!
}
const deadPid = async (): Promise<number> => {
  const child = spawn(process.execPath, ["-e", "0"], { stdio: "ignore" })
  await new Promise((resolve) => child.on("exit", resolve))
  return child.pid!
}

describe("ClusterFile", () => {
  it("writes atomically and reads back what it wrote", async () => {
    const d = dir()
    const written = info(d)
    ClusterFile.writeSync(d, written)
    expect(fs.readdirSync(d)).toEqual(["cluster.json"]) // no temporary file left
    const read = await Effect.runPromise(ClusterFile.read(d))
    expect(Option.getOrThrow(read)).toEqual(written)
    // A second write replaces the first.
    ClusterFile.writeSync(d, info(d, { mode: "durable" }))
    expect(Option.getOrThrow(await Effect.runPromise(ClusterFile.read(d))).mode).toBe("durable")
  })

  it("a missing file is none; a damaged one is a ClusterFileError naming the file", async () => {
    const d = dir()
    expect(Option.isNone(await Effect.runPromise(ClusterFile.read(d)))).toBe(true)
    fs.writeFileSync(Paths.clusterFile(d), "{ not json")
    const damaged = await Effect.runPromise(Effect.either(ClusterFile.read(d)))
    expect(Either.isLeft(damaged)).toBe(true)
    const error = (damaged as Either.Left<ClusterFile.ClusterFileError, unknown>).left
    expect(error._tag).toBe("ClusterFileError")
    expect(error.message).toContain(Paths.clusterFile(d))
    fs.writeFileSync(Paths.clusterFile(d), JSON.stringify({ ...info(d), mode: "warp-speed" }))
    expect(Either.isLeft(await Effect.runPromise(Effect.either(ClusterFile.read(d))))).toBe(true)
  })

  it("removeSync removes only the file of the given supervisor", () => {
    const d = dir()
    ClusterFile.writeSync(d, info(d, { supervisorPid: 1234 }))
    ClusterFile.removeSync(d, 4321)
    expect(fs.existsSync(Paths.clusterFile(d))).toBe(true)
    ClusterFile.removeSync(d, 1234)
    expect(fs.existsSync(Paths.clusterFile(d))).toBe(false)
    ClusterFile.removeSync(d, 1234) // gone already: no error
  })

  it("livePids names the processes that still run, not the exited ones", async () => {
    const d = dir()
    const [live, dead] = [await liveChild(), await deadPid()]
    const file = info(d, {
      supervisorPid: dead,
      processes: [
        { name: "kv-0", kind: "kv", pid: live, address: null, args: [] },
        { name: "kv-1", kind: "kv", pid: dead, address: null, args: [] },
        { name: "kv-2", kind: "kv", pid: null, address: null, args: [] }
      ]
    })
    expect(ClusterFile.isOurs(live)).toBe(true)
    expect(ClusterFile.isOurs(dead)).toBe(false)
    expect(ClusterFile.livePids(file)).toEqual([{ name: "kv-0", pid: live }])

    // ensureFree: refuses a data dir whose cluster still runs, accepts it once it does not.
    ClusterFile.writeSync(d, file)
    const busy = await Effect.runPromise(Effect.either(Cluster.ensureFree(d)))
    expect(Either.isLeft(busy)).toBe(true)
    const message = (busy as Either.Left<{ message: string }, unknown>).left.message
    expect(message).toContain("already running")
    expect(message).toContain(`kv-0 pid ${live}`)
    process.kill(live, "SIGKILL")
    expect(await waitGone([live])).toEqual([])
    await Effect.runPromise(Cluster.ensureFree(d))
  })
})

describe("Paths", () => {
  it("finds the repository's root and the services' mains", () => {
    expect(fs.existsSync(path.join(Paths.repoRoot, "pnpm-workspace.yaml"))).toBe(true)
    expect(Paths.entryOf("coordinator")).toBe(path.join(Paths.repoRoot, Paths.serviceEntries.coordinator))
    expect(Paths.entryOf("kv")).toBeDefined()
  })

  it("names the files of a data directory", () => {
    expect(Paths.dataDir("rel/dir")).toBe(path.resolve("rel/dir"))
    expect(Paths.clusterFile("/d")).toBe("/d/cluster.json")
    expect(Paths.logsDir("/d")).toBe("/d/logs")
    expect(Paths.logOf("/d", "kv-0")).toBe("/d/logs/kv-0.log")
  })

  it("checkpointBytes adds a worker's .db and .db-wal (0 when absent)", () => {
    const d = dir()
    expect(Paths.checkpointBytes(d, "kv-0")).toBe(0)
    fs.writeFileSync(path.join(d, "kv-0.db"), Buffer.alloc(100))
    fs.writeFileSync(path.join(d, "kv-0.db-wal"), Buffer.alloc(23))
    fs.writeFileSync(path.join(d, "kv-1.db"), Buffer.alloc(7))
    expect(Paths.checkpointBytes(d, "kv-0")).toBe(123)
    expect(Paths.checkpointBytes(d, "kv-1")).toBe(7)
  })

  it("splitAddress parses host:port and [v6]:port", () => {
    expect(Cluster.splitAddress("127.0.0.1:8080")).toEqual(["127.0.0.1", 8080])
    expect(Cluster.splitAddress("[::1]:9")).toEqual(["::1", 9])
  })
})
