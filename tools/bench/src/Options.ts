/**
 * The options of `dse bench` / `pnpm bench`, and their command-line form:
 *
 *   [suite...] [--quick] [--json] [--out DIR] [--storage-latency MS] [--keep]
 */
import { Data, Either } from "effect"

/** A command line or option the bench cannot run with: what is wrong, and the usage text. */
export class InvalidOptions extends Data.TaggedError("InvalidOptions")<{
  readonly reason: string
}> {
  override get message() {
    return `${this.reason}\n${USAGE}`
  }
}

export interface BenchOptions {
  /** Suites to run, in this order (default: all, in the registry's order). */
  readonly suites?: ReadonlyArray<string>
  /** Few samples and small N: checks that every suite produces numbers for every mode (CI), in about 3 minutes. */
  readonly quick?: boolean
  /** Print one JSON document on stdout instead of the tables (the files are written either way). */
  readonly json?: boolean
  /** Where results.json, report.md and the charts go. Default `bench-results/<date-time>` under the cwd. */
  readonly out?: string
  /** Emulate replicated storage: every durable write waits this many extra ms (0: off). */
  readonly storageLatencyMs?: number
  /** Keep the temporary data directory (process logs, sqlite files) for inspection. */
  readonly keep?: boolean
  /** Progress lines (default: stderr with elapsed time). */
  readonly progress?: (line: string) => void
  /** The command line, for the report. */
  readonly command?: string
}

export const USAGE =
  "usage: dse bench [suite...] [--quick] [--json] [--out DIR] [--storage-latency MS] [--keep]\n" +
  "suites: primitives saga chain kv wal pipeline recovery (default: all)"

/** Parses the command line (without the program name). Left: what is wrong (InvalidOptions). */
export const parseArgs = (argv: ReadonlyArray<string>): Either.Either<BenchOptions & { readonly help?: boolean }, InvalidOptions> => {
  const invalid = (reason: string) => Either.left(new InvalidOptions({ reason }))
  const suites: Array<string> = []
  let quick = false
  let json = false
  let keep = false
  let out: string | undefined
  let storageLatencyMs: number | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const value = (): string | undefined => {
      const eq = arg.indexOf("=")
      if (eq >= 0) return arg.slice(eq + 1)
      i++
      return argv[i]
    }
    const name = arg.split("=")[0]
    switch (name) {
      case "--quick":
        quick = true
        break
      case "--json":
        json = true
        break
      case "--keep":
        keep = true
        break
      case "--out": {
        const v = value()
        if (!v) return invalid("--out needs a directory")
        out = v
        break
      }
      case "--storage-latency": {
        const raw = value()
        const v = raw === undefined || raw.trim() === "" ? Number.NaN : Number(raw)
        if (!Number.isFinite(v) || v < 0 || v > 1000) return invalid(`--storage-latency needs milliseconds in [0, 1000], got ${JSON.stringify(raw ?? "")}`)
        storageLatencyMs = v
        break
      }
      case "--help":
      case "-h":
        return Either.right({ help: true })
      default:
        if (arg.startsWith("-")) return invalid(`unknown option ${arg}`)
        suites.push(arg)
    }
  }
  return Either.right({
    ...(suites.length > 0 ? { suites } : {}),
    quick,
    json,
    keep,
    ...(out !== undefined ? { out } : {}),
    ...(storageLatencyMs !== undefined ? { storageLatencyMs } : {})
  })
}
