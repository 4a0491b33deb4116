/**
 * The optional peers of the `chain` suite: Restate and DBOS. They are never installed by the
 * workspace (not in any package.json or the lockfile); `tools/bench/peers/install.sh` installs
 * them into `$DSE_PEERS_DIR` (default `~/.cache/dse-peers`) for local runs. A peer that is not
 * there, or cannot run here, is skipped and the report says why.
 *
 * Each runs in processes of its own, started by the bench's launcher and called over loopback
 * HTTP: Restate as a single-node restate-server plus a Node service endpoint (peers/Restate.ts),
 * DBOS as a Node application (peers/Dbos.ts) on `DBOS_DATABASE_URL` when set, otherwise on a
 * private PostgreSQL server started for the run (PostgreSQL's binaries must be on this machine).
 */
import type { Scope } from "effect"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import type { SuiteContext } from "./Suite"

export const PEERS = ["restate", "dbos"] as const
export type Peer = (typeof PEERS)[number]

export type PeerRunner =
  | { readonly _tag: "Skipped"; readonly reason: string }
  | {
      readonly _tag: "Ready"
      readonly note: string
      /** Runs the equivalent chain of `steps` durable steps, started from outside; resolves with its result. */
      readonly execute: (id: string, steps: number) => Effect.Effect<unknown, unknown>
    }

export const peersDir = (): string => process.env.DSE_PEERS_DIR ?? path.join(os.homedir(), ".cache", "dse-peers")

/** The restate-server binary of the peers directory, if installed. */
export const restateBinary = (): string | undefined => {
  const base = path.join(peersDir(), "restate", "node_modules", "@restatedev")
  try {
    for (const dir of fs.readdirSync(base)) {
      const bin = path.join(base, dir, "bin", "restate-server")
      if (dir.startsWith("restate-server-") && fs.existsSync(bin)) return bin
    }
  } catch {
    // not installed
  }
  return undefined
}

const installed = (peer: Peer): boolean => {
  switch (peer) {
    case "restate":
      return restateBinary() !== undefined && fs.existsSync(path.join(peersDir(), "restate", "node_modules", "@restatedev", "restate-sdk"))
    case "dbos":
      return fs.existsSync(path.join(peersDir(), "dbos", "node_modules", "@dbos-inc", "dbos-sdk"))
  }
}

/** Whether something accepts TCP connections at host:port (within 1 s). */
export const reachable = (host: string, port: number): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    const socket = net.connect(port, host)
    const done = (ok: boolean) => {
      socket.destroy()
      resume(Effect.succeed(ok))
    }
    socket.setTimeout(1000, () => done(false))
    socket.on("connect", () => done(true))
    socket.on("error", () => done(false))
  })

/** Finds and starts a peer for the chain suite, or says why it is skipped. */
export const chainPeer = (peer: Peer, ctx: SuiteContext): Effect.Effect<PeerRunner, never, Scope.Scope> =>
  Effect.gen(function* () {
    if (!installed(peer)) {
      return { _tag: "Skipped", reason: `not installed (bash tools/bench/peers/install.sh ${peer} installs it outside the lockfile, into ${peersDir()})` } as const
    }
    switch (peer) {
      case "restate": {
        const { startRestate } = yield* Effect.promise(() => import("./peers/Restate"))
        return yield* startRestate(ctx).pipe(
          Effect.catchAll((e) => Effect.succeed({ _tag: "Skipped", reason: `installed, but did not start: ${String((e as Error)?.message ?? e)}` } as const))
        )
      }
      case "dbos": {
        const { startDbos } = yield* Effect.promise(() => import("./peers/Dbos"))
        return yield* startDbos(ctx).pipe(Effect.catchAll((e) => Effect.succeed({ _tag: "Skipped", reason: `installed, but ${e.reason}` } as const)))
      }
    }
  })
