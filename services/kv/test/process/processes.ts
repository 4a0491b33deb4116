/**
 * The processes of the KV process tests: a coordinator and shards (their real mains), over
 * @dse/testing's TestProcess (ready line, kill by pid, SIGKILL when the scope closes).
 */
import { TestProcess } from "@dse/testing"
import type { Scope } from "effect"
import { Effect } from "effect"

export interface Proc {
  readonly pid: number
  readonly host: string
  readonly port: number
  readonly kill: (signal: NodeJS.Signals) => Effect.Effect<number | NodeJS.Signals>
}

const asProc = (child: TestProcess.Child<TestProcess.Address>): Proc => ({
  pid: child.pid,
  host: child.info.host,
  port: child.info.port,
  kill: child.kill
})

/** Sends `signal` to a process this test started, by pid, and waits until it has exited. */
export const kill = (proc: Proc, signal: NodeJS.Signals): Effect.Effect<number | NodeJS.Signals> => proc.kill(signal)

export const coordinator = (dataDir: string): Effect.Effect<Proc, Error, Scope.Scope> =>
  Effect.map(TestProcess.startCoordinator(dataDir), asProc)

export const shard = (
  dataDir: string,
  index: number,
  port = 0,
  extra: ReadonlyArray<string> = []
): Effect.Effect<Proc, Error, Scope.Scope> =>
  Effect.map(
    TestProcess.start("src/main.ts", {
      cwd: TestProcess.serviceDir("kv"),
      args: ["--data", dataDir, "--shard", String(index), "--port", String(port), ...extra],
      ready: TestProcess.readyLine(`dse-kv kv-${index}`)
    }),
    asProc
  )
