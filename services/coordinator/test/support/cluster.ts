/**
 * Real processes for the process tests: the coordinator (src/main.ts) and bank workers
 * (fixtures/bankWorker.ts), each started with `node --import tsx` from the package directory, on
 * 127.0.0.1, in a temporary data directory that the test's scope removes.
 */
import { TestProcess } from "@dse/testing"
import type { Effect, Scope } from "effect"
import * as path from "node:path"

type Child<Info> = TestProcess.Child<Info>

export const packageDir = path.resolve(import.meta.dirname, "../..")

export const { freePort, tempDir } = TestProcess

export interface CoordinatorInfo {
  readonly host: string
  readonly port: number
}

export const startCoordinator = (dataDir: string, port = 0): Effect.Effect<Child<CoordinatorInfo>, Error, Scope.Scope> =>
  TestProcess.startCoordinator(dataDir, ["--port", String(port)])

export interface WorkerInfo {
  readonly port: number
  readonly pid: number
  readonly worker: number
}

export const startWorker = (
  name: string,
  dataDir: string,
  coordinatorPort: number,
  port = 0
): Effect.Effect<Child<WorkerInfo>, Error, Scope.Scope> =>
  TestProcess.start<WorkerInfo>("test/fixtures/bankWorker.ts", {
    cwd: packageDir,
    env: { NAME: name, DATA: dataDir, COORDINATOR_PORT: String(coordinatorPort), PORT: String(port) }
  })

/** Runs the coordinator to completion (it is expected to refuse to start). */
export const runCoordinatorToExit = (args: ReadonlyArray<string>): Effect.Effect<TestProcess.Exited> =>
  TestProcess.runToExit("src/main.ts", { cwd: packageDir, args })
