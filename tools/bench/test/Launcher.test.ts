/**
 * The bench launcher's `stop` for processes it spawns itself (the peers' servers): a real child
 * that ignores the stop signal is SIGKILLed after the grace period, also when the stop runs in a
 * scope's finalizer (which cannot be interrupted, so a timeout there would never fire).
 */
import { NodeContext } from "@effect/platform-node"
import { Supervisor } from "@dse/launcher"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import * as Launcher from "../src/internal/Launcher"

/** A node process that names a ready address, then ignores SIGTERM and SIGINT. */
const stubborn: Launcher.LaunchSpec = {
  name: "stubborn",
  command: process.execPath,
  args: [
    "-e",
    "process.on('SIGTERM', () => {}); process.on('SIGINT', () => {}); console.log('ready 127.0.0.1:1'); setInterval(() => {}, 1000)"
  ],
  readyTimeoutMs: 30_000
}

describe("Launcher.stop", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "dse-bench-launcher-"))
  let child: number | undefined
  afterAll(() => {
    // Should this test fail with the child still running, it goes (by its pid) with the temp dir.
    if (child !== undefined && Supervisor.isAlive(child)) process.kill(child, "SIGKILL")
    fs.rmSync(root, { recursive: true, force: true })
  })

  it("SIGKILLs a process that ignores the stop signal once the grace period is over, from a finalizer", async () => {
    const started = Date.now()
    const pid = await Effect.runPromise(
      Effect.gen(function* () {
        const launcher = yield* Launcher.make(root)
        const proc = yield* Effect.acquireRelease(launcher.start(stubborn), (p) => launcher.stop(p, 300, "SIGINT"))
        child = proc.pid
        return proc.pid
      }).pipe(Effect.scoped, Effect.provide(NodeContext.layer))
    )
    expect(Supervisor.isAlive(pid)).toBe(false)
    // It waited for the grace period before the SIGKILL (the child did not exit on SIGINT).
    expect(Date.now() - started).toBeGreaterThanOrEqual(300)
  }, 30_000)
})
