/**
 * The Restate peer of the chain suite (only when installed by peers/install.sh): a single-node
 * restate-server (its npm package's binary, its own data directory, loopback ports chosen here),
 * the chain handler of peers/restate-chain.mjs as a service endpoint, registered through the admin
 * API; each workflow is one HTTP call to the ingress (`POST /BenchChain/run` with an
 * idempotency key), which returns when the handler has finished (every step journaled).
 */
import type { Scope } from "effect"
import { Duration, Effect, Schedule } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { WorkerProcess } from "@dse/coordinator-service"
import { BENCH } from "../internal/Launcher"
import type { PeerRunner } from "../Peers"
import { peersDir, restateBinary } from "../Peers"
import type { SuiteContext } from "../Suite"

class RestateError extends Error {}

const http = (url: string, init: RequestInit) =>
  Effect.tryPromise({
    try: async () => {
      const res = await fetch(url, init)
      const text = await res.text()
      if (!res.ok) throw new RestateError(`${init.method ?? "GET"} ${url}: ${res.status} ${text.slice(0, 200)}`)
      return text
    },
    catch: (e) => (e instanceof RestateError ? e : new RestateError(String(e)))
  })

export const startRestate = (ctx: SuiteContext): Effect.Effect<PeerRunner, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const bin = restateBinary()!
    const dir = path.join(ctx.root, "restate")
    fs.mkdirSync(dir, { recursive: true })
    const [ingress, admin, node, service] = yield* Effect.all(Array.from({ length: 4 }, () => Effect.orDie(WorkerProcess.freePort("127.0.0.1"))))
    ctx.progress(`chain: starting restate-server (${bin})`)
    // (Spawned by the launcher itself, not the Supervisor: safe in an uninterruptible acquire.)
    const server = yield* Effect.acquireRelease(
      ctx.launcher.start({
        name: "restate-server",
        command: bin,
        args: ["--no-logo", "--listen-mode", "tcp", "--base-dir", dir, "--node-name", "dse-bench"],
        env: {
          RESTATE_INGRESS__BIND_ADDRESS: `127.0.0.1:${ingress}`,
          RESTATE_ADMIN__BIND_ADDRESS: `127.0.0.1:${admin}`,
          RESTATE_BIND_ADDRESS: `127.0.0.1:${node}`,
          RESTATE_ADVERTISED_ADDRESS: `http://127.0.0.1:${node}/`,
          RESTATE_LOG_FORMAT: "compact",
          DO_NOT_TRACK: "1"
        },
        // Any first line: readiness is the admin API's health below.
        ready: /()()/,
        readyTimeoutMs: 60_000
      }),
      (p) => ctx.launcher.stop(p, 3000)
    )
    void server
    yield* http(`http://127.0.0.1:${admin}/health`, {}).pipe(
      Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo(Duration.seconds(60))))
    )
    const endpoint = yield* Effect.acquireRelease(
      ctx.launcher.start({
        name: "restate-chain",
        command: process.execPath,
        args: [path.join(BENCH, "peers", "restate-chain.mjs"), path.join(peersDir(), "restate", "node_modules", "@restatedev", "restate-sdk"), String(service)]
      }),
      (p) => ctx.launcher.stop(p, 3000)
    )
    yield* http(`http://127.0.0.1:${admin}/deployments`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ uri: `http://127.0.0.1:${endpoint.port}`, force: true })
    }).pipe(Effect.retry(Schedule.spaced("500 millis").pipe(Schedule.upTo(Duration.seconds(30)))))
    const execute = (id: string, steps: number) =>
      http(`http://127.0.0.1:${ingress}/BenchChain/run`, {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": id },
        body: JSON.stringify({ steps })
      }).pipe(
        Effect.flatMap((text) => (Number(text) === (steps * (steps - 1)) / 2 ? Effect.succeed(Number(text)) : Effect.fail(new RestateError(`unexpected result ${text}`))))
      )
    // One call end to end before measuring (the first one also creates the partition's state).
    // (A failing handler is retried by Restate forever: the call would hang, hence the timeouts.)
    yield* execute(`warm-${Date.now()}`, 3).pipe(
      Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new RestateError("a first chain call did not return within 20 s (see restate-chain.log)") })
    )
    const version = (() => {
      try {
        return JSON.parse(fs.readFileSync(path.join(peersDir(), "restate", "node_modules", "@restatedev", "restate-server", "package.json"), "utf8")).version as string
      } catch {
        return "?"
      }
    })()
    return {
      _tag: "Ready",
      note: `restate: restate-server ${version}, single node, default settings (its own data directory on this disk), the chain as ctx.run steps of a Node service endpoint (peers/restate-chain.mjs); the client calls the HTTP ingress over loopback.`,
      execute
    } satisfies PeerRunner
  })
