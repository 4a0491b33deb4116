/**
 * SIGKILL at an arbitrary instant: every persist a child process saw complete must be restorable
 * afterwards, intact, and the file must open cleanly.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { SqliteCheckpointStore } from "../src/index"
import { stateAt, WORKER } from "./fixtures/crashModel"
import { entriesOf, tempDir, v } from "./helpers"

const repoRoot = fileURLToPath(new URL("../../..", import.meta.url))
const script = fileURLToPath(new URL("./fixtures/persistLoop.ts", import.meta.url))

interface Round {
  readonly done: ReadonlyArray<number>
  readonly pruned: ReadonlyArray<number>
}

/** Runs the child until it has reported `target` persists, then SIGKILLs it (by pid) a moment later. */
const runAndKill = (dataDir: string, mode: "plain" | "prune", target: number, extraDelayMs: number) =>
  Effect.async<Round, Error>((resume) => {
    const child = spawn(process.execPath, ["--import", "tsx", script, dataDir, mode], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"]
    })
    const done: Array<number> = []
    const pruned: Array<number> = []
    let stderr = ""
    let buffer = ""
    let killing = false
    const kill = () => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, "SIGKILL")
    }
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    child.stdout.on("data", (chunk: Buffer) => {
      buffer += chunk.toString()
      const lines = buffer.split("\n")
      buffer = lines.pop() ?? ""
      for (const line of lines) {
        const [word, n] = line.split(" ")
        // Lines after the kill was decided still count: they were printed after completion.
        if (word === "done") done.push(Number(n))
        if (word === "pruned") pruned.push(Number(n))
      }
      if (!killing && done.length >= target) {
        killing = true
        setTimeout(kill, extraDelayMs)
      }
    })
    child.on("exit", (code, signal) => {
      if (signal === "SIGKILL") resume(Effect.succeed({ done, pruned }))
      else resume(Effect.fail(new Error(`child exited with code ${code} before it was killed: ${stderr}`)))
    })
    child.on("error", (error) => resume(Effect.fail(error)))
    return Effect.sync(kill)
  })

/** Opens the killed child's file and checks every reported version against the model. */
const verify = (dataDir: string, round: Round) =>
  Effect.scoped(
    Effect.gen(function* () {
      const w = yield* (yield* SqliteCheckpointStore.make({ dataDir })).open(WORKER)
      const list = yield* w.list
      const versions = list.checkpoints.map((c) => c.version)
      const latest = versions.at(-1) ?? list.base
      // No holes: every version from the base up is there.
      expect(versions).toEqual(Array.from({ length: versions.length }, (_, i) => list.base + 1 + i))
      const lastDone = round.done.at(-1) ?? 0
      expect(latest).toBeGreaterThanOrEqual(lastDone)
      // A reported prune is durable too.
      expect(list.base).toBeGreaterThanOrEqual(round.pruned.at(-1) ?? 0)
      for (const reported of round.done) {
        if (reported < list.base) continue
        expect(entriesOf(yield* w.restore(v(reported)))).toEqual(entriesOf({ entries: stateAt(reported) }))
      }
      // Including a version that committed but was not reported yet: never torn.
      expect(entriesOf(yield* w.restore(v(latest)))).toEqual(entriesOf({ entries: stateAt(latest) }))
      return { latest, base: list.base }
    })
  )

describe("crash (SIGKILL of a process that persists)", () => {
  it.scopedLive(
    "every persist reported complete before SIGKILL is restorable and intact",
    () =>
      Effect.gen(function* () {
        const dataDir = yield* tempDir
        let total = 0
        for (const [target, delay] of [[20, 0], [45, 1], [30, 3]] as const) {
          const round = yield* runAndKill(dataDir, "plain", target, delay)
          expect(round.done.length).toBeGreaterThanOrEqual(target)
          total += round.done.length
          const { latest } = yield* verify(dataDir, round)
          expect(latest).toBeGreaterThanOrEqual(total)
        }
      }),
    120_000
  )

  it.scopedLive(
    "a SIGKILL during persists and prunes loses no reported persist or prune",
    () =>
      Effect.gen(function* () {
        const dataDir = yield* tempDir
        for (const [target, delay] of [[37, 0], [52, 2]] as const) {
          const round = yield* runAndKill(dataDir, "prune", target, delay)
          expect(round.pruned.length).toBeGreaterThan(0)
          yield* verify(dataDir, round)
        }
      }),
    120_000
  )
})
