/**
 * The command-line side every service process shares: flag parsing with clear errors (exit code 2
 * and the usage line), the flags every worker process takes (`--data --port --host --coordinator
 * --mode --seal-period --write-latency`), and running the program with each start failure reported
 * on stderr (exit code 1). A service's `main.ts` adds its own flags and its ready line.
 */
import { ExecutionMode } from "@dse/core"
import { Endpoint } from "@dse/transport"
import { NodeRuntime } from "@effect/platform-node"
import type { Scope } from "effect"
import { Effect, Either, Schema } from "effect"
import * as path from "node:path"
import { parseArgs } from "node:util"
import type { StartError, WorkerProcessOptions } from "./WorkerProcess"

type FlagSpec = { readonly type: "string" } | { readonly type: "boolean" }

/** The flags of every worker process; their defaults are applied by `worker()`. */
const WORKER_FLAGS = {
  data: { type: "string" },
  port: { type: "string" },
  host: { type: "string" },
  coordinator: { type: "string" },
  mode: { type: "string" },
  "seal-period": { type: "string" },
  "write-latency": { type: "string" }
} as const satisfies Record<string, FlagSpec>

/** Worker options from the common flags, plus the emulated storage latency (`--write-latency MS`). */
export interface WorkerFlags extends WorkerProcessOptions {
  readonly dataDir: string
  readonly host: string
  readonly port: number
  readonly mode: ExecutionMode
}

export interface ParsedFlags {
  readonly string: (name: string) => string | undefined
  readonly boolean: (name: string) => boolean
  /** An integer flag in [min, max]; exits with code 2 if it is not one. */
  readonly integer: (name: string, min: number, max?: number) => number | undefined
  /** A `host:port` flag; exits with code 2 if it is not one. */
  readonly address: (name: string) => { readonly host: string; readonly port: number } | undefined
  /** The common worker flags. */
  readonly worker: () => WorkerFlags
}

export interface ServiceMain {
  /** Prints `<program>: <message>` on stderr and exits with `code`. */
  readonly fail: (message: string, code: number) => never
  /** Parses argv with the common worker flags (if `worker`) and `extra`; `--help` prints the usage. */
  readonly parse: (extra: Record<string, FlagSpec>, options?: { readonly worker?: boolean }) => ParsedFlags
  /** Runs the program until it ends or the process is stopped; start failures exit with code 1. */
  readonly run: <E extends { readonly _tag: string; readonly message: string }>(
    program: Effect.Effect<unknown, StartError | E, Scope.Scope>
  ) => void
}

export const make = (program: string, usage: string): ServiceMain => {
  const fail = (message: string, code: number): never => {
    process.stderr.write(`${program}: ${message}\n`)
    process.exit(code)
  }
  const usageError = (message: string): never => fail(`${message}\n${usage}`, 2)

  const parse = (extra: Record<string, FlagSpec>, options: { readonly worker?: boolean } = {}): ParsedFlags => {
    let values: Record<string, string | boolean | undefined>
    try {
      values = parseArgs({
        options: { ...(options.worker === false ? {} : WORKER_FLAGS), ...extra, help: { type: "boolean" } },
        strict: true,
        allowPositionals: false
      }).values as Record<string, string | boolean | undefined>
    } catch (error) {
      return usageError(error instanceof Error ? error.message : String(error))
    }
    if (values.help === true) {
      process.stdout.write(`${usage}\n`)
      process.exit(0)
    }
    const string = (name: string) => {
      const value = values[name]
      return typeof value === "string" ? value : undefined
    }
    const integer = (name: string, min: number, max = Number.MAX_SAFE_INTEGER) => {
      const text = string(name)
      if (text === undefined) return undefined
      const n = Number(text)
      if (text.trim() === "" || !Number.isInteger(n) || n < min || n > max) {
        return usageError(`--${name} must be an integer in [${min}, ${max}], got ${text}`)
      }
      return n
    }
    const address = (name: string) => {
      const text = string(name)
      if (text === undefined) return undefined
      const parsed = Endpoint.parse(text)
      if (Either.isLeft(parsed) || parsed.right._tag !== "Tcp") return usageError(`--${name} must be host:port, got ${text}`)
      return { host: parsed.right.host, port: parsed.right.port }
    }
    const worker = (): WorkerFlags => {
      const mode = Schema.decodeUnknownEither(ExecutionMode)(string("mode") ?? "speculative")
      if (Either.isLeft(mode)) return usageError(`--mode must be speculative, durable or ephemeral, got ${string("mode")}`)
      const coordinator = address("coordinator")
      const sealPeriod = integer("seal-period", 1)
      const writeLatencyMs = integer("write-latency", 0)
      return {
        dataDir: path.resolve(string("data") ?? "./.dse"),
        host: string("host") ?? Endpoint.LOOPBACK,
        port: integer("port", 0, 65535) ?? 0,
        mode: mode.right,
        ...(coordinator !== undefined ? { coordinator } : {}),
        ...(sealPeriod !== undefined ? { sealPeriod: `${sealPeriod} millis` } : {}),
        ...(writeLatencyMs !== undefined && writeLatencyMs > 0 ? { writeLatencyMs } : {})
      }
    }
    return { string, boolean: (name) => values[name] === true, integer, address, worker }
  }

  const run: ServiceMain["run"] = (main) =>
    NodeRuntime.runMain(
      main.pipe(
        Effect.catchAll((error) =>
          Effect.sync(() =>
            error._tag === "CorruptCheckpoint" && "path" in error && "reason" in error
              ? fail(`${String(error.path)} is unusable (${String(error.reason)}): is --data the data directory of a dse cluster?`, 1)
              : fail(error.message, 1)
          )
        ),
        Effect.scoped
      )
    )

  return { fail, parse, run }
}
