/**
 * Smoke test of the engine (`dse bench --quick`, every suite): each suite produces numbers for every
 * mode it requires (clusters of real processes per mode, Effect's engine on sqlite FULL in this
 * process), and results.json, report.md and the SVG charts are written and parse. No timing is
 * asserted; the run's duration is printed. Plus: bad options fail with a typed error.
 */
import { Effect, Either } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { BenchReport } from "../src/index"
import { InvalidOptions, main, parseArgs, run, selectSuites, SUITES, toJson } from "../src/index"

const out = fs.mkdtempSync(path.join(os.tmpdir(), "dse-bench-test-"))
// The optional peers are looked for here: none, as in CI (a local install must not slow the test).
process.env.DSE_PEERS_DIR = path.join(out, "no-peers")
afterAll(() => fs.rmSync(out, { recursive: true, force: true }))

/** Well-formed enough: an <svg> root, every element closed in order. */
const checkSvg = (text: string) => {
  expect(text.trimStart().startsWith("<svg")).toBe(true)
  const stack: Array<string> = []
  for (const m of text.matchAll(/<(\/?)([a-zA-Z][\w:-]*)([^>]*?)(\/?)>/g)) {
    const [, closing, name, , selfClosing] = m
    if (selfClosing) continue
    if (closing) expect(stack.pop()).toBe(name)
    else stack.push(name!)
  }
  expect(stack).toEqual([])
}

describe("options", () => {
  it("parses suites and flags", () => {
    const parsed = parseArgs(["saga", "chain", "--quick", "--json", "--out", "x", "--storage-latency=2"])
    expect(Either.getOrThrow(parsed)).toMatchObject({ suites: ["saga", "chain"], quick: true, json: true, out: "x", storageLatencyMs: 2 })
  })

  it.each([
    [["--frobnicate"], /unknown option --frobnicate/],
    [["--out"], /--out needs a directory/],
    [["--storage-latency", "fast"], /--storage-latency needs milliseconds/],
    [["--storage-latency", "-1"], /--storage-latency needs milliseconds/],
    [["--storage-latency"], /--storage-latency needs milliseconds/]
  ])("rejects %j with InvalidOptions", (argv, reason) => {
    const parsed = parseArgs(argv)
    expect(Either.isLeft(parsed)).toBe(true)
    const error = Either.getLeft(parsed).pipe((o) => (o._tag === "Some" ? o.value : undefined))!
    expect(error).toBeInstanceOf(InvalidOptions)
    expect(error._tag).toBe("InvalidOptions")
    expect(error.reason).toMatch(reason)
  })

  it("rejects unknown suites with InvalidOptions, in the engine too", async () => {
    const selected = selectSuites(["saga", "nope"])
    expect(Either.isLeft(selected) && selected.left._tag === "InvalidOptions" && /unknown suite nope/.test(selected.left.reason)).toBe(true)
    const exit = await Effect.runPromise(Effect.either(run({ suites: ["nope"], out: path.join(out, "none") })))
    expect(Either.isLeft(exit) && exit.left instanceof InvalidOptions).toBe(true)
    expect(await Effect.runPromise(main(["--frobnicate"]))).toBe(2)
  })
})

describe("dse bench --quick", () => {
  let report: BenchReport
  const lines: Array<string> = []

  beforeAll(async () => {
    report = await Effect.runPromise(run({ quick: true, out, progress: (line) => lines.push(line), command: "vitest" }))
    // A figure for the closing notes (issue 8: under 3 minutes in CI), not an assertion.
    process.stderr.write(`dse bench --quick: every suite in ${report.meta.durationS} s (${report.suites.map((s) => `${s.name} ${s.durationS.toFixed(1)} s`).join(", ")})\n`)
  }, 600_000)

  it("every suite produced numbers for every mode it requires", () => {
    expect(report.suites.map((s) => s.name)).toEqual(SUITES.map((s) => s.name))
    expect(SUITES.map((s) => s.name).sort()).toEqual(["chain", "kv", "pipeline", "primitives", "recovery", "saga", "wal"])
    for (const suite of report.suites) {
      expect(suite.error, `${suite.name} failed`).toBeUndefined()
      const rows = suite.result!.rows
      for (const mode of suite.requiredModes) {
        const ofMode = rows.filter((r) => r.mode === mode)
        expect(ofMode.length, `${suite.name}: no rows for ${mode}`).toBeGreaterThan(0)
        // Each mode has some measured figure, and no row of it is all errors.
        expect(ofMode.some((r) => Number.isFinite(r.p50) || Number.isFinite(r.throughput)), `${suite.name}/${mode}`).toBe(true)
        for (const r of ofMode) if (typeof r.count === "number") expect(r.count, `${suite.name}/${mode}/n=${r.n}`).toBeGreaterThan(0)
      }
    }
    const chain = report.suites.find((s) => s.name === "chain")!.result!
    for (const mode of ["speculative", "durable", "ephemeral", "effect-sqlite"]) {
      const latency = chain.rows.filter((r) => r.mode === mode && r.kind !== "throughput")
      expect(latency.map((r) => r.n).sort()).toEqual([1, 3])
      for (const r of latency) {
        expect(r.p50).toBeGreaterThan(0)
        expect(r.p95).toBeGreaterThanOrEqual(r.p50)
        expect(r.p99).toBeGreaterThanOrEqual(r.p95)
        expect(r.errors).toBe(0)
      }
    }
    const saga = report.suites.find((s) => s.name === "saga")!.result!
    for (const mode of ["speculative", "durable", "ephemeral", "effect-sqlite"]) {
      const latency = saga.rows.filter((r) => r.mode === mode && r.kind !== "throughput")
      expect(latency.map((r) => r.n).sort(), `saga/${mode}`).toEqual([1, 2])
      for (const r of latency) expect(r.p50).toBeGreaterThan(0)
      // CPU per saga at the largest N, by process role, read from /proc (CI runs on Linux).
      const cpu = latency.find((r) => r.n === 2)!.cpuMsPerSaga as Record<string, number>
      expect(Object.keys(cpu).sort(), `saga/${mode} cpu`).toEqual(mode === "effect-sqlite" ? ["bench", "kv"] : ["bench", "coordinator", "host", "kv"])
      for (const ms of Object.values(cpu)) expect(ms).toBeGreaterThanOrEqual(0)
      expect(cpu.bench).toBeGreaterThan(0)
      if (mode !== "effect-sqlite") expect(cpu.kv! + cpu.host!, `saga/${mode}: the shards and host did work`).toBeGreaterThan(0)
    }
    expect(saga.tables.map((t) => t.title)).toContain("CPU per saga, N=2 (ms; each mode alone, one saga at a time)")
    // Optional peers are either measured or skipped with a reason.
    for (const peer of ["restate", "dbos"]) {
      const measured = chain.rows.some((r) => r.mode === peer)
      const skipped = chain.skipped.find((s) => s.mode === peer)
      expect(measured || (skipped !== undefined && skipped.reason.length > 0), peer).toBe(true)
    }
    expect(lines.some((l) => l.includes("chain"))).toBe(true)
  })

  it("writes results.json, report.md and SVG charts that parse", () => {
    const results = JSON.parse(fs.readFileSync(path.join(out, "results.json"), "utf8"))
    expect(results.meta.cores).toBe(os.cpus().length)
    expect(typeof results.meta.date).toBe("string")
    expect(results.floor.sqliteCommit.count).toBeGreaterThan(0)
    for (const name of SUITES.map((s) => s.name)) {
      const rows = results.suites[name].rows as Array<Record<string, unknown>>
      expect(rows.length).toBeGreaterThan(0)
      for (const r of rows) for (const key of ["mode", "n", "p50", "p95", "p99", "throughput"]) expect(r, `${name}.${key}`).toHaveProperty(key)
    }
    const doc = JSON.parse(JSON.stringify(toJson(report))) as { suites: Record<string, { rows: Array<{ mode: string }> }> }
    expect(Object.keys(doc.suites)).toEqual(SUITES.map((s) => s.name))
    expect(doc.suites.chain!.rows.some((r) => r.mode === "effect-sqlite")).toBe(true)

    const md = fs.readFileSync(path.join(out, "report.md"), "utf8")
    expect(md).toContain("## Physical floor of this machine")
    expect(md).toContain("`chain`")
    expect(md).toMatch(/\| speculative \|/)
    expect(md).toContain(`${os.cpus().length} cores`)

    const svgs = fs.readdirSync(out).filter((f) => f.endsWith(".svg"))
    expect(svgs).toEqual(expect.arrayContaining(["chain-latency-vs-n.svg", "chain-cdf-n3.svg", "chain-throughput-latency.svg"]))
    for (const file of svgs) {
      const text = fs.readFileSync(path.join(out, file), "utf8")
      checkSvg(text)
      expect(text).toContain("speculative")
    }
  })
})
