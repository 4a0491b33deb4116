/**
 * Replays every case of shared/vectors/recovery.json (SPEC 3.7) through the Coordinator and
 * Recovery.decide: the crashed worker's fresh registration moves the cluster to worldLine + 1 with
 * the committed cut as recovery cut (every worker listed), the crashed worker restores cut[self],
 * and each survivor keeps or restores as the vector says.
 *
 * Two ways to reach the case's state: driven through the public API from a new cluster (reports,
 * then crash restarts to reach the world-line), and from a restarted coordinator whose store holds
 * the case's world-line and cut (the crash then lands in the rebuild).
 */
import { Recovery, WorldLineChanged, workerId } from "@dse/core"
import type { Registration, Version, WorkerId } from "@dse/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Option } from "effect"
import { request, settle, start, inbox } from "./support/harness"
import * as Store from "./support/MemoryClusterStateStore"
import type { ExpectedAction, RecoveryCase } from "./support/vectors"
import { recoveryCases } from "./support/vectors"

const cases = recoveryCases()

/** Worker names of a case, sorted: they get ids 1, 2, ... in this order. */
const namesOf = (c: RecoveryCase) =>
  [...new Set([...Object.keys(c.cut), ...Object.keys(c.workers), c.crashed, ...Object.keys(c.expect.recoveryCut)])].sort()

const check = (c: RecoveryCase, ids: Map<string, WorkerId>, registration: Registration) => {
  const name = new Map([...ids].map(([n, id]) => [id as number, n]))
  expect(registration.worldLine).toBe(c.expect.worldLine)
  expect(registration.recoveryCut).toBeDefined()
  const recoveryCut = new Map((registration.recoveryCut ?? []).map(([w, v]) => [w as WorkerId, v as Version]))
  const named = Object.fromEntries([...recoveryCut].map(([w, v]) => [name.get(w), v]))
  expect(named, "recovery cut, every worker listed").toEqual(c.expect.recoveryCut)
  expect(registration.cut).toEqual(registration.recoveryCut)

  const actions: Record<string, ExpectedAction> = {}
  for (const worker of Object.keys(c.expect.actions)) {
    const id = ids.get(worker)!
    if (worker === c.crashed) {
      actions[worker] = { restore: recoveryCut.get(id) ?? 0 }
      continue
    }
    const versions = (c.workers[worker] ?? []).map((v) => ({
      version: v.version,
      deps: v.deps.map(([w, n]) => [ids.get(w)!, n as Version] as const)
    }))
    const action = Recovery.decide(id, recoveryCut, versions)
    actions[worker] = action._tag === "Keep" ? "keep" : { restore: action.version }
  }
  expect(actions, "keep/restore of every worker").toEqual(c.expect.actions)
}

describe("recovery vectors", () => {
  it("are present", () => {
    expect(cases.length).toBeGreaterThan(0)
  })

  for (const c of cases) {
    it.scoped(`crash restart from a running cluster: ${c.name}`, () =>
      Effect.gen(function* () {
        const store = Store.make()
        const coordinator = yield* start(store)
        const ids = new Map<string, WorkerId>()
        for (const name of namesOf(c)) {
          const r = yield* coordinator.register(request(name))
          expect(r.worldLine).toBe(1)
          expect(r.recoveryCut).toBeUndefined()
          ids.set(name, workerId(r.id))
        }
        for (const [name, v] of Object.entries(c.cut)) {
          if (v > 0) yield* coordinator.report({ worker: ids.get(name)!, worldLine: 1, version: v, prev: 0, deps: [] })
        }
        // Reach the case's world-line with crash restarts that lose nothing.
        const first = namesOf(c)[0]!
        for (let w = 1; w < c.worldLine; w++) {
          const r = yield* coordinator.register(request(first, { committed: c.cut[first] ?? 0 }))
          expect(r.worldLine).toBe(w + 1)
        }
        const events = yield* inbox(coordinator)
        const registration = yield* coordinator.register(request(c.crashed, { committed: c.cut[c.crashed] ?? 0 }))
        check(c, ids, registration)
        const published = (yield* events.drain).filter((e) => e._tag === "WorldLineChanged")
        expect(published).toEqual([
          new WorldLineChanged({ worldLine: c.expect.worldLine, recoveryCut: registration.recoveryCut! })
        ])
      })
    )

    it.scoped(`crash restart during a coordinator rebuild: ${c.name}`, () =>
      Effect.gen(function* () {
        const names = namesOf(c)
        const ids = new Map(names.map((n, i) => [n, workerId(i + 1)]))
        const store = Store.make({
          history: [
            {
              worldLine: c.worldLine as never,
              recoveryCut: new Map(Object.entries(c.cut).map(([n, v]) => [ids.get(n)!, v as Version]))
            }
          ],
          members: names.map((name) => ({ id: ids.get(name)!, name }))
        })
        const coordinator = yield* start(store)
        const crashed = yield* Effect.fork(
          coordinator.register(request(c.crashed, { committed: c.cut[c.crashed] ?? 0 }))
        )
        yield* settle
        const survivors = names.filter((n) => n !== c.crashed)
        if (survivors.length > 0) expect(Option.isNone(yield* Fiber.poll(crashed))).toBe(true)
        for (const name of survivors) {
          const r = yield* coordinator.register(request(name, { worldLine: c.worldLine, committed: c.cut[name] ?? 0 }))
          expect(r.id).toBe(ids.get(name))
        }
        check(c, ids, yield* Fiber.join(crashed))
      })
    )
  }
})
