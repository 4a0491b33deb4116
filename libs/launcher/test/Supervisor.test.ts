/**
 * The supervisor against tiny real child processes (test/fixtures): ready-line parsing, a start
 * that fails carrying the child's last lines, restart after SIGKILL on the same port, restart on
 * request, and every child gone (by pid) when the scope closes.
 */
import { Effect, Either, Exit, Scope } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import { afterAll, describe, expect, it } from "vitest"
import { isAlive, StartFailed, Supervisor } from "../src/Supervisor"
import { fixture, killLeftovers, run, tempDir, waitGone, waitUntil } from "./helpers"

const dirs: Array<string> = []
const pids = new Set<number>()
afterAll(() => {
  killLeftovers(pids)
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true })
})

const make = (options: { autoRestart?: boolean; startTimeout?: string } = {}) =>
  Effect.gen(function* () {
    const dataDir = tempDir()
    dirs.push(dataDir)
    const supervisor = yield* Supervisor.make({
      dataDir,
      cwd: process.cwd(),
      autoRestart: options.autoRestart ?? false,
      startTimeout: (options.startTimeout ?? "20 seconds") as any,
      restartDelay: "100 millis"
    })
    supervisor.onChange((all) => all.forEach((s) => s.pid !== undefined && pids.add(s.pid)))
    return supervisor
  })

const spec = (name: string, which: "ready" | "exits" | "silent", args: ReadonlyArray<string> = ["--port", "0"]) => ({
  name,
  kind: "fixture",
  entry: fixture(which),
  args
})

/** Connects to `address` and reads the fixture's greeting: proves the port is really served. */
const greet = (address: string) =>
  Effect.async<string, Error>((resume) => {
    const i = address.lastIndexOf(":")
    const socket = net.connect(Number(address.slice(i + 1)), address.slice(0, i))
    let text = ""
    socket.on("data", (d) => (text += d.toString()))
    socket.on("end", () => resume(Effect.succeed(text.trim())))
    socket.on("error", (e) => resume(Effect.fail(e)))
  })

describe("Supervisor", () => {
  it("parses the ready line: state up, the address printed, the pid alive, output in the log", () =>
    run(
      Effect.gen(function* () {
        const supervisor = yield* make()
        const status = yield* supervisor.start(spec("svc", "ready"))
        expect(status.state).toBe("up")
        expect(status.address).toMatch(/^127\.0\.0\.1:\d+$/)
        expect(status.address!.endsWith(":0")).toBe(false)
        expect(status.pid).toBeTypeOf("number")
        expect(isAlive(status.pid!)).toBe(true)
        expect(yield* greet(status.address!)).toBe("hello")
        const log = fs.readFileSync(supervisor.logPath("svc"), "utf8")
        expect(log).toContain("fixture: booting")
        expect(log).toContain(`fixture ready ${status.address}`)
      })
    ))

  it("a child that exits before it is ready: StartFailed with its exit and its last lines", () =>
    run(
      Effect.gen(function* () {
        const supervisor = yield* make()
        const result = yield* Effect.either(supervisor.start(spec("bad", "exits")))
        expect(Either.isLeft(result)).toBe(true)
        const error = (result as Either.Left<StartFailed, unknown>).left
        expect(error).toBeInstanceOf(StartFailed)
        expect(error.reason).toContain("exit code 3")
        expect(error.excerpt.join("\n")).toContain("disk on fire")
        expect(error.message).toContain("disk on fire")
        expect(error.log).toBe(supervisor.logPath("bad"))
        expect(fs.readFileSync(error.log, "utf8")).toContain("[stderr] fixture: cannot open the database: disk on fire")
        expect(supervisor.status("bad")?.state).toBe("down")
      })
    ))

  it("a child that never prints its ready line: StartFailed after the timeout, and the child is stopped", () =>
    run(
      Effect.gen(function* () {
        // Long enough for the child to print its first line on a loaded machine.
        const supervisor = yield* make({ startTimeout: "12 seconds" })
        let pid: number | undefined
        supervisor.onChange(() => (pid = pid ?? supervisor.status("mute")?.pid))
        const result = yield* Effect.either(supervisor.start(spec("mute", "silent")))
        expect(Either.isLeft(result)).toBe(true)
        const error = (result as Either.Left<StartFailed, unknown>).left
        expect(error.reason).toMatch(/no ready line within/)
        expect(error.excerpt).toContain("fixture: thinking forever")
        expect(pid).toBeTypeOf("number")
        expect(yield* Effect.promise(() => waitGone([pid!]))).toEqual([])
      })
    ))

  it("restarts a child after SIGKILL, on the same port", () =>
    run(
      Effect.gen(function* () {
        const supervisor = yield* make({ autoRestart: true })
        const first = yield* supervisor.start(spec("svc", "ready"))
        process.kill(first.pid!, "SIGKILL")
        yield* waitUntil("the restart", () => {
          const s = supervisor.status("svc")
          return s?.state === "up" && s.pid !== undefined && s.pid !== first.pid
        })
        const second = supervisor.status("svc")!
        expect(isAlive(first.pid!)).toBe(false)
        expect(second.address).toBe(first.address)
        expect(second.restarts).toBe(1)
        expect(second.lastExit).toBe("killed by SIGKILL")
        expect(second.args).toContain(first.address!.split(":")[1])
        expect(yield* greet(second.address!)).toBe("hello")
      })
    ))

  it("without auto-restart a killed child stays down; restart(name) brings it back on the same port", () =>
    run(
      Effect.gen(function* () {
        const supervisor = yield* make({ autoRestart: false })
        const first = yield* supervisor.start(spec("svc", "ready"))
        process.kill(first.pid!, "SIGKILL")
        yield* waitUntil("the process to be seen down", () => supervisor.status("svc")?.state === "down")
        yield* Effect.sleep("300 millis")
        expect(supervisor.status("svc")?.pid).toBeUndefined()
        const again = yield* supervisor.restart("svc")
        expect(again.state).toBe("up")
        expect(again.address).toBe(first.address)
        // restart of a running process: stopped with SIGTERM, started again
        const third = yield* supervisor.restart("svc")
        expect(third.pid).not.toBe(again.pid)
        expect(isAlive(again.pid!)).toBe(false)
        expect(third.address).toBe(first.address)
        const unknown = yield* Effect.either(supervisor.restart("nope"))
        expect(Either.isLeft(unknown)).toBe(true)
      })
    ))

  it("stops every child when its scope closes (none left by pid)", async () => {
    const started = await run(
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        const supervisor = yield* make().pipe(Scope.extend(scope))
        const a = yield* supervisor.start(spec("coordinator", "ready"))
        const b = yield* supervisor.start(spec("svc-1", "ready"))
        const c = yield* supervisor.start(spec("svc-2", "ready"))
        const all = [a.pid!, b.pid!, c.pid!]
        expect(all.every(isAlive)).toBe(true)
        yield* Scope.close(scope, Exit.void)
        expect(supervisor.statuses().map((s) => s.state)).toEqual(["stopped", "stopped", "stopped"])
        return all
      })
    )
    expect(await waitGone(started)).toEqual([])
  })
})
