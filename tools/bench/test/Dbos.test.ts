/**
 * The DBOS peer's runner (src/peers/Dbos.ts), end to end: the application process on PostgreSQL
 * (DBOS_DATABASE_URL, or a private server started here), a chain's result, workflow-ID
 * idempotency, the settings it reports, and that everything it started is gone when its scope
 * closes. Only where the peer is installed (peers/install.sh dbos) and PostgreSQL can be had;
 * CI has neither, and the smoke test covers the peer being skipped.
 */
import { NodeContext } from "@effect/platform-node"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it, vi } from "vitest"
import * as Launcher from "../src/internal/Launcher"
import { DbosUnavailable, privatePostgresPlan, sdkDir, startDbos } from "../src/peers/Dbos"

const installed = fs.existsSync(sdkDir())
const database = Boolean(process.env.DBOS_DATABASE_URL) || privatePostgresPlan()._tag === "Plan"

describe.skipIf(!installed || !database)("DBOS peer (needs `bash tools/bench/peers/install.sh dbos` and PostgreSQL or DBOS_DATABASE_URL)", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "dse-bench-dbos-"))
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

  it("runs the chain, joins a known workflow ID, and stops what it started", async () => {
    // Everything it starts lives in this scope, closed before the checks below (also when it fails).
    const outcome = await Effect.runPromise(
      Effect.gen(function* () {
        const launcher = yield* Launcher.make(root)
        const runner = yield* startDbos({ root, launcher, progress: () => {} })
        if (runner._tag === "Skipped") return { runner, first: 0, again: "", one: 0, postgresDir: false }
        const id = `test-${Date.now()}`
        const first = yield* runner.execute(id, 10)
        // The same ID again, asking for 3 steps: DBOS answers with the recorded workflow's result
        // (45), it does not run a second workflow (which would give 3, what execute checks for).
        const again = yield* Effect.flip(runner.execute(id, 3)).pipe(Effect.map((e) => (e instanceof DbosUnavailable ? e.reason : String(e))))
        const one = yield* runner.execute(`${id}-1`, 1)
        return { runner, first, again, one, postgresDir: fs.existsSync(path.join(root, "postgres")) }
      }).pipe(Effect.scoped, Effect.provide(NodeContext.layer))
    )
    expect(outcome.runner._tag).toBe("Ready")
    expect(outcome.first).toBe(45)
    expect(outcome.again).toMatch(/^unexpected result 45 for 3 steps/)
    expect(outcome.one).toBe(0)
    if (outcome.runner._tag === "Ready") {
      expect(outcome.runner.note).toMatch(/@dbos-inc\/dbos-sdk \d+\.\d+\.\d+/)
      expect(outcome.runner.note).toMatch(/PostgreSQL \d+/)
      if (!process.env.DBOS_DATABASE_URL) expect(outcome.runner.note).toContain("fsync=on, synchronous_commit=on")
    }
    if (!process.env.DBOS_DATABASE_URL) {
      // The private server ran in the root, and it and its directory are gone with the scope.
      expect(outcome.postgresDir).toBe(true)
      expect(fs.existsSync(path.join(root, "postgres"))).toBe(false)
    }
    // Every process it started has exited: their logs end with the launcher's exit line (written as the exit is seen).
    for (const name of ["dbos-chain", ...(process.env.DBOS_DATABASE_URL ? [] : ["postgres"])]) {
      await vi.waitFor(() => expect(fs.readFileSync(path.join(root, "logs", `${name}.log`), "utf8"), name).toMatch(/exited \(\S+\)\n$/), { timeout: 5000 })
    }
  }, 180_000)
})
