/**
 * What starting, finding or talking to a local cluster fails with: a message for a person (the
 * `dse` command prints it as `dse <verb>: <message>`) and the exit code a command should end with
 * (1: it failed; 2: bad usage).
 */
import { Data } from "effect"

export class LaunchError extends Data.TaggedError("LaunchError")<{
  readonly message: string
  readonly code: number
}> {}

/** It failed (exit code 1). */
export const fail = (message: string): LaunchError => new LaunchError({ message, code: 1 })

/** Bad usage: a wrong argument or flag (exit code 2). */
export const usage = (message: string): LaunchError => new LaunchError({ message, code: 2 })

/** The message of anything thrown or failed with (typed errors: their tag and message or fields). */
export const describe = (error: unknown): string => {
  if (typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string") {
    const message = "message" in error && typeof error.message === "string" ? error.message : ""
    if (message !== "" && message !== "An error has occurred") return `${error._tag}: ${message}`
    const fields: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(error)) if (k !== "_tag" && k !== "stack") fields[k] = v
    return `${error._tag} ${JSON.stringify(fields)}`
  }
  if (error instanceof Error) return error.message
  return String(error)
}
