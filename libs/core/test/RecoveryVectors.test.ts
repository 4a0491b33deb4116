/**
 * Replays every case of ../shared/vectors/recovery.json (SPEC 3.7, made by an independent model):
 * (a) through the pure `Recovery.decide`, and (b) through real StateObjects of one process runtime
 * that are driven into each case's situation and then see the world-line change.
 */
import { describe, expect, it } from "@effect/vitest"
import { existsSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { Effect, Exit, Scope } from "effect"
import type { Dependency } from "../src/DependencySet"
import { DependencySet } from "../src/DependencySet"
import type { Version, WorkerId } from "../src/Ids"
import * as Recovery from "../src/Recovery"
import * as StateObject from "../src/StateObject"
import * as Sthread from "../src/Sthread"
import { VersionedCell } from "../src/VersionedState"
import { flush, setup } from "./support"

interface VectorVersion {
  readonly version: number
  readonly deps: ReadonlyArray<readonly [string, number]>
}

type VectorAction = "keep" | { readonly restore: number }

interface VectorCase {
  readonly name: string
  readonly worldLine: number
  readonly cut: Readonly<Record<string, number>>
  readonly crashed: string
  readonly workers: Readonly<Record<string, ReadonlyArray<VectorVersion>>>
  readonly expect: {
    readonly worldLine: number
    readonly recoveryCut: Readonly<Record<string, number>>
    readonly actions: Readonly<Record<string, VectorAction>>
  }
}

const vectorUrl = new URL("../../../../shared/vectors/recovery.json", import.meta.url)
if (!existsSync(vectorUrl)) {
  throw new Error(`recovery vectors missing: ${fileURLToPath(vectorUrl)} (SPEC 9: every case must be replayed)`)
}
const cases: ReadonlyArray<VectorCase> = (JSON.parse(readFileSync(vectorUrl, "utf8")) as { cases: Array<VectorCase> })
  .cases

const NAMED_CASES = [
  "independent survivor keeps its state",
  "survivor that read the crashed worker's lost work restores",
  "survivor that read only committed work keeps",
  "transitive: c read b, which read lost a",
  "nothing committed yet: restore to the empty state"
]

/** Every worker a case mentions, sorted (ids are assigned in this order). */
const namesOf = (c: VectorCase): Array<string> =>
  Array.from(
    new Set([
      ...Object.keys(c.workers),
      ...Object.keys(c.cut),
      ...Object.keys(c.expect.recoveryCut),
      ...Object.keys(c.expect.actions),
      c.crashed
    ])
  ).sort()

const cutOf = (c: VectorCase, name: string): number => c.cut[name] ?? 0

const toVector = (action: Recovery.RecoveryAction): VectorAction =>
  action._tag === "Keep" ? "keep" : { restore: action.version }

/** The state value a worker holds after writing its version `v` (version 0: its initial state). */
const valueAt = (name: string, v: number): string => `${name}@${v}`

describe("recovery.json", () => {
  it.effect("has cases, including the five named ones", () =>
    Effect.sync(() => {
      expect(cases.length).toBeGreaterThanOrEqual(NAMED_CASES.length)
      const names = cases.map((c) => c.name)
      for (const name of NAMED_CASES) expect(names).toContain(name)
    })
  )

  it.effect("every case follows SPEC 3.7's bookkeeping: world-line + 1, recovery cut = committed cut, crashed restores its cut", () =>
    Effect.sync(() => {
      for (const c of cases) {
        const names = namesOf(c)
        expect(c.expect.worldLine, c.name).toBe(c.worldLine + 1)
        expect(c.expect.recoveryCut, c.name).toEqual(Object.fromEntries(names.map((n) => [n, cutOf(c, n)])))
        expect(c.expect.actions[c.crashed], c.name).toEqual({ restore: cutOf(c, c.crashed) })
      }
    })
  )
})

describe("(a) Recovery.decide replays recovery.json", () => {
  for (const c of cases) {
    it.effect(c.name, () =>
      Effect.sync(() => {
        const names = namesOf(c)
        const ids = new Map(names.map((n, i) => [n, (i + 1) as WorkerId]))
        const id = (n: string) => ids.get(n)!
        const recoveryCut = new Map(names.map((n) => [id(n), c.expect.recoveryCut[n]! as Version]))
        for (const name of names) {
          const expected = c.expect.actions[name]
          expect(expected, `${name} has an expected action`).toBeDefined()
          if (name === c.crashed) {
            // A restarted worker always restores its checkpoint at the cut.
            expect(expected, name).toEqual({ restore: cutOf(c, name) })
            continue
          }
          const versions = (c.workers[name] ?? []).map((v) => ({
            version: v.version,
            deps: v.deps.map(([w, ver]): Dependency => [id(w), ver as Version])
          }))
          expect(toVector(Recovery.decide(id(name), recoveryCut, versions)), name).toEqual(expected)
        }
      })
    )
  }
})

describe("(b) StateObjects replay recovery.json", () => {
  for (const c of cases) {
    it.scoped(c.name, () =>
      Effect.gen(function* () {
        const { coordinator, context, dse } = yield* setup({ worldLine: c.worldLine })
        const names = namesOf(c)
        const makeObject = (name: string) =>
          Effect.provide(StateObject.make({ name, state: VersionedCell.make(valueAt(name, 0)) }), context)
        // The crashed worker lives in its own scope, so that it can crash (its memory is lost; its store stays).
        const crashScope = yield* Scope.make()
        const objects = new Map<string, StateObject.StateObject<VersionedCell<string>>>()
        for (const name of names) {
          objects.set(name, name === c.crashed ? yield* Scope.extend(makeObject(name), crashScope) : yield* makeObject(name))
        }
        const id = (name: string) => objects.get(name)!.id

        // Drive every worker into the case's situation. The runtime knows no committed cut yet, so
        // every dependency an sthread carries joins the version (none is dropped as committed), and
        // a version above the current one is reached by the Lamport rule through the dependency at
        // that version (every jump in the vectors has one; checked below by the reports).
        for (const name of names) {
          const so = objects.get(name)!
          const committed = cutOf(c, name)
          for (let v = 1; v <= committed; v++) {
            yield* so.action((cell) => Effect.sync(() => cell.set(valueAt(name, v))))
            yield* so.seal
          }
          const listed = c.workers[name] ?? []
          for (let i = 0; i < listed.length; i++) {
            const { version, deps } = listed[i]!
            const thread = new Sthread.Sthread(
              c.worldLine,
              DependencySet.fromIterable(deps.map(([w, v]): Dependency => [id(w), v as Version]))
            )
            yield* Sthread.within(so.action((cell) => Effect.sync(() => cell.set(valueAt(name, version)))), thread)
            expect(so.stats().version, `${name} drove version ${version}`).toBe(version)
            // Every listed version but the last is sealed; the last stays current (and dirty).
            if (i < listed.length - 1) yield* so.seal
          }
        }
        yield* flush

        // The drive reproduced the case exactly: persisted (version, deps) pairs as the coordinator saw them.
        const sortDeps = (deps: ReadonlyArray<readonly [number, number]>) =>
          deps.map(([w, v]) => [w, v]).sort((x, y) => x[0]! - y[0]!)
        for (const name of names) {
          const listed = c.workers[name] ?? []
          const expected = [
            ...Array.from({ length: cutOf(c, name) }, (_, i) => ({ version: i + 1, deps: [] as Array<Array<number>> })),
            ...listed.slice(0, -1).map((v) => ({ version: v.version, deps: sortDeps(v.deps.map(([w, ver]) => [id(w), ver])) }))
          ]
          const reported = coordinator.reports
            .filter((r) => r.worker === id(name))
            .map((r) => ({ version: r.version, deps: sortDeps(r.deps) }))
          expect(reported, `${name}'s persisted versions`).toEqual(expected)
        }

        // The committed cut of the case.
        yield* coordinator.advanceCut(names.map((n) => [id(n), cutOf(c, n)] as const))
        yield* flush
        for (const name of names) expect(objects.get(name)!.stats().committed, `${name} committed`).toBe(cutOf(c, name))

        // The crash, and the world-line change the coordinator makes when the crashed worker comes back.
        yield* Scope.close(crashScope, Exit.void)
        yield* coordinator.changeWorldLine(names.map((n) => [id(n), c.expect.recoveryCut[n]!] as const))
        yield* flush
        expect(dse.worldLine()).toBe(c.expect.worldLine)

        for (const name of names) {
          if (name === c.crashed) continue
          const so = objects.get(name)!
          const stats = so.stats()
          const action = c.expect.actions[name]!
          expect(stats.worldLine, `${name} world-line`).toBe(c.expect.worldLine)
          if (action === "keep") {
            const listed = c.workers[name] ?? []
            const last = listed.length > 0 ? listed[listed.length - 1]!.version : cutOf(c, name)
            expect(stats.restores, `${name} keeps: restores`).toBe(0)
            expect(so.state.get(), `${name} keeps: state`).toBe(valueAt(name, last))
            expect(stats.version, `${name} keeps: version`).toBe(listed.length > 0 ? last : cutOf(c, name) + 1)
          } else {
            expect(stats.restores, `${name} restores: restores`).toBe(1)
            expect(so.state.get(), `${name} restores: state`).toBe(valueAt(name, action.restore))
            expect(stats.version, `${name} restores: version`).toBe(action.restore + 1)
            expect(stats.committed, `${name} restores: committed`).toBe(action.restore)
          }
        }

        // The crashed worker restarts: it restores its checkpoint at the recovery cut.
        const restarted = yield* makeObject(c.crashed)
        const expected = c.expect.actions[c.crashed]!
        expect(expected).not.toBe("keep")
        const restoreTo = (expected as { restore: number }).restore
        expect(restarted.id).toBe(id(c.crashed))
        expect(restarted.state.get(), `${c.crashed} restarted: state`).toBe(valueAt(c.crashed, restoreTo))
        expect(restarted.stats().version, `${c.crashed} restarted: version`).toBe(restoreTo + 1)
        expect(restarted.stats().worldLine).toBe(c.expect.worldLine)
      })
    )
  }
})
