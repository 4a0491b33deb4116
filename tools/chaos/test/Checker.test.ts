import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import * as Checker from "../src/Checker"
import type { FinalState } from "../src/FinalState"
import { History, Recorder } from "../src/History"
import type { OperationSpec, Outcome, ReplyPath } from "../src/History"
import * as Violation from "../src/Violation"

/** A hand-made history: operations in order, each completed at once. */
const build = (
  steps: ReadonlyArray<
    | { op: OperationSpec; outcome?: Outcome; result?: unknown; path?: ReplyPath; attempts?: number; client?: string }
    | { kill: ReadonlyArray<string> }
  >,
  setup: Partial<History["setup"]> = {}
) => {
  const r = new Recorder(42)
  r.setSetup({ runId: "t", balances: {}, stock: {}, ...setup })
  for (const s of steps) {
    if ("kill" in s) {
      r.fault("kill", s.kill, "SIGKILL")
      continue
    }
    const id = r.invoke(s.client ?? "c0", s.op, s.path ?? "outside")
    for (let i = 0; i < (s.attempts ?? 1); i++) r.attempt(id)
    if (s.outcome !== "info") r.complete(id, s.outcome ?? "ok", s.result !== undefined ? { result: s.result } : {})
  }
  return r.snapshot()
}

const final = (patch: Partial<FinalState>): FinalState => ({ kv: {}, reservations: {}, stock: {}, storage: [], ...patch })
const rules = (vs: ReadonlyArray<Violation.Violation>) => vs.map((v) => v.rule).sort()

const put = (key: string, value: number): OperationSpec => ({ _tag: "Put", key, value, idempotencyKey: `p/${key}` })
const inc = (key: string, delta: number, id: string, transfer?: number): OperationSpec => ({
  _tag: "Increment",
  key,
  delta,
  idempotencyKey: id,
  ...(transfer !== undefined ? { transfer } : {})
})
const wal = (producer: string, seq: number): OperationSpec => ({ _tag: "WalAppend", producer, seq })
const produce = (producer: string, seq: number, partition = 0): OperationSpec => ({ _tag: "Produce", producer, partition, seq, value: `${producer}-${seq}` })
const saga = (tripId: string, offerings: ReadonlyArray<string>): OperationSpec => ({ _tag: "Saga", tripId, offerings })

/** A history that exercises every rule and a final state that keeps every promise. */
const clean = () => {
  const history = build(
    [
      { op: put("w/1", 1) },
      { op: put("w/2", 2), outcome: "info" },
      { op: inc("ctr/a", 1, "c1") },
      { kill: ["kv-1"] },
      { op: inc("ctr/a", 1, "c2"), attempts: 3 },
      { op: inc("ctr/a", 1, "c3"), outcome: "info" },
      { op: inc("acct/x", -5, "t0/debit", 0) },
      { op: inc("acct/y", 5, "t0/credit", 0) },
      { op: wal("w0", 0), result: 0 },
      { op: wal("w0", 1), result: 2 },
      { op: wal("w1", 0), result: 1 },
      { op: wal("w1", 1), outcome: "info" },
      { op: produce("b0", 1) },
      { op: produce("b0", 2) },
      { op: saga("trip-1", ["o1", "o2"]), result: "reserved" },
      { op: saga("trip-2", ["o1", "o2"]), result: "compensated:o2" }
    ],
    { balances: { "acct/x": 100, "acct/y": 100 }, stock: { o1: 5, o2: 1 } }
  )
  const state = final({
    kv: { "w/1": 1, "ctr/a": 3, "acct/x": 95, "acct/y": 105 },
    wal: [
      { lsn: 0, worldLine: 1, producer: { id: "w0", seq: 0 } },
      { lsn: 1, worldLine: 1, producer: { id: "w1", seq: 0 } },
      { lsn: 2, worldLine: 2, producer: { id: "w0", seq: 1 } }
    ],
    sink: [
      { partition: 0, offset: 0, value: "b0-1" },
      { partition: 0, offset: 1, value: "b0-2" }
    ],
    reservations: {
      "trip-1": { o1: { status: "held", amount: 1 }, o2: { status: "held", amount: 1 } },
      "trip-2": { o1: { status: "cancelled", amount: 0 } }
    },
    stock: { o1: 4, o2: 0 },
    executions: {
      "trip-1": { executionId: "e1", status: "complete", outcome: "success" },
      "trip-2": { executionId: "e2", status: "complete", outcome: "failure" }
    },
    storage: [{ worker: "kv-0", file: "kv-0.db", checkpoints: 3, maxVersion: 900, bytes: 40960 }]
  })
  return { history, state }
}

describe("Checker", () => {
  it("passes a history whose final state keeps every promise", () => {
    const { history, state } = clean()
    expect(Checker.check(history, state)).toEqual([])
  })

  it("round-trips a history through its JSON schema", () => {
    const { history } = clean()
    const encoded = Schema.encodeSync(Schema.parseJson(History))(history)
    expect(Schema.decodeUnknownSync(Schema.parseJson(History))(encoded)).toEqual(history)
  })

  it("reports an acknowledged put that is missing (lost-write), with the put and the kill in its excerpt", () => {
    const history = build([{ op: put("w/1", 1), attempts: 2 }, { kill: ["kv-0"] }, { op: put("w/2", 2) }])
    // A fault recorded while the op was in flight shows in the excerpt: record one inside its window.
    const r = new Recorder(1)
    const id = r.invoke("c0", put("w/9", 9))
    r.fault("kill", ["kv-0", "coordinator"], "SIGKILL two at once")
    r.complete(id, "ok")
    const vs = Checker.check({ ...r.snapshot(), operations: [...history.operations, ...r.snapshot().operations.map((o) => ({ ...o, id: 10 }))] }, final({ kv: { "w/1": 1 } }))
    expect(rules(vs)).toEqual(["lost-write", "lost-write"])
    const nine = vs.find((v) => v.subject === "w/9")!
    expect(nine.excerpt.operations.map((o) => o.spec)).toEqual([put("w/9", 9)])
    expect(nine.excerpt.faults.map((f) => f.targets)).toEqual([["kv-0", "coordinator"]])
    expect(Violation.render(nine).join("\n")).toMatch(/FAULT kill kv-0\+coordinator/)
  })

  it("does not count an indeterminate put or a speculative ack as a promise", () => {
    const history = build([
      { op: put("w/1", 1), outcome: "info" },
      { op: put("w/2", 2), path: "inside-speculative" }
    ])
    expect(Checker.check(history, final({ kv: {} }))).toEqual([])
    // ...but the same ack through the commit-gated inside path is one.
    const gated = build([{ op: put("w/2", 2), path: "inside-committed" }])
    expect(rules(Checker.check(gated, final({ kv: {} })))).toEqual(["lost-write"])
  })

  it("reports a counter above its acknowledged increments (double-apply) and below them (lost-write)", () => {
    const history = build([
      { op: inc("ctr/a", 1, "c1") },
      { op: inc("ctr/a", 1, "c2"), attempts: 2 },
      { op: inc("ctr/a", 1, "c3"), outcome: "info" }
    ])
    expect(Checker.check(history, final({ kv: { "ctr/a": 2 } }))).toEqual([])
    expect(Checker.check(history, final({ kv: { "ctr/a": 3 } }))).toEqual([])
    const twice = Checker.check(history, final({ kv: { "ctr/a": 4 } }))
    expect(rules(twice)).toEqual(["double-apply"])
    // The retried and indeterminate operations are in the excerpt.
    expect(twice[0]!.excerpt.operations.map((o) => o.spec)).toContainEqual(inc("ctr/a", 1, "c2"))
    expect(rules(Checker.check(history, final({ kv: { "ctr/a": 1 } })))).toEqual(["lost-write"])
  })

  it("reports an account whose balance does not add up, and money that is not conserved", () => {
    const setup = { balances: { "acct/x": 100, "acct/y": 100 } }
    const history = build(
      [
        { op: inc("acct/x", -7, "t0/debit", 0) },
        { op: inc("acct/y", 7, "t0/credit", 0) }
      ],
      setup
    )
    expect(Checker.check(history, final({ kv: { "acct/x": 93, "acct/y": 107 } }))).toEqual([])
    // The debit applied twice: x is wrong and 7 were destroyed.
    expect(rules(Checker.check(history, final({ kv: { "acct/x": 86, "acct/y": 107 } })))).toEqual(["balance-mismatch", "conservation"])
    // A transfer whose credit is indeterminate may leave money in flight, but no more than it.
    const halfway = build([{ op: inc("acct/x", -7, "t0/debit", 0) }, { op: inc("acct/y", 7, "t0/credit", 0), outcome: "info" }], setup)
    expect(Checker.check(halfway, final({ kv: { "acct/x": 93, "acct/y": 100 } }))).toEqual([])
    expect(rules(Checker.check(halfway, final({ kv: { "acct/x": 93, "acct/y": 101 } })))).toEqual(["balance-mismatch", "conservation"])
    // An account that vanished.
    expect(rules(Checker.check(history, final({ kv: { "acct/y": 107 } })))).toEqual(["conservation", "lost-write"])
  })

  it("reports WAL appends lost, duplicated, out of order, moved, or never made", () => {
    const history = build([
      { op: wal("w0", 0), result: 0 },
      { op: wal("w0", 1), result: 1 },
      { op: wal("w0", 2), result: 2 }
    ])
    const entry = (lsn: number, seq: number, id = "w0") => ({ lsn, worldLine: 1, producer: { id, seq } })
    expect(Checker.check(history, final({ wal: [entry(0, 0), entry(1, 1), entry(2, 2)] }))).toEqual([])
    expect(rules(Checker.check(history, final({ wal: [entry(0, 0), entry(2, 2)] })))).toEqual(["wal-lost"])
    expect(rules(Checker.check(history, final({ wal: [entry(0, 0), entry(1, 1), entry(2, 2), entry(3, 1)] })))).toEqual([
      "wal-duplicate",
      "wal-order"
    ])
    expect(rules(Checker.check(history, final({ wal: [entry(0, 0), entry(1, 2), entry(2, 1)] })))).toEqual(["wal-order", "wal-order", "wal-order"])
    expect(rules(Checker.check(history, final({ wal: [entry(0, 0), entry(1, 1), entry(2, 2), entry(3, 0, "w9")] })))).toEqual([])
    const known = build([{ op: wal("w0", 0), result: 0 }, { op: wal("w9", 0), outcome: "info" }])
    expect(rules(Checker.check(known, final({ wal: [entry(0, 0), entry(1, 5, "w9")] })))).toEqual(["wal-phantom"])
  })

  it("reports broker inputs lost, duplicated, reordered or invented at the committed sink", () => {
    const history = build([{ op: produce("b0", 1) }, { op: produce("b0", 2) }, { op: produce("b0", 3), outcome: "info" }])
    const ev = (offset: number, value: string) => ({ partition: 0, offset, value })
    expect(Checker.check(history, final({ sink: [ev(0, "b0-1"), ev(1, "b0-2")] }))).toEqual([])
    expect(Checker.check(history, final({ sink: [ev(0, "b0-1"), ev(1, "b0-2"), ev(2, "b0-3")] }))).toEqual([])
    expect(rules(Checker.check(history, final({ sink: [ev(0, "b0-1")] })))).toEqual(["broker-lost"])
    expect(rules(Checker.check(history, final({ sink: [ev(0, "b0-1"), ev(1, "b0-2"), ev(2, "b0-2")] })))).toEqual(["broker-duplicate"])
    expect(rules(Checker.check(history, final({ sink: [ev(0, "b0-2"), ev(1, "b0-1")] })))).toEqual(["broker-order"])
    expect(rules(Checker.check(history, final({ sink: [ev(0, "b0-1"), ev(1, "b0-2"), ev(2, "zz")] })))).toEqual(["broker-phantom"])
    // Without a broker in the campaign the rule has nothing to judge.
    expect(Checker.check(history, final({}))).toEqual([])
  })

  it("reports partial sagas, outcomes that contradict the client, stock not conserved, and stuck workflows", () => {
    const history = build(
      [
        { op: saga("t1", ["o1", "o2"]), result: "reserved" },
        { op: saga("t2", ["o1", "o2"]), result: "compensated:o2" },
        { op: saga("t3", ["o1", "o2"]), outcome: "info" }
      ],
      { stock: { o1: 10, o2: 2 } }
    )
    const held = { status: "held", amount: 1 }
    const cancelled = { status: "cancelled", amount: 0 }
    const done = (id: string) => ({ executionId: id, status: "complete" })
    const ok = final({
      reservations: { t1: { o1: held, o2: held }, t2: { o1: cancelled }, t3: { o1: held, o2: held } },
      stock: { o1: 8, o2: 0 },
      executions: { t1: done("e1"), t2: done("e2"), t3: done("e3") }
    })
    expect(Checker.check(history, ok)).toEqual([])
    expect(rules(Checker.check(history, { ...ok, reservations: { ...ok.reservations, t3: { o1: held, o2: cancelled } }, stock: { o1: 8, o2: 1 } }))).toEqual([
      "saga-partial"
    ])
    expect(rules(Checker.check(history, { ...ok, reservations: { ...ok.reservations, t2: { o1: held, o2: held } }, stock: { o1: 7, o2: -1 } }))).toEqual([
      "saga-outcome"
    ])
    expect(rules(Checker.check(history, { ...ok, stock: { o1: 8, o2: 1 } }))).toEqual(["saga-stock"])
    // Sold out on o1, which 3 sagas cannot exhaust (stock 10): a wrong answer, even though compensated.
    const wrong = build([{ op: saga("t9", ["o1", "o2"]), result: "compensated:o1" }], { stock: { o1: 10, o2: 2 } })
    expect(rules(Checker.check(wrong, final({ reservations: {}, stock: { o1: 10, o2: 2 } })))).toEqual(["saga-outcome"])
    expect(rules(Checker.check(history, { ...ok, executions: { ...ok.executions, t3: { executionId: "e3", status: "suspended" } } }))).toEqual([
      "workflow-stuck"
    ])
    expect(rules(Checker.check(history, { ...ok, executions: { t2: done("e2"), t3: done("e3") } }))).toEqual(["lost-write"])
    // A stuck execution's report names what the host's engine was doing (its counters at the final read).
    const hostStats = { runsInFlight: 1, redrives: 4, restores: 2, swept: 0, failed: false }
    const [stuck] = Checker.check(history, { ...ok, hostStats, executions: { ...ok.executions, t3: { executionId: "e3", status: "running" } } })
    expect(stuck?.message).toContain("the host then: 1 runs in flight, 4 re-drives, 2 restores, 0 swept)")
    // ... and, when the host reports them, the step its run is in and the state of its latch.
    const detailed = {
      ...hostStats,
      runs: [{ executionId: "e3", step: "cancel-0: executing (attempt 1)", forMillis: 42_000 }],
      stateObject: { version: 1716, committed: 1715, actionsRunning: 1, exclusivePending: true }
    }
    const [described] = Checker.check(history, {
      ...ok,
      hostStats: detailed,
      executions: { ...ok.executions, t3: { executionId: "e3", status: "running" } }
    })
    expect(described?.message).toContain('its run is at "cancel-0: executing (attempt 1)" for 42 s')
    expect(described?.message).toContain("version 1716, committed 1715, 1 Actions in its latch, a seal or restore pending")
  })

  it("reports a worker that keeps checkpoints beyond the bound", () => {
    const history = build([])
    const storage = [
      { worker: "kv-0", file: "kv-0.db", checkpoints: 2, maxVersion: 5000, bytes: 1 },
      { worker: "wal", file: "wal.db", checkpoints: 4000, maxVersion: 4000, bytes: 1 }
    ]
    const vs = Checker.check(history, final({ storage }), { maxCheckpoints: 64 })
    expect(rules(vs)).toEqual(["storage-unpruned"])
    expect(vs[0]!.subject).toBe("wal")
  })

  it("keeps excerpts short: at most the limit, the suspicious operations first", () => {
    const steps = Array.from({ length: 40 }, (_, i) => ({ op: inc("ctr/a", 1, `c${i}`), attempts: i === 17 ? 4 : 1 }))
    const vs = Checker.check(build(steps), final({ kv: { "ctr/a": 41 } }), { excerptLimit: 5 })
    expect(rules(vs)).toEqual(["double-apply"])
    expect(vs[0]!.excerpt.operations).toHaveLength(5)
    expect(vs[0]!.excerpt.omitted).toBe(35)
    expect(vs[0]!.excerpt.operations.some((o) => o.attempts === 4)).toBe(true)
  })
})
