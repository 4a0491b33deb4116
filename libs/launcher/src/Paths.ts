/**
 * Where things are: the repository (the services' entry points are run from its root), and the
 * files of a data directory.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/** The repository's root (libs/launcher/src/../../..). */
export const repoRoot: string = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..")

/** The process main of each service, relative to the repository's root. */
export const serviceEntries = {
  coordinator: "services/coordinator/src/main.ts",
  wal: "services/wal/src/main.ts",
  kv: "services/kv/src/main.ts",
  broker: "services/broker/src/main.ts",
  workflow: "services/workflow/src/main.ts",
  /** A one-stage broker processor (topic to topic), started only when asked for (`ClusterOptions.relay`). */
  relay: "services/broker/src/relayMain.ts"
} as const

export type ServiceKind = keyof typeof serviceEntries

/** The absolute path of a service's main, if the service exists in this checkout. */
export const entryOf = (kind: ServiceKind): string | undefined => {
  const file = path.join(repoRoot, serviceEntries[kind])
  return fs.existsSync(file) ? file : undefined
}

/** The data directory as an absolute path. */
export const dataDir = (dir: string): string => path.resolve(dir)

export const clusterFile = (dir: string): string => path.join(dir, "cluster.json")
export const logsDir = (dir: string): string => path.join(dir, "logs")
export const logOf = (dir: string, name: string): string => path.join(dir, "logs", `${name}.log`)

/** Bytes of a worker's checkpoint files: `<worker>.db` plus its `-wal` (and `-shm`) companions. */
export const checkpointBytes = (dir: string, worker: string): number => {
  let total = 0
  for (const suffix of [".db", ".db-wal"]) {
    try {
      total += fs.statSync(path.join(dir, `${worker}${suffix}`)).size
    } catch {
      // not there (yet)
    }
  }
  return total
}
