/** The supervisor's control API over real HTTP: list processes, restart one, unknown names, shutdown. */
import { Deferred, Effect, Either } from "effect"
import * as fs from "node:fs"
import { afterAll, describe, expect, it } from "vitest"
import * as ControlApi from "../src/ControlApi"
import { Supervisor } from "../src/Supervisor"
import { fixture, killLeftovers, run, tempDir } from "./helpers"

const dirs: Array<string> = []
const pids = new Set<number>()
afterAll(() => {
  killLeftovers(pids)
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true })
})

describe("ControlApi", () => {
  it("serves the supervisor: GET /processes, POST /restart/:name, POST /shutdown", () =>
    run(
      Effect.gen(function* () {
        const dataDir = tempDir()
        dirs.push(dataDir)
        const supervisor = yield* Supervisor.make({ dataDir, cwd: process.cwd(), autoRestart: false })
        supervisor.onChange((all) => all.forEach((s) => s.pid !== undefined && pids.add(s.pid)))
        const first = yield* supervisor.start({ name: "svc", kind: "fixture", entry: fixture("ready"), args: ["--port", "0"] })
        const shutdown = yield* Deferred.make<void>()
        const control = yield* ControlApi.serve(supervisor, shutdown)
        expect(control.host).toBe("127.0.0.1")

        const listed = yield* ControlApi.processes(control)
        expect(listed.map((p) => [p.name, p.state, p.pid])).toEqual([["svc", "up", first.pid]])

        const restarted = yield* ControlApi.restart(control, "svc")
        expect(restarted.pid).not.toBe(first.pid)
        expect(restarted.address).toBe(first.address)
        expect(supervisor.status("svc")?.pid).toBe(restarted.pid)

        const unknown = yield* Effect.either(ControlApi.restart(control, "nope"))
        expect(Either.isLeft(unknown)).toBe(true)
        expect((unknown as Either.Left<{ message: string }, unknown>).left.message).toContain("no process named nope")

        expect(yield* Deferred.isDone(shutdown)).toBe(false)
        yield* ControlApi.shutdown(control)
        expect(yield* Deferred.isDone(shutdown)).toBe(true)
      })
    ))

  it("a control API that does not answer is a clear LaunchError", async () => {
    const result = await Effect.runPromise(Effect.either(ControlApi.processes({ host: "127.0.0.1", port: 1 })))
    expect(Either.isLeft(result)).toBe(true)
    expect((result as Either.Left<{ message: string }, unknown>).left.message).toContain("is `dse up` still running?")
  })
})
