/**
 * Replays every case of shared/vectors/cut.json (SPEC 3.5, 3.8): after each report the committed
 * cut of a CutFinder must equal the vector's cut, with every worker of the base or that has
 * reported listed.
 */
import { describe, expect, it } from "@effect/vitest"
import { CutFinder } from "../src/index"
import { cutCases, Names } from "./support/vectors"

const cases = cutCases()

describe("cut vectors", () => {
  it("are present", () => {
    expect(cases.length).toBeGreaterThan(0)
  })

  for (const c of cases) {
    it(`committed cut after each report: ${c.name}`, () => {
      expect(c.cuts.length).toBe(c.reports.length)
      const names = new Names()
      const finder = CutFinder.make(names.toCut(c.base))
      c.reports.forEach((r, i) => {
        const before = finder.cut()
        const changed = finder.report(names.id(r.worker), r.version, names.deps(r.deps))
        const after = finder.cut()
        expect(names.record(after), `after report ${i} (${r.worker}@${r.version})`).toEqual(c.cuts[i])
        const advanced = [...after].some(([w, v]) => v > (before.get(w) ?? 0))
        expect(changed, `report ${i} says whether the cut advanced`).toBe(advanced)
      })
    })
  }
})
