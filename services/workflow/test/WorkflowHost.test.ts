/**
 * The state rules of the host (pure functions, each run inside one Action by the engine).
 */
import { describe, expect, it } from "@effect/vitest"
import { encodeExitUnknown } from "../src/internal/codec"
import * as Host from "../src/WorkflowHost"
import { Exit } from "effect"

const create = (s: Host.HostState, id = "e1") => Host.createExecution(s, id, { workflow: "W", payload: { n: 1 }, now: 0 })
const ok = encodeExitUnknown(Exit.succeed("v"))

describe("WorkflowHost", () => {
  it("creating an execution is idempotent on its id: a later payload is ignored", () => {
    const s = new Host.HostState()
    expect(create(s).created).toBe(true)
    const again = Host.createExecution(s, "e1", { workflow: "W", payload: { n: 2 }, now: 5 })
    expect(again.created).toBe(false)
    expect(again.record.payload).toEqual({ n: 1 })
  })

  it("a wake-up between a run's start and its suspension keeps the execution running (no lost wake-up)", () => {
    const s = new Host.HostState()
    create(s)
    const atStart = s.executions.get("e1")!.wakeups
    expect(Host.recordDeferred(s, "e1", "go", ok, 1)).toEqual({ accepted: true, woke: true })
    expect(Host.suspend(s, "e1", atStart, 2)).toBe("rerun")
    expect(s.executions.get("e1")!.status).toBe("running")
    // Without a wake-up, the run's suspension is recorded.
    expect(Host.suspend(s, "e1", s.executions.get("e1")!.wakeups, 3)).toBe("suspended")
    expect(s.executions.get("e1")!.status).toBe("suspended")
  })

  it("the first result of a deferred wins", () => {
    const s = new Host.HostState()
    create(s)
    Host.recordDeferred(s, "e1", "go", ok, 1)
    expect(Host.recordDeferred(s, "e1", "go", encodeExitUnknown(Exit.succeed("other")), 2).accepted).toBe(false)
    expect(s.deferreds.get(Host.deferredKey("e1", "go"))).toEqual(ok)
  })

  it("a signal for an execution that does not exist yet is kept for it; one for a complete execution is dropped", () => {
    const s = new Host.HostState()
    expect(Host.recordDeferred(s, "later", "go", ok, 1)).toEqual({ accepted: true, woke: false })
    create(s)
    Host.complete(s, "e1", { _tag: "Success", value: 1 }, "success", 2)
    expect(Host.recordDeferred(s, "e1", "go", ok, 3).accepted).toBe(false)
  })

  it("a clock is scheduled once, even though every replay asks again, and fires once", () => {
    const s = new Host.HostState()
    create(s)
    const clock: Host.ClockRecord = { executionId: "e1", workflow: "W", name: "nap", deferred: "DurableClock/nap", wakeAt: 100 }
    expect(Host.scheduleClock(s, clock)).toBe(true)
    expect(Host.scheduleClock(s, { ...clock, wakeAt: 200 })).toBe(false)
    Host.suspend(s, "e1", 0, 1)
    expect(Host.fireClock(s, { ...clock, wakeAt: 200 }, ok, 100)).toBe(false)
    expect(Host.fireClock(s, clock, ok, 100)).toBe(true)
    expect(s.executions.get("e1")!.status).toBe("running")
    expect(Host.fireClock(s, clock, ok, 100)).toBe(false)
    // Once fired, a replay does not schedule it again.
    expect(Host.scheduleClock(s, clock)).toBe(false)
  })

  it("completing an execution drops what only its replays needed and wakes its parent", () => {
    const s = new Host.HostState()
    create(s, "parent")
    Host.suspend(s, "parent", 0, 1)
    Host.createExecution(s, "child", { workflow: "C", payload: {}, parent: { workflow: "W", executionId: "parent" }, now: 1 })
    s.activities.set(Host.activityKey("child", "a", 1), ok)
    s.deferreds.set(Host.deferredKey("child", "d"), ok)
    s.externals.set(Host.externalKey("child", "k"), { value: 1 })
    s.activities.set(Host.activityKey("parent", "a", 1), ok)
    expect(Host.complete(s, "child", { _tag: "Success", value: 1 }, "success", 2)).toEqual({ workflow: "W", executionId: "parent" })
    expect(Array.from(s.activities.keys())).toEqual([Host.activityKey("parent", "a", 1)])
    expect(s.deferreds.size + s.externals.size).toBe(0)
    expect(s.executions.get("parent")!.status).toBe("running")
    expect(s.executions.get("child")!.status).toBe("complete")
  })

  it("the state survives a checkpoint round trip and tells its listeners about restores", () => {
    const s = new Host.HostState()
    create(s)
    s.activities.set(Host.activityKey("e1", "DurableClock/nap", 1), ok)
    const delta = s.takeDelta()
    const restored = new Host.HostState()
    let restores = 0
    restored.onRestore(() => restores++)
    restored.restore(new Map(delta.map(([k, v]) => [k, v])))
    expect(restores).toBe(1)
    expect(restored.executions.get("e1")).toEqual(s.executions.get("e1"))
    expect(restored.activities.get(Host.activityKey("e1", "DurableClock/nap", 1))).toEqual(ok)
  })
})
