/**
 * The broker process's command line (src/main.ts as a real child process): bad flags exit 2 with a
 * message, a data directory without a coordinator exits 1.
 *
 * The crash scenario over real processes (SIGKILL of a broker and of the processor mid-stream) is
 * test/process/BrokerPipeline.test.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { BROKER_DIR } from "./processes"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "dse-broker-test-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

describe("the broker as real processes", () => {
  it.scopedLive(
    "the process's command line: bad flags exit 2 with a message, a missing coordinator exits 1",
    () =>
      Effect.gen(function* () {
        const dataDir = yield* tempDir
        // Asynchronous children, all at once: a synchronous spawn would block vitest's worker.
        const run = (args: ReadonlyArray<string>) =>
          Effect.promise(
            () =>
              new Promise<{ readonly status: number | null; readonly stderr: string }>((resolve) => {
                const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...args], { cwd: BROKER_DIR, stdio: ["ignore", "ignore", "pipe"] })
                let stderr = ""
                child.stderr!.on("data", (chunk: Buffer) => {
                  stderr += chunk.toString()
                })
                child.on("exit", (status) => resolve({ status, stderr }))
              })
          )
        const [noTopics, badTopics, badServe, badMode, noCoordinator] = yield* Effect.all(
          [
            run(["--data", dataDir]),
            run(["--data", dataDir, "--topics", "a:zero"]),
            run(["--data", dataDir, "--topics", "a:1", "--serve", "b"]),
            run(["--data", dataDir, "--topics", "a:1", "--mode", "fast"]),
            run(["--data", dataDir, "--topics", "a:1"])
          ],
          { concurrency: "unbounded" }
        )
        expect(noTopics).toMatchObject({ status: 2, stderr: expect.stringContaining("--topics is required") })
        expect(badTopics).toMatchObject({ status: 2, stderr: expect.stringContaining("bad partition count") })
        expect(badServe).toMatchObject({ status: 2, stderr: expect.stringContaining("--serve names b") })
        expect(badMode).toMatchObject({ status: 2, stderr: expect.stringContaining("--mode must be") })
        expect(noCoordinator).toMatchObject({ status: 1, stderr: expect.stringContaining("no coordinator") })
      }),
    120_000
  )
})
