import type { Database } from "better-sqlite3"

export declare const APPLICATION_ID: number
export declare const FORMAT_VERSION: number

export declare class DseFileError extends Error {
  constructor(kind: "corrupt" | "io", reason: string)
  readonly kind: "corrupt" | "io"
  readonly reason: string
}

export declare const describe: (error: unknown) => string
export declare const classify: (error: unknown) => DseFileError

export interface DsePragmas {
  readonly journalMode: string
  readonly synchronous: number
  readonly lockingMode: string
}

export declare const openDseFile: (spec: {
  readonly path: string
  readonly kind: string
  readonly owner: string
  readonly ddl: string
  readonly initialMeta?: Record<string, string>
  readonly timeoutMs?: number
  /** Page size of a newly created file (an existing file keeps its own). */
  readonly pageSize?: number
}) => {
  readonly db: Database
  readonly meta: Map<string, string>
  readonly created: boolean
  readonly pragmas: DsePragmas
}
