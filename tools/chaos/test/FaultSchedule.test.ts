import { describe, expect, it } from "@effect/vitest"
import * as FaultSchedule from "../src/FaultSchedule"

const processes = ["coordinator", "wal", "kv-0", "kv-1", "kv-2", "broker", "workflow"]

describe("FaultSchedule", () => {
  it("is a function of the seed", () => {
    const a = FaultSchedule.plan({ seed: 5, duration: 60_000, kills: 12, processes })
    expect(FaultSchedule.plan({ seed: 5, duration: 60_000, kills: 12, processes })).toEqual(a)
    expect(FaultSchedule.plan({ seed: 6, duration: 60_000, kills: 12, processes })).not.toEqual(a)
  })

  it("delivers exactly the kills asked for, in time order, inside the workload", () => {
    for (let seed = 0; seed < 200; seed++) {
      const kills = seed % 17
      const events = FaultSchedule.plan({ seed, duration: 30_000, kills, processes })
      expect(FaultSchedule.kills(events)).toBe(kills)
      for (let i = 1; i < events.length; i++) expect(events[i]!.at).toBeGreaterThanOrEqual(events[i - 1]!.at)
      for (const e of events) {
        expect(e.at).toBeGreaterThanOrEqual(1500)
        expect(e.at).toBeLessThanOrEqual(25_500)
        for (const v of e.victims) expect(processes).toContain(v)
        if (e.kind === "pair" || e.kind === "recovery") expect(e.victims[0]).not.toBe(e.victims[1])
        if (e.kind === "restart") expect(e.victims[0]).toBe(e.victims[1])
      }
    }
  })

  it("starts every campaign of 5 kills or more with a coordinator kill, a pair and a kill during recovery", () => {
    for (let seed = 0; seed < 50; seed++) {
      const events = FaultSchedule.plan({ seed, duration: 60_000, kills: 5 + (seed % 30), processes })
      expect(events.slice(0, 3).map((e) => e.kind).sort()).toEqual(["coordinator", "pair", "recovery"])
      expect(events.find((e) => e.kind === "coordinator")!.victims).toEqual(["coordinator"])
    }
  })

  it("never picks a process it was not given", () => {
    const events = FaultSchedule.plan({ seed: 9, duration: 10_000, kills: 20, processes: ["kv-0", "kv-1"] })
    expect(new Set(events.flatMap((e) => e.victims))).toEqual(new Set(["kv-0", "kv-1"]))
  })
})
