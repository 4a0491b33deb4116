/**
 * The processes of the WAL process tests: the coordinator and the log (their real mains), over
 * @dse/testing's TestProcess (ready line, kill by pid, SIGKILL when the scope closes).
 */
import { TestProcess } from "@dse/testing"
import type { Effect, Scope } from "effect"

export const { freePort, startCoordinator, tempDir } = TestProcess

export const walDir = TestProcess.serviceDir("wal")

export const startWal = (
  dataDir: string,
  args: ReadonlyArray<string> = []
): Effect.Effect<TestProcess.Child<TestProcess.Address>, Error, Scope.Scope> =>
  TestProcess.start("src/main.ts", { cwd: walDir, args: ["--data", dataDir, ...args], ready: TestProcess.readyLine("dse-wal wal") })

export const runWalToExit = (args: ReadonlyArray<string>): Effect.Effect<TestProcess.Exited> =>
  TestProcess.runToExit("src/main.ts", { cwd: walDir, args })
