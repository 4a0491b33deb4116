/**
 * `dse demo` as a user runs it (the real binary): a cluster on a temporary data directory, the
 * workload, a SIGKILL mid-run, the checks, the latency table; exit code 0, every child process
 * gone and the temporary directory removed at the end.
 */
import * as fs from "node:fs"
import { describe, expect, it } from "vitest"
import { dse, waitGone } from "./helpers"

describe("dse demo", () => {
  it("runs, passes its checks, and leaves no process and no temporary directory behind", async () => {
    const result = await dse(["demo", "--transfers", "15"], 600_000)
    const out = result.stdout
    // In the test log: what a user would see (figures included).
    console.log(out)
    if (result.code !== 0) throw new Error(`dse demo exited ${result.code}\nstdout:\n${out}\nstderr:\n${result.stderr}`)
    expect(out).toContain("== speculative mode ==")
    expect(out).toContain("== durable mode ==")
    expect(out).toMatch(/SIGKILL kv-1 \(pid \d+\) after \d+\/\d+ transfers committed, world-line (\d+)/)
    expect(out).toMatch(/PASS the SIGKILL of kv-1 moved the cluster to a new world-line: (\d+) -> (\d+)/)
    const [, before, after] = /new world-line: (\d+) -> (\d+)/.exec(out)!
    expect(Number(after)).toBeGreaterThan(Number(before))
    expect(out).toContain("PASS money is conserved")
    expect(out).toContain("PASS the saga trip-2 sold out and compensated")
    expect(out).not.toContain("FAIL")
    expect(out).toMatch(/^\s+speculative\s+\d+\s+[\d.]+ ms/m)
    expect(out).toMatch(/^\s+durable\s+\d+\s+[\d.]+ ms/m)
    expect(out).toMatch(/PASS: all \d+ checks passed/)

    const root = /data (\/\S+dse-demo-\S+) \(removed at the end\)/.exec(out)?.[1]
    expect(root).toBeDefined()
    expect(fs.existsSync(root!)).toBe(false)
    // Every process the demo's status tables named is gone.
    const pids = Array.from(out.matchAll(/^\s+(?:coordinator|wal|kv-\d+|broker|workflow)\s+\S+\s+\S+\s+(\d+)\s/gm), (m) => Number(m[1]))
    expect(pids.length).toBeGreaterThanOrEqual(10)
    expect(await waitGone(pids, 10_000)).toEqual([])
  }, 660_000)
})
