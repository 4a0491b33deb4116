/**
 * `dse up` as a real background process, and the verbs against it: status, kv, wal, wf, kill,
 * restart; bad usage; SIGTERM of `dse up` stops every child. One cluster for the whole file (its
 * start is the expensive part); the tests run in order.
 */
import { KvRouting } from "@dse/kv"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { dse, dseIn, dseInJson, eventually, isAlive, readClusterFile, tempDir, Up, waitGone } from "./helpers"

const dataDir = tempDir()
let up: Up
const D = ["--data", dataDir]

beforeAll(async () => {
  up = new Up(dataDir)
  await up.ready()
}, 360_000)

afterAll(() => {
  up?.killAll()
  fs.rmSync(dataDir, { recursive: true, force: true })
})

/** A key that the client routes to shard `shard` of 3. */
const keyOn = (shard: number, prefix: string) => {
  for (let i = 0; ; i++) if (KvRouting.shardOf(`${prefix}${i}`, 3) === shard) return `${prefix}${i}`
}

interface StatusJson {
  readonly worldLine: number
  readonly workers: ReadonlyArray<{ name: string; pid: number | null; version: number; committed: number; kind: string | null; lag: number; bytes: number }>
  readonly processes: ReadonlyArray<{ name: string; pid: number | null; state: string; restarts: number }>
}

describe("dse against a running cluster", () => {
  it("dse up starts every service and prints a line per process", async () => {
    await eventually("a line per process", async () => (up.output.includes("workflow: up") ? true : undefined), 30_000, 100)
    for (const name of ["coordinator", "wal", "kv-0", "kv-1", "kv-2", "broker", "workflow"]) {
      expect(up.output).toMatch(new RegExp(`${name}: up, pid \\d+, 127\\.0\\.0\\.1:\\d+`))
    }
    const file = readClusterFile(dataDir)!
    expect(file.supervisorPid).toBe(up.pid)
    expect(file.processes.map((p) => p.name)).toEqual(["coordinator", "wal", "kv-0", "kv-1", "kv-2", "broker", "workflow"])
    expect(file.processes.every((p) => p.state === "up" && p.pid !== null && isAlive(p.pid))).toBe(true)
    expect(fs.existsSync(path.join(dataDir, "logs", "kv-0.log"))).toBe(true)
  })

  it("dse status --json: world-line and each worker's pid and versions", async () => {
    const status = await dseInJson<StatusJson>(["status", "--json", ...D])
    expect(status.worldLine).toBeGreaterThanOrEqual(1)
    const names = status.workers.map((w) => w.name)
    for (const n of ["wal", "kv-0", "kv-1", "kv-2"]) expect(names).toContain(n)
    expect(status.workers.some((w) => w.kind === "workflow")).toBe(true)
    expect(status.workers.some((w) => w.kind === "broker")).toBe(true)
    const pids = new Map(readClusterFile(dataDir)!.processes.map((p) => [p.name, p.pid]))
    for (const w of status.workers) {
      expect(typeof w.version).toBe("number")
      expect(typeof w.committed).toBe("number")
      expect(w.version).toBeGreaterThanOrEqual(w.committed)
      expect(w.lag).toBe(w.version - w.committed)
      expect(w.bytes).toBeGreaterThan(0)
    }
    expect(status.workers.find((w) => w.name === "kv-0")!.pid).toBe(pids.get("kv-0"))
    const text = await dseIn(["status", ...D])
    expect(text.code).toBe(0)
    expect(text.stdout).toContain("world-line")
    expect(text.stdout).toContain("committed cut")
  })

  const k0 = keyOn(0, "user:")
  const k1 = keyOn(1, "user:")

  it("dse kv put/get/del/scan with --committed and --json", async () => {
    const put0 = await dseInJson(["kv", "put", k0, '{"name":"ada","n":1}', "--committed", "--json", ...D])
    expect(put0).toMatchObject({ key: k0, created: true, shard: 0, committedValue: { name: "ada", n: 1 } })
    const put1 = await dseInJson(["kv", "put", k1, '"plain string"', "--json", ...D])
    expect(put1).toMatchObject({ key: k1, created: true, shard: 1 })

    expect(await dseInJson(["kv", "get", k0, "--committed", "--json", ...D])).toMatchObject({ key: k0, found: true, value: { name: "ada", n: 1 } })
    const plain = await dseIn(["kv", "get", k1, ...D])
    expect(plain.code).toBe(0)
    expect(plain.stdout.trim()).toBe('"plain string"')

    const scan = await dseInJson<{ entries: Array<{ key: string; value: unknown }> }>(["kv", "scan", "user:", "--committed", "--json", ...D])
    expect(scan.entries.map((e) => e.key).sort()).toEqual([k0, k1].sort())

    expect(await dseInJson(["kv", "del", k1, "--committed", "--json", ...D])).toMatchObject({ key: k1, existed: true, committedAbsent: true })
    const missing = await dseIn(["kv", "get", k1, ...D])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain(`no such key: ${k1}`)
    const missingJson = await dseIn(["kv", "get", k1, "--json", ...D])
    expect(missingJson.code).toBe(1)
    expect(JSON.parse(missingJson.stdout)).toEqual({ key: k1, found: false })
  })

  it("dse wal append/scan", async () => {
    const a = await dseInJson(["wal", "append", '{"event":"first"}', "--committed", "--json", ...D])
    expect(a).toMatchObject({ wal: "wal", lsn: 0, duplicate: false, committed: { lsn: 0, value: { event: "first" } } })
    const b = await dseInJson(["wal", "append", "--bytes", "cafe", "--json", ...D])
    expect(b).toMatchObject({ lsn: 1 })
    const scan = await dseInJson<{ entries: Array<any>; next: number }>(["wal", "scan", "0", "--json", ...D])
    expect(scan.entries.map((e) => e.lsn)).toEqual([0, 1])
    expect(scan.entries[0].value).toEqual({ event: "first" })
    expect(scan.entries[1].bytes).toBe("cafe")
    expect(scan.next).toBe(2)
  })

  let executionId = ""
  it("dse wf start/status/list", async () => {
    const started = await dseInJson<any>(["wf", "start", "ConfirmOrder", '{"orderId":"o-1","email":"ada@example.com"}', "--wait", ...D])
    expect(JSON.stringify(started)).toContain("executionId")
    executionId = started.executionId
    expect(typeof executionId).toBe("string")
    const status = await dseInJson<any>(["wf", "status", executionId, ...D])
    expect(JSON.stringify(status)).toContain("complete")
    const list = await dseInJson<any>(["wf", "list", ...D])
    expect(JSON.stringify(list)).toContain(executionId)
    const unknown = await dseIn(["wf", "start", "NoSuchWorkflow", "{}", ...D])
    expect(unknown.code).not.toBe(0)
  })

  it("dse kill kv-0: the supervisor restarts it, the world-line changes, committed data is still there", async () => {
    const before = await dseInJson<StatusJson>(["status", "--json", ...D])
    const victim = readClusterFile(dataDir)!.processes.find((p) => p.name === "kv-0")!
    const killed = await dseIn(["kill", "kv-0", ...D])
    expect(killed.code).toBe(0)
    expect(killed.stdout).toContain(`killed kv-0 (pid ${victim.pid})`)
    expect(await waitGone([victim.pid!])).toEqual([])
    await eventually("kv-0 to be restarted", async () => {
      const p = up.remember()?.processes.find((x) => x.name === "kv-0")
      return p?.state === "up" && p.pid !== victim.pid ? true : undefined
    })
    const after = await eventually(
      "a new world-line",
      async () => {
        const s = await dseInJson<StatusJson>(["status", "--json", ...D])
        return s.worldLine > before.worldLine ? s : undefined
      },
      120_000,
      1000
    )
    expect(after.worldLine).toBeGreaterThan(before.worldLine)
    expect(after.processes.find((p) => p.name === "kv-0")).toMatchObject({ state: "up", restarts: 1 })
    expect(await dseInJson(["kv", "get", k0, "--committed", "--json", ...D])).toMatchObject({ found: true, value: { name: "ada", n: 1 } })
  })

  it("dse restart kv-1: a new pid on the same address", async () => {
    const old = readClusterFile(dataDir)!.processes.find((p) => p.name === "kv-1")!
    const restarted = await dseInJson<any>(["restart", "kv-1", "--json", ...D])
    expect(restarted.name).toBe("kv-1")
    expect(restarted.state).toBe("up")
    expect(restarted.pid).not.toBe(old.pid)
    expect(restarted.address).toBe(old.address)
    expect(isAlive(old.pid!)).toBe(false)
    up.remember()
    const unknown = await dseIn(["restart", "kv-9", ...D])
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain("no process named kv-9")
  })

  it("bad usage exits 2 with a message; a failed command exits 1 (the real binary, and in-process)", async () => {
    // The binary (a process of its own, as a user runs it): main.ts turns the outcome into the exit code.
    const missing = await dse(["kv", "get", "no-such-key", ...D])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain("dse kv get: no such key: no-such-key")

    const verb = await dseIn(["frobnicate"])
    expect(verb.code).toBe(2)
    expect(verb.stdout + verb.stderr).toContain("Invalid subcommand")

    const flag = await dseIn(["status", "--bogus", ...D])
    expect(flag.code).toBe(2)
    expect(flag.stdout + flag.stderr).toContain("--bogus")
    const json = await dseIn(["kv", "put", "k", "not-json", ...D])
    expect(json.code).toBe(2)
    expect(json.stderr).toContain("not JSON")
    const shards = await dseIn(["up", "--kv-shards", "0", ...D])
    expect(shards.code).toBe(2)
    expect(shards.stderr).toContain("--kv-shards must be 1..64")
    const mode = await dseIn(["up", "--mode", "turbo", ...D])
    expect(mode.code).toBe(2)
    const busy = await dseIn(["up", ...D])
    expect(busy.code).toBe(1)
    expect(busy.stderr).toContain("already running")
    const empty = tempDir()
    try {
      const none = await dseIn(["status", "--data", empty])
      expect(none.code).toBe(1)
      expect(none.stderr).toContain("no cluster is running")
    } finally {
      fs.rmSync(empty, { recursive: true, force: true })
    }
  })

  it("durability: SIGKILL of every process (supervisor and children), dse up again: all committed data is there", async () => {
    // More committed writes first: each reply below was released only after its commit.
    const k2 = keyOn(2, "order:")
    await dseInJson(["kv", "put", k2, '{"total":42}', "--committed", "--json", ...D])
    await dseInJson(["kv", "put", k0, '{"name":"ada","n":2}', "--committed", "--json", ...D])
    const appended = await dseInJson<{ lsn: number }>(["wal", "append", '{"event":"last"}', "--committed", "--json", ...D])
    expect(appended.lsn).toBe(2)

    const everything = [up.pid, ...up.childPids()]
    expect(everything.length).toBe(8)
    for (const pid of everything) process.kill(pid, "SIGKILL")
    expect(await waitGone(everything)).toEqual([])
    await up.exit()
    // The supervisor had no chance to clean up: its cluster.json is stale, not a running cluster.
    expect(readClusterFile(dataDir)).toBeDefined()

    up = new Up(dataDir)
    await up.ready()
    expect(await dseInJson(["kv", "get", k0, "--committed", "--json", ...D])).toMatchObject({ found: true, value: { name: "ada", n: 2 } })
    expect(await dseInJson(["kv", "get", k2, "--committed", "--json", ...D])).toMatchObject({ found: true, value: { total: 42 } })
    const deleted = await dseIn(["kv", "get", k1, "--committed", "--json", ...D])
    expect(deleted.code).toBe(1)
    const wal = await dseInJson<{ entries: Array<any> }>(["wal", "scan", "0", "--json", ...D])
    expect(wal.entries.map((e) => [e.lsn, e.value ?? e.bytes])).toEqual([
      [0, { event: "first" }],
      [1, "cafe"],
      [2, { event: "last" }]
    ])
    const execution = await dseInJson<any>(["wf", "status", executionId, ...D])
    expect(JSON.stringify(execution)).toContain("complete")
  }, 420_000)

  it("Ctrl-C (SIGINT) of dse up stops every child (no pid left) and removes cluster.json", async () => {
    const children = up.childPids()
    expect(children.length).toBe(7)
    expect(children.every(isAlive)).toBe(true)
    process.kill(up.pid, "SIGINT")
    expect(await up.exit()).toBe(0)
    expect(await waitGone(children, 10_000)).toEqual([])
    expect(up.output).toContain("stopped: every process has exited")
    expect(fs.existsSync(path.join(dataDir, "cluster.json"))).toBe(false)
  })
})
