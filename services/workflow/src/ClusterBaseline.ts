/**
 * Effect's own engine as the durable baseline: `ClusterWorkflowEngine` with `SingleRunner` over
 * `@effect/sql-sqlite-node`, with `PRAGMA synchronous=FULL` (better-sqlite3's WAL default is
 * NORMAL, which does not fsync every commit). Same workflow code, one layer switched:
 *
 *   WorkflowsLive.pipe(Layer.provideMerge(ClusterBaseline.layer({ filename: "./effect.db" })))
 *
 * Used by the cross-engine tests and by tools/bench. `pragmas` reports the effective settings.
 */
import { ClusterWorkflowEngine, SingleRunner } from "@effect/cluster"
import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import type { WorkflowEngine } from "@effect/workflow"
import { Context, Duration, Effect, Layer } from "effect"

export interface Options {
  /** The sqlite file (created if missing). */
  readonly filename: string
  /** Default "FULL"; "NORMAL" only for comparison runs. */
  readonly synchronous?: "FULL" | "NORMAL"
  /**
   * How often storage is polled for due messages (Effect's default is 10 s). Durable clocks and
   * re-deliveries after a restart are found by this poll. Default 100 ms.
   */
  readonly entityMessagePollInterval?: Duration.DurationInput
}

export interface Pragmas {
  /** 2 = FULL, 1 = NORMAL. */
  readonly synchronous: number
  readonly journalMode: string
}

export class SqlitePragmas extends Context.Tag("@dse/workflow/ClusterBaseline/SqlitePragmas")<SqlitePragmas, Pragmas>() {}

/** The sqlite client with `synchronous` set on its single connection, and read back. */
export const sqlite = (options: Options): Layer.Layer<SqlClient.SqlClient | SqlitePragmas> => {
  const synchronous = options.synchronous ?? "FULL"
  const pragmas = Layer.effect(
    SqlitePragmas,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      // SqliteClient holds exactly one better-sqlite3 connection: a PRAGMA sticks for all of it.
      yield* sql.unsafe(`PRAGMA synchronous = ${synchronous}`)
      const [sync] = yield* sql<{ synchronous: number }>`PRAGMA synchronous`
      const [journal] = yield* sql<{ journal_mode: string }>`PRAGMA journal_mode`
      const effective = { synchronous: sync?.synchronous ?? -1, journalMode: journal?.journal_mode ?? "?" }
      if (synchronous === "FULL" && effective.synchronous !== 2) {
        return yield* Effect.dieMessage(`${options.filename}: PRAGMA synchronous is ${effective.synchronous}, expected 2 (FULL)`)
      }
      return effective
    }).pipe(Effect.orDie)
  )
  return pragmas.pipe(Layer.provideMerge(SqliteClient.layer({ filename: options.filename })), Layer.orDie)
}

/** `ClusterWorkflowEngine` on a `SingleRunner` over sqlite (messages and replies in sqlite). */
export const layer = (options: Options): Layer.Layer<WorkflowEngine.WorkflowEngine | SqlitePragmas> =>
  ClusterWorkflowEngine.layer.pipe(
    Layer.provideMerge(
      SingleRunner.layer({
        runnerStorage: "memory",
        shardingConfig: {
          entityMessagePollInterval: Duration.decode(options.entityMessagePollInterval ?? Duration.millis(100))
        }
      })
    ),
    Layer.provideMerge(sqlite(options)),
    Layer.orDie
  ) as Layer.Layer<WorkflowEngine.WorkflowEngine | SqlitePragmas>
