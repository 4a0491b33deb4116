/**
 * A workload for proving the runtime under failures: branches of a bank (each one StateObject
 * holding accounts, a counter and a register) and outside-facing operations that run as sthreads
 * and retry until they commit:
 *
 * - transfer: debit at one branch, credit at another (possibly the same), exactly once each;
 * - inc: increment a branch's counter, returning the new value;
 * - write: set a branch's register (one client writes each register, in order).
 *
 * Every operation is idempotent by its id, and its committed output (what crossed the boundary) is
 * recorded. `check` then compares the final state with what a failure-free run of exactly the
 * committed operations gives.
 */
import type { Dse } from "@dse/core"
import { Dse as DseModule, StateObject, Sthread, VersionedCell, VersionedMap, VersionedState } from "@dse/core"
import type { Scope } from "effect"
import { Duration, Effect, FiberRef, Schedule } from "effect"
import type { CheckpointStore } from "@dse/core"
import type { InProcessNetwork } from "./InProcessNetwork"

export const INITIAL_BALANCE = 100

export type BranchRequest =
  | { readonly _tag: "debit"; readonly tx: string; readonly account: string; readonly amount: number }
  | { readonly _tag: "credit"; readonly tx: string; readonly account: string; readonly amount: number }
  | { readonly _tag: "inc"; readonly op: string }
  | { readonly _tag: "write"; readonly op: string; readonly value: number }
  | { readonly _tag: "read" }

export interface BranchSnapshot {
  readonly accounts: Record<string, number>
  readonly applied: Record<string, string | number>
  readonly counter: number
  readonly register: number
}

/** Accounts start at INITIAL_BALANCE implicitly, so the empty history (version 0) holds the opening balances. */
const makeBranchState = () =>
  VersionedState.struct({
    accounts: VersionedMap.make<number>(),
    applied: VersionedMap.make<string | number>(),
    counter: VersionedCell.make(0),
    register: VersionedCell.make(0)
  })
type BranchState = ReturnType<typeof makeBranchState>

/** Violations seen while the workload runs (for example a message applied in the wrong world-line). */
export interface Observations {
  readonly violations: Array<string>
}

export const branchEndpoint = (branch: number) => `branch/${branch}`

/**
 * The program of one branch process: its StateObject and its endpoint. `onStart` receives the live
 * StateObject (again after every restart), so a test can read its state.
 */
export const branchProgram = (
  network: InProcessNetwork,
  branch: number,
  accounts: number,
  observations: Observations,
  onStart: (so: StateObject.StateObject<BranchState>) => void
): Effect.Effect<void, unknown, Dse.Dse | CheckpointStore | Scope.Scope> =>
  Effect.gen(function* () {
    const state = makeBranchState()
    const so = yield* StateObject.make({ name: `branch-${branch}`, state, kind: "bank" })
    onStart(so)
    yield* network.serve(branchEndpoint(branch), (request: BranchRequest) =>
      so.action((s) =>
        Effect.flatMap(FiberRef.get(Sthread.currentSthread), (thread) =>
          Effect.sync(() => {
            const stats = so.stats()
            if (thread && thread.worldLine !== 0 && thread.worldLine !== stats.worldLine) {
              observations.violations.push(
                `branch ${branch} applied a message of world-line ${thread.worldLine} in world-line ${stats.worldLine}`
              )
            }
            return apply(s, accounts, request)
          })
        )
      )
    )
  })

const apply = (s: BranchState, accounts: number, request: BranchRequest): string | number | BranchSnapshot => {
  switch (request._tag) {
    case "debit":
    case "credit": {
      const key = `${request.tx}:${request._tag}`
      const seen = s.applied.get(key)
      if (seen !== undefined) return seen
      const balance = s.accounts.get(request.account) ?? INITIAL_BALANCE
      let result: string
      if (request._tag === "debit") {
        result = balance >= request.amount ? "ok" : "insufficient"
        if (result === "ok") s.accounts.set(request.account, balance - request.amount)
      } else {
        result = "ok"
        s.accounts.set(request.account, balance + request.amount)
      }
      s.applied.set(key, result)
      return result
    }
    case "inc": {
      const seen = s.applied.get(request.op)
      if (seen !== undefined) return seen
      const value = s.counter.update((n) => n + 1)
      s.applied.set(request.op, value)
      return value
    }
    case "write": {
      const seen = s.applied.get(request.op)
      if (seen !== undefined) return seen
      s.register.set(request.value)
      s.applied.set(request.op, "ok")
      return "ok"
    }
    case "read":
      return snapshot(s, accounts)
  }
}

export const snapshot = (s: BranchState, accounts: number): BranchSnapshot => ({
  accounts: Object.fromEntries(
    Array.from({ length: accounts }, (_, a) => [`acct${a}`, s.accounts.get(`acct${a}`) ?? INITIAL_BALANCE])
  ),
  applied: Object.fromEntries(s.applied.entries()),
  counter: s.counter.get(),
  register: s.register.get()
})

export type Operation =
  | { readonly _tag: "transfer"; readonly id: string; readonly from: readonly [number, string]; readonly to: readonly [number, string]; readonly amount: number }
  | { readonly _tag: "inc"; readonly id: string; readonly branch: number }
  | { readonly _tag: "write"; readonly id: string; readonly branch: number; readonly value: number }

/** What crossed the boundary for one operation: its result, released after commit. */
export interface Output {
  readonly operation: Operation
  readonly result: string | number
  readonly attempts: number
}

const retryPause = Duration.millis(2)

/**
 * Runs `operation` in a new sthread until it commits, then records its output. Every failure of
 * an attempt (rolled back, lost message, a crashed endpoint) is retried with the same ids.
 */
export const runOperation = (
  network: InProcessNetwork,
  operation: Operation,
  outputs: Array<Output>
): Effect.Effect<void, never, Dse.Dse> => {
  let attempts = 0
  const attempt = Effect.suspend(() => {
    attempts++
    return DseModule.sthread(
      Effect.gen(function* () {
        const result = yield* body(network, operation)
        yield* DseModule.awaitCommit
        return result
      })
    )
  })
  return attempt.pipe(
    Effect.retry(Schedule.spaced(retryPause)),
    // The schedule never ends, so the only way out is success.
    Effect.orDie,
    Effect.map(([result]) => {
      outputs.push({ operation, result, attempts })
    })
  )
}

const body = (network: InProcessNetwork, operation: Operation) => {
  switch (operation._tag) {
    case "transfer":
      return Effect.gen(function* () {
        const debit = yield* network.call<BranchRequest, string, never>(branchEndpoint(operation.from[0]), {
          _tag: "debit",
          tx: operation.id,
          account: operation.from[1],
          amount: operation.amount
        })
        if (debit !== "ok") return debit
        yield* network.call<BranchRequest, string, never>(branchEndpoint(operation.to[0]), {
          _tag: "credit",
          tx: operation.id,
          account: operation.to[1],
          amount: operation.amount
        })
        return debit
      })
    case "inc":
      return network.call<BranchRequest, number, never>(branchEndpoint(operation.branch), { _tag: "inc", op: operation.id })
    case "write":
      return network.call<BranchRequest, string, never>(branchEndpoint(operation.branch), {
        _tag: "write",
        op: operation.id,
        value: operation.value
      })
  }
}

/**
 * Compares final branch states with a failure-free run of exactly the committed operations:
 * (1) every committed output is reflected in the state; (2) each branch's state is what applying
 * those operations once gives (no partial action, no double apply, no orphan of lost work);
 * (3) money is conserved. Returns the violations found.
 */
export const check = (
  branches: ReadonlyArray<BranchSnapshot>,
  accounts: number,
  operations: ReadonlyArray<Operation>,
  outputs: ReadonlyArray<Output>
): Array<string> => {
  const violations: Array<string> = []
  const byId = new Map(outputs.map((o) => [o.operation.id, o]))
  for (const op of operations) if (!byId.has(op.id)) violations.push(`operation ${op.id} never committed`)

  // Expected state: initial balances, then every committed transfer once.
  const expected = branches.map(() => ({
    accounts: Object.fromEntries(Array.from({ length: accounts }, (_, a) => [`acct${a}`, INITIAL_BALANCE])) as Record<string, number>,
    applied: {} as Record<string, string | number>,
    counter: 0,
    register: 0
  }))
  const lastWrite = new Map<number, number>()
  const counterValues = branches.map(() => [] as Array<number>)
  for (const op of operations) {
    const out = byId.get(op.id)
    if (!out) continue
    switch (op._tag) {
      case "transfer": {
        const [fb, fa] = op.from
        const [tb, ta] = op.to
        expected[fb]!.applied[`${op.id}:debit`] = out.result
        if (out.result === "ok") {
          expected[fb]!.accounts[fa] = expected[fb]!.accounts[fa]! - op.amount
          expected[tb]!.accounts[ta] = expected[tb]!.accounts[ta]! + op.amount
          expected[tb]!.applied[`${op.id}:credit`] = "ok"
        }
        break
      }
      case "inc":
        expected[op.branch]!.counter++
        expected[op.branch]!.applied[op.id] = out.result
        counterValues[op.branch]!.push(out.result as number)
        break
      case "write":
        expected[op.branch]!.applied[op.id] = "ok"
        lastWrite.set(op.branch, op.value)
        break
    }
  }
  for (const [b, value] of lastWrite) expected[b]!.register = value

  branches.forEach((actual, b) => {
    const want = expected[b]!
    for (const [acct, balance] of Object.entries(want.accounts)) {
      if (actual.accounts[acct] !== balance) {
        violations.push(`branch ${b} ${acct}: balance ${actual.accounts[acct]}, expected ${balance}`)
      }
    }
    for (const [key, result] of Object.entries(want.applied)) {
      if (actual.applied[key] !== result) {
        violations.push(`branch ${b}: ${key} is ${JSON.stringify(actual.applied[key])} in the state, committed output was ${JSON.stringify(result)}`)
      }
    }
    for (const key of Object.keys(actual.applied)) {
      if (!(key in want.applied)) violations.push(`branch ${b}: ${key} applied but no committed operation explains it`)
    }
    if (actual.counter !== want.counter) violations.push(`branch ${b}: counter ${actual.counter}, expected ${want.counter}`)
    if (actual.register !== want.register) violations.push(`branch ${b}: register ${actual.register}, expected ${want.register}`)
    const values = counterValues[b]!.slice().sort((x, y) => x - y)
    values.forEach((v, i) => {
      if (v !== i + 1) violations.push(`branch ${b}: committed counter outputs ${values.join(",")} are not 1..${values.length}`)
    })
  })

  const total = branches.reduce((sum, s) => sum + Object.values(s.accounts).reduce((x, y) => x + y, 0), 0)
  const want = branches.length * accounts * INITIAL_BALANCE
  if (total !== want) violations.push(`money not conserved: ${total}, expected ${want}`)
  return Array.from(new Set(violations))
}
