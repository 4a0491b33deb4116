/**
 * The processes of the broker's process tests: the coordinator, broker nodes and the pipeline
 * fixture (real mains), over @dse/testing's TestProcess (ready line, kill by pid, SIGKILL when the
 * scope closes), each one's output also in `<dataDir>/logs/<name>.log`.
 */
import { TestProcess } from "@dse/testing"
import type { Scope } from "effect"
import { Effect } from "effect"
import * as path from "node:path"

export const BROKER_DIR = TestProcess.serviceDir("broker")

export interface Proc {
  readonly name: string
  readonly pid: number
  readonly host: string
  readonly port: number
  readonly alive: () => boolean
  readonly kill: (signal: NodeJS.Signals) => Effect.Effect<number | NodeJS.Signals>
}

/** Sends `signal` to a process started here, by pid, and waits until it has exited. */
export const kill = (proc: Proc, signal: NodeJS.Signals): Effect.Effect<number | NodeJS.Signals> => proc.kill(signal)

const start = (
  name: string,
  cwd: string,
  entry: string,
  dataDir: string,
  args: ReadonlyArray<string>
): Effect.Effect<Proc, Error, Scope.Scope> =>
  Effect.map(
    TestProcess.start(entry, {
      cwd,
      args,
      log: path.join(dataDir, "logs", `${name}.log`),
      ready: TestProcess.readyLine("dse-\\S+"),
      readyTimeoutMs: 150_000
    }),
    (child) => ({ name, pid: child.pid, host: child.info.host, port: child.info.port, alive: child.alive, kill: child.kill })
  )

export const coordinator = (dataDir: string) =>
  start("coordinator", TestProcess.serviceDir("coordinator"), "src/main.ts", dataDir, ["--data", dataDir])

export const broker = (dataDir: string, name: string, args: ReadonlyArray<string>) =>
  start(name, BROKER_DIR, "src/main.ts", dataDir, ["--data", dataDir, ...args])

export const pipeline = (dataDir: string, name: string, args: ReadonlyArray<string>) =>
  start(name, BROKER_DIR, "test/fixtures/pipelineProcess.ts", dataDir, ["--data", dataDir, ...args])
