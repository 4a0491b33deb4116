/**
 * The main-thread end of the sqlite worker thread: request ids over postMessage, one pending
 * callback per request. The thread executes requests in arrival order, and postMessage keeps
 * send order, so the operations of a worker run in the order they were called.
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import { Worker } from "node:worker_threads"

/** Why a request failed: `corrupt` only comes from `open`. */
export class ThreadFailure {
  readonly _tag = "ThreadFailure"
  constructor(
    readonly kind: "corrupt" | "io",
    readonly reason: string
  ) {}
}

export interface ThreadClient {
  readonly request: <A>(message: { readonly op: string; readonly worker: string; readonly [k: string]: unknown }) => Effect.Effect<A, ThreadFailure>
  /** The thread itself, for tests that kill it. */
  readonly thread: Worker
}

interface Pending {
  readonly resume: (effect: Effect.Effect<any, ThreadFailure>) => void
}

type Reply =
  | { readonly type: "ready" }
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly error: { readonly kind: "corrupt" | "io"; readonly reason: string } }

const threadUrl = new URL("./sqliteThread.mjs", import.meta.url)

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/**
 * Starts the thread and waits until it has loaded better-sqlite3. When the scope closes, every
 * open file is closed by the thread (finishing the requests before it) and the thread is terminated.
 */
export const make = (options: { readonly extraWriteLatencyMs: number }): Effect.Effect<ThreadClient, ThreadFailure, Scope.Scope> =>
  Effect.gen(function* () {
    const pending = new Map<number, Pending>()
    let nextId = 1
    let dead: string | undefined
    let ready = false
    let onReady: ((error?: string) => void) | undefined

    const die = (reason: string) => {
      if (dead !== undefined) return
      dead = reason
      onReady?.(reason)
      const failed = Array.from(pending.values())
      pending.clear()
      for (const p of failed) p.resume(Effect.fail(new ThreadFailure("io", reason)))
    }

    const thread = yield* Effect.acquireRelease(
      Effect.try({
        try: () =>
          new Worker(threadUrl, {
            workerData: { extraWriteLatencyMs: options.extraWriteLatencyMs },
            // The caller's loader flags (tsx, vitest) are of no use to a plain .mjs thread.
            execArgv: []
          }),
        catch: (error) => new ThreadFailure("io", `cannot start the sqlite thread: ${describe(error)}`)
      }),
      (thread) =>
        Effect.gen(function* () {
          if (dead === undefined) {
            yield* request<void>({ op: "shutdown", worker: "" }).pipe(Effect.ignore)
          }
          dead ??= "the checkpoint store is closed"
          yield* Effect.promise(() => thread.terminate())
        })
    )

    thread.on("message", (reply: Reply) => {
      if ("type" in reply) {
        ready = true
        onReady?.()
        return
      }
      const p = pending.get(reply.id)
      if (p === undefined) return // its caller was interrupted
      pending.delete(reply.id)
      p.resume(reply.ok ? Effect.succeed(reply.value) : Effect.fail(new ThreadFailure(reply.error.kind, reply.error.reason)))
    })
    thread.on("error", (error) => die(`the sqlite thread failed: ${describe(error)}`))
    thread.on("exit", (code) => die(`the sqlite thread exited (code ${code})`))

    const request = <A>(message: { readonly op: string; readonly worker: string }): Effect.Effect<A, ThreadFailure> =>
      Effect.async<A, ThreadFailure>((resume) => {
        if (dead !== undefined) {
          resume(Effect.fail(new ThreadFailure("io", dead)))
          return
        }
        const id = nextId++
        pending.set(id, { resume })
        try {
          thread.postMessage({ ...message, id })
        } catch (error) {
          // Not structured-cloneable (a function, a class with private state...): nothing was sent.
          pending.delete(id)
          resume(Effect.fail(new ThreadFailure("io", `cannot send to the sqlite thread: ${describe(error)}`)))
          return
        }
        // Interruption cannot recall a sent request; it only stops waiting for the reply.
        return Effect.sync(() => pending.delete(id))
      })

    // The thread may have answered already: the fiber can yield between starting it and here.
    yield* Effect.async<void, ThreadFailure>((resume) => {
      if (dead !== undefined) return resume(Effect.fail(new ThreadFailure("io", dead)))
      if (ready) return resume(Effect.void)
      onReady = (error) => {
        onReady = undefined
        resume(error === undefined ? Effect.void : Effect.fail(new ThreadFailure("io", error)))
      }
    })

    return { request, thread } satisfies ThreadClient
  })
