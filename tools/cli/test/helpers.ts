/**
 * Runs the real `dse` command (node --import tsx tools/cli/src/main.ts) as child processes: one-shot
 * verbs, and `dse up` in the background (stopped by pid at the end, with everything it started).
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..")
const main = path.join(repoRoot, "tools", "cli", "src", "main.ts")

export const tempDir = (): string => fs.mkdtempSync(path.join(os.tmpdir(), "dse-cli-test-"))

export interface Result {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const spawnDse = (args: ReadonlyArray<string>): ChildProcess =>
  spawn(process.execPath, ["--import", "tsx", main, ...args], {
    cwd: repoRoot,
    env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
    stdio: ["ignore", "pipe", "pipe"]
  })

/** Runs `dse ARGS` to its end (killed after `timeoutMs`). */
export const dse = (args: ReadonlyArray<string>, timeoutMs = 90_000): Promise<Result> =>
  new Promise((resolve, reject) => {
    const child = spawnDse(args)
    let stdout = ""
    let stderr = ""
    child.stdout!.on("data", (d) => (stdout += d))
    child.stderr!.on("data", (d) => (stderr += d))
    // Too slow: Ctrl-C first (the command stops what it started), SIGKILL if that does not end it.
    const timer = setTimeout(() => {
      child.kill("SIGINT")
      setTimeout(() => child.kill("SIGKILL"), 60_000).unref()
      reject(new Error(`dse ${args.join(" ")} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`))
    }, timeoutMs)
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

/** `dse ARGS --json`, expecting exit code 0: its JSON document. */
export const dseJson = async <A = any>(args: ReadonlyArray<string>): Promise<A> => {
  const r = await dse(args)
  if (r.code !== 0) throw new Error(`dse ${args.join(" ")} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  return JSON.parse(r.stdout) as A
}

export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Polls `condition` (async) until it holds; throws with `what` after `ms`. */
export const eventually = async <A>(what: string, probe: () => Promise<A | undefined>, ms = 120_000, every = 500): Promise<A> => {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(every)
  }
}

export const waitGone = async (pids: ReadonlyArray<number>, ms = 30_000): Promise<Array<number>> => {
  const deadline = Date.now() + ms
  while (pids.some(isAlive) && Date.now() < deadline) await sleep(50)
  return pids.filter(isAlive)
}

export interface ClusterFileView {
  readonly supervisorPid: number
  readonly processes: ReadonlyArray<{ readonly name: string; readonly pid: number | null; readonly state?: string; readonly address: string | null }>
}

export const readClusterFile = (dataDir: string): ClusterFileView | undefined => {
  try {
    return JSON.parse(fs.readFileSync(path.join(dataDir, "cluster.json"), "utf8")) as ClusterFileView
  } catch {
    return undefined
  }
}

/** `dse up` running in the background. */
export class Up {
  readonly child: ChildProcess
  output = ""
  exitCode: number | null | undefined = undefined
  /** Every pid this cluster has had (supervisor and children), for the final clean-up. */
  readonly pids = new Set<number>()
  private readonly exited: Promise<number | null>

  constructor(readonly dataDir: string, args: ReadonlyArray<string> = []) {
    this.child = spawnDse(["up", "--data", dataDir, ...args])
    this.pids.add(this.child.pid!)
    this.child.stdout!.on("data", (d) => (this.output += d))
    this.child.stderr!.on("data", (d) => (this.output += d))
    this.exited = new Promise((resolve) =>
      this.child.on("close", (code) => {
        this.exitCode = code
        resolve(code)
      })
    )
  }

  get pid(): number {
    return this.child.pid!
  }

  /** Waits for the "dse cluster up" line; throws with the output if `dse up` ends first. */
  async ready(ms = 300_000): Promise<void> {
    await eventually(
      "dse up to be ready",
      async () => {
        if (this.exitCode !== undefined) throw new Error(`dse up exited ${this.exitCode}:\n${this.output}`)
        return this.output.includes("dse cluster up") ? true : undefined
      },
      ms,
      200
    )
    this.remember()
  }

  /** Records the children's pids from cluster.json (for the clean-up). */
  remember(): ClusterFileView | undefined {
    const file = readClusterFile(this.dataDir)
    for (const p of file?.processes ?? []) if (p.pid !== null) this.pids.add(p.pid)
    return file
  }

  childPids(): Array<number> {
    return (this.remember()?.processes ?? []).flatMap((p) => (p.pid !== null ? [p.pid] : []))
  }

  async exit(ms = 60_000): Promise<number | null> {
    return Promise.race([this.exited, sleep(ms).then(() => Promise.reject(new Error(`dse up did not exit within ${ms} ms:\n${this.output}`)))])
  }

  /** SIGKILLs whatever of this cluster still runs. */
  killAll(): void {
    this.remember()
    for (const pid of this.pids) {
      try {
        process.kill(pid, "SIGKILL")
      } catch {
        // gone
      }
    }
  }
}

/**
 * Runs `dse ARGS` inside the test's process (the same command tree as the binary, minus a process
 * start of several seconds per call) and captures what it prints. Calls must not overlap.
 */
export const dseIn = async (args: ReadonlyArray<string>): Promise<Result> => {
  const { vi } = await import("vitest")
  const { Effect } = await import("effect")
  const { NodeContext } = await import("@effect/platform-node")
  const { format } = await import("node:util")
  const { run } = await import("../src/Cli")
  let stdout = ""
  let stderr = ""
  const spies = [
    vi.spyOn(process.stdout, "write").mockImplementation((chunk: any) => ((stdout += String(chunk)), true)),
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: any) => ((stderr += String(chunk)), true)),
    vi.spyOn(console, "log").mockImplementation((...a: Array<unknown>) => void (stdout += format(...a) + "\n")),
    vi.spyOn(console, "info").mockImplementation((...a: Array<unknown>) => void (stdout += format(...a) + "\n")),
    vi.spyOn(console, "error").mockImplementation((...a: Array<unknown>) => void (stderr += format(...a) + "\n"))
  ]
  try {
    const code = await Effect.runPromise(run(["node", "dse", ...args]).pipe(Effect.provide(NodeContext.layer)))
    return { code, stdout, stderr }
  } finally {
    for (const s of spies) s.mockRestore()
  }
}

/** `dseIn(ARGS)`, expecting exit code 0: its JSON document. */
export const dseInJson = async <A = any>(args: ReadonlyArray<string>): Promise<A> => {
  const r = await dseIn(args)
  if (r.code !== 0) throw new Error(`dse ${args.join(" ")} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  return JSON.parse(r.stdout) as A
}
