/**
 * `<dataDir>/coordinator.json`: where a running coordinator listens, for tools and worker processes
 * that start later. Written once the coordinator listens, atomically (a temporary file renamed over
 * the old one), and removed when it stops cleanly. After a crash the file stays: check `pid`.
 */
import { Effect, Option, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"

export const FILE_NAME = "coordinator.json"

export const CoordinatorInfo = Schema.Struct({
  host: Schema.String,
  port: Schema.Int.pipe(Schema.between(1, 65535)),
  pid: Schema.Int.pipe(Schema.positive())
})
export type CoordinatorInfo = typeof CoordinatorInfo.Type

export const pathOf = (dataDir: string): string => path.join(dataDir, FILE_NAME)

export class CoordinatorFileError extends Schema.TaggedError<CoordinatorFileError>("@dse/CoordinatorFileError")(
  "CoordinatorFileError",
  { path: Schema.String, reason: Schema.String }
) {
  override get message() {
    return `${this.path}: ${this.reason}`
  }
}

const describe = (error: unknown) => (error instanceof Error ? error.message : String(error))

/** Writes the file atomically: readers see the old content or the new one, never a part. */
export const write = (dataDir: string, info: CoordinatorInfo): Effect.Effect<void, CoordinatorFileError> =>
  Effect.try({
    try: () => {
      const target = pathOf(dataDir)
      const temp = `${target}.${process.pid}.tmp`
      const fd = fs.openSync(temp, "w")
      try {
        fs.writeSync(fd, JSON.stringify(info) + "\n")
        fs.fsyncSync(fd)
      } finally {
        fs.closeSync(fd)
      }
      fs.renameSync(temp, target)
    },
    catch: (error) => new CoordinatorFileError({ path: pathOf(dataDir), reason: describe(error) })
  })

/** The file's content; none when it is missing. */
export const read = (dataDir: string): Effect.Effect<Option.Option<CoordinatorInfo>, CoordinatorFileError> =>
  Effect.gen(function* () {
    const file = pathOf(dataDir)
    const text = yield* Effect.try({
      try: () => (fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined),
      catch: (error) => new CoordinatorFileError({ path: file, reason: describe(error) })
    })
    if (text === undefined) return Option.none()
    return Option.some(
      yield* Schema.decodeUnknown(Schema.parseJson(CoordinatorInfo))(text).pipe(
        Effect.mapError((error) => new CoordinatorFileError({ path: file, reason: error.message }))
      )
    )
  })

/** Removes the file if it still names `pid` (a newer coordinator may have replaced it). */
export const remove = (dataDir: string, pid: number): Effect.Effect<void> =>
  Effect.ignore(
    Effect.flatMap(read(dataDir), (info) =>
      Option.isSome(info) && info.value.pid === pid ? Effect.sync(() => fs.rmSync(pathOf(dataDir), { force: true })) : Effect.void
    )
  )
