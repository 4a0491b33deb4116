/**
 * Real processes for the process test and the benchmark: the coordinator's main, broker mains and
 * the pipeline processor, started with `node --import tsx`, each waited for until it prints its
 * ready line, their output in `<dataDir>/logs/<name>.log`. Only processes started here are killed,
 * by pid; every one still running is killed when the scope closes.
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const here = path.dirname(fileURLToPath(import.meta.url))
export const BROKER_DIR = path.resolve(here, "../..")
export const COORDINATOR_DIR = path.resolve(BROKER_DIR, "../coordinator")

export interface Proc {
  readonly name: string
  readonly pid: number
  readonly host: string
  readonly port: number
  /** Resolves with the exit code (or the signal's name) when the process ends. */
  readonly exited: Promise<number | string>
  readonly alive: () => boolean
}

const READY = /\bready (\S+):(\d+)\s*$/m

/** Starts `entry` (in `cwd`) and waits for its ready line. */
export const startProcess = (options: {
  readonly name: string
  readonly cwd: string
  readonly entry: string
  readonly args: ReadonlyArray<string>
  readonly dataDir: string
  readonly readyTimeoutMs?: number
}): Promise<Proc> =>
  new Promise((resolve, reject) => {
    fs.mkdirSync(path.join(options.dataDir, "logs"), { recursive: true })
    const log = fs.createWriteStream(path.join(options.dataDir, "logs", `${options.name}.log`), { flags: "a" })
    const child = spawn(process.execPath, ["--import", "tsx", options.entry, ...options.args], {
      cwd: options.cwd,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let running = true
    const exited = new Promise<number | string>((done) =>
      child.on("exit", (code, signal) => {
        running = false
        log.end()
        done(code ?? signal ?? "unknown")
      })
    )
    let output = ""
    let settled = false
    const timeoutMs = options.readyTimeoutMs ?? 150_000
    const timer = setTimeout(() => {
      if (settled) return
      settled = true
      child.kill("SIGKILL")
      reject(new Error(`${options.name} printed no ready line within ${timeoutMs} ms:\n${output}`))
    }, timeoutMs)
    child.stdout!.on("data", (chunk: Buffer) => {
      log.write(chunk)
      if (settled) return
      output += chunk.toString()
      const match = READY.exec(output)
      if (match) {
        settled = true
        clearTimeout(timer)
        resolve({ name: options.name, pid: child.pid!, host: match[1]!, port: Number(match[2]), exited, alive: () => running })
      }
    })
    child.stderr!.on("data", (chunk: Buffer) => {
      log.write(chunk)
      if (!settled) output += chunk.toString()
    })
    void exited.then((code) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      reject(new Error(`${options.name} exited (${code}) before it was ready:\n${output}`))
    })
  })

/** Sends `signal` to a process started here, by pid, and waits until it has exited. */
export const kill = (proc: Proc, signal: NodeJS.Signals): Effect.Effect<number | string> =>
  Effect.promise(() => {
    if (proc.alive()) process.kill(proc.pid, signal)
    return proc.exited
  })

/** Starts a process for the life of the scope (SIGKILLed by pid when the scope closes, if still running). */
export const scopedProcess = (start: () => Promise<Proc>): Effect.Effect<Proc, never, Scope.Scope> =>
  Effect.acquireRelease(Effect.promise(start), (proc) => (proc.alive() ? Effect.asVoid(kill(proc, "SIGKILL")) : Effect.void))

export const coordinator = (dataDir: string) =>
  scopedProcess(() => startProcess({ name: "coordinator", cwd: COORDINATOR_DIR, entry: "src/main.ts", args: ["--data", dataDir], dataDir }))

export const broker = (dataDir: string, name: string, args: ReadonlyArray<string>) =>
  scopedProcess(() => startProcess({ name, cwd: BROKER_DIR, entry: "src/main.ts", args: ["--data", dataDir, ...args], dataDir }))

export const pipeline = (dataDir: string, name: string, args: ReadonlyArray<string>) =>
  scopedProcess(() =>
    startProcess({ name, cwd: BROKER_DIR, entry: "test/fixtures/pipelineProcess.ts", args: ["--data", dataDir, ...args], dataDir })
  )
