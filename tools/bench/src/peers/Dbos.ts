/**
 * The DBOS peer of the chain suite (only when installed by peers/install.sh): the chain as
 * `DBOS.runStep` steps of a registered workflow, in a Node process of its own
 * (peers/dbos-chain.mjs: DBOS keeps global state, which must stay out of the bench process), on
 * PostgreSQL:
 *
 * - `DBOS_DATABASE_URL`, when set, is DBOS's system database (its `dbos` schema is created there);
 * - otherwise a private, throwaway server for this run: `initdb` into the run's temporary
 *   directory, `postgres` listening on a free loopback port only, with the default durability
 *   settings (fsync=on, synchronous_commit=on, passed explicitly and read back), run as the
 *   `postgres` OS user when the bench runs as root (PostgreSQL refuses root), started through the
 *   launcher (killed by pid with the rest) and its directory removed when the scope closes.
 *
 * Each workflow is one HTTP call over loopback (`POST /run {id, steps}`, workflow ID = id), which
 * returns once DBOS has recorded the workflow's result (every step checkpointed before the next).
 */
import type { Scope } from "effect"
import { Data, Effect } from "effect"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { WorkerProcess } from "@dse/coordinator-service"
import type { Launcher, Proc } from "../internal/Launcher"
import { BENCH } from "../internal/Launcher"
import type { PeerRunner } from "../Peers"
import { peersDir, reachable } from "../Peers"

/** Why the DBOS peer cannot run here: reported as the peer's skip reason. */
export class DbosUnavailable extends Data.TaggedError("DbosUnavailable")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

/** What the runner needs of the suite's context. */
export interface DbosContext {
  readonly root: string
  readonly launcher: Launcher
  readonly progress: (line: string) => void
}

export const sdkDir = () => path.join(peersDir(), "dbos", "node_modules", "@dbos-inc", "dbos-sdk")

const http = (url: string, init: RequestInit = {}) =>
  Effect.tryPromise({
    try: async () => {
      const res = await fetch(url, init)
      const text = await res.text()
      if (!res.ok) throw new DbosUnavailable({ reason: `${init.method ?? "GET"} ${url}: ${res.status} ${text.slice(0, 300)}` })
      return text
    },
    catch: (e) => (e instanceof DbosUnavailable ? e : new DbosUnavailable({ reason: String(e) }))
  })

const executable = (file: string) => {
  try {
    fs.accessSync(file, fs.constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** The directory holding both `initdb` and `postgres`: on PATH, else the distributions' usual places (newest version first). */
export const postgresBinDir = (): string | undefined => {
  const versioned = (base: string) => {
    try {
      return fs
        .readdirSync(base)
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
        .map((v) => path.join(base, v, "bin"))
    } catch {
      return []
    }
  }
  const candidates = [
    ...(process.env.PATH ?? "").split(path.delimiter).filter((d) => d.length > 0),
    ...versioned("/usr/lib/postgresql"),
    ...versioned("/usr/pgsql"),
    "/usr/local/pgsql/bin"
  ]
  for (const dir of candidates) {
    if (executable(path.join(dir, "initdb")) && executable(path.join(dir, "postgres"))) {
      // Distributions link them into PATH: their real directory is where the server finds its share/ and lib/.
      return path.dirname(fs.realpathSync(path.join(dir, "postgres")))
    }
  }
  return undefined
}

/** uid and gid of an OS user, from /etc/passwd. */
const osUser = (name: string): { uid: number; gid: number } | undefined => {
  try {
    for (const line of fs.readFileSync("/etc/passwd", "utf8").split("\n")) {
      const [user, , uid, gid] = line.split(":")
      if (user === name && uid !== undefined && gid !== undefined) return { uid: Number(uid), gid: Number(gid) }
    }
  } catch {
    // no /etc/passwd
  }
  return undefined
}

/** The OS user a private server runs as when the bench runs as root. */
const PG_USER = "postgres"

const onPath = (name: string) =>
  (process.env.PATH ?? "").split(path.delimiter).some((d) => d.length > 0 && executable(path.join(d, name)))

/**
 * The command line that runs `command` as `user`: `setpriv` execs in place, so the launcher's pid is
 * the server itself; `runuser` (which stays as its parent, in the same process group) otherwise.
 */
const asUser = (user: { uid: number; gid: number } | undefined, command: string, args: ReadonlyArray<string>) =>
  user === undefined
    ? { command, args: [...args] }
    : onPath("setpriv")
      ? { command: "setpriv", args: [`--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", command, ...args] }
      : { command: "runuser", args: ["-u", PG_USER, "--", command, ...args] }

const run = (label: string, command: string, args: ReadonlyArray<string>, cwd: string) =>
  Effect.async<void, DbosUnavailable>((resume) => {
    execFile(command, [...args], { cwd, timeout: 120_000 }, (error, stdout, stderr) => {
      if (error === null) return resume(Effect.void)
      const tail = `${stderr}${stdout}`.trim().split("\n").slice(-5).join(" | ")
      resume(Effect.fail(new DbosUnavailable({ reason: `${label} failed: ${error.message.split("\n")[0]}${tail ? ` (${tail})` : ""}` })))
    })
  })

const SETTINGS = ["fsync=on", "synchronous_commit=on"] as const

/**
 * How a private PostgreSQL server would be started here: the binaries' directory and, when the
 * bench runs as root, the OS user to run them as; or why it cannot be.
 */
export const privatePostgresPlan = ():
  | { readonly _tag: "Plan"; readonly bin: string; readonly user: { uid: number; gid: number } | undefined }
  | { readonly _tag: "Impossible"; readonly reason: string } => {
  const bin = postgresBinDir()
  if (bin === undefined) {
    return { _tag: "Impossible", reason: "no PostgreSQL server binaries (initdb, postgres) were found on PATH or in /usr/lib/postgresql/*/bin to start a private one" }
  }
  if (process.getuid?.() !== 0) return { _tag: "Plan", bin, user: undefined }
  const user = osUser(PG_USER)
  if (user === undefined) {
    return { _tag: "Impossible", reason: `the bench runs as root but there is no \`${PG_USER}\` OS user to run a private PostgreSQL server as (it refuses root)` }
  }
  if (!onPath("setpriv") && !onPath("runuser")) {
    return { _tag: "Impossible", reason: `the bench runs as root with neither setpriv nor runuser to run a private PostgreSQL server as \`${PG_USER}\`` }
  }
  return { _tag: "Plan", bin, user }
}

/** A private PostgreSQL server in `<root>/postgres` on a free loopback port, for the scope; its system database URL. */
const privatePostgres = (ctx: DbosContext): Effect.Effect<{ readonly url: string; readonly where: string }, DbosUnavailable, Scope.Scope> =>
  Effect.gen(function* () {
    const plan = privatePostgresPlan()
    if (plan._tag === "Impossible") return yield* new DbosUnavailable({ reason: `DBOS_DATABASE_URL is not set, and ${plan.reason}` })
    const { bin, user } = plan
    const dir = path.join(ctx.root, "postgres")
    yield* Effect.acquireRelease(
      Effect.try({
        try: () => {
          fs.mkdirSync(dir, { recursive: true })
          if (user !== undefined) {
            // The run's temporary root is 0700 (root's): the postgres user needs to pass through it
            // (search only, no listing) to reach its own directory.
            fs.chmodSync(ctx.root, 0o711)
            fs.chownSync(dir, user.uid, user.gid)
          }
        },
        catch: (e) => new DbosUnavailable({ reason: `could not prepare ${dir}: ${String(e)}` })
      }),
      () => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
    )
    ctx.progress(`chain: initdb of a private PostgreSQL server (${bin}) in ${dir}`)
    // --no-sync: only initdb's own copy of the template files is not fsync'd; the server below fsyncs every commit.
    const initdb = asUser(user, path.join(bin, "initdb"), ["-D", dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"])
    yield* run("initdb of the private PostgreSQL server", initdb.command, initdb.args, dir)
    const port = yield* WorkerProcess.freePort("127.0.0.1").pipe(Effect.mapError((e) => new DbosUnavailable({ reason: `no free port: ${String(e)}` })))
    const server = asUser(user, path.join(bin, "postgres"), [
      "-D",
      dir,
      "-p",
      String(port),
      "-c",
      "listen_addresses=127.0.0.1",
      // TCP only: no socket file in a directory that may not exist or be writable.
      "-c",
      "unix_socket_directories=",
      "-c",
      "logging_collector=off",
      ...SETTINGS.flatMap((s) => ["-c", s])
    ])
    yield* Effect.acquireRelease(
      ctx.launcher.start({
        name: "postgres",
        command: server.command,
        args: server.args,
        ready: /database system is ready to accept connections()()/,
        readyTimeoutMs: 60_000
      }).pipe(Effect.mapError((e) => new DbosUnavailable({ reason: `the private PostgreSQL server did not start: ${e.message}` }))),
      (p) => stopPostgres(ctx.launcher, p)
    )
    return { url: `postgresql://postgres@127.0.0.1:${port}/dse_bench_chain`, where: `a private PostgreSQL server started for this run (127.0.0.1:${port} only, data directory in the run's temporary directory on this disk)` }
  })

/** SIGINT is PostgreSQL's fast shutdown (backends end, a shutdown checkpoint is written); SIGKILL after 15 s. */
const stopPostgres = (launcher: Launcher, p: Proc) => launcher.stop(p, 15_000, "SIGINT")

export const startDbos = (ctx: DbosContext): Effect.Effect<PeerRunner, DbosUnavailable, Scope.Scope> =>
  Effect.gen(function* () {
    const external = process.env.DBOS_DATABASE_URL
    let database: { readonly url: string; readonly where: string }
    if (external !== undefined && external !== "") {
      const url = yield* Effect.try({
        try: () => new URL(external),
        catch: () => new DbosUnavailable({ reason: "DBOS_DATABASE_URL is not a URL" })
      })
      const port = Number(url.port || 5432)
      if (!(yield* reachable(url.hostname, port))) {
        return yield* new DbosUnavailable({ reason: `no PostgreSQL server is reachable at ${url.hostname}:${port} (DBOS_DATABASE_URL)` })
      }
      database = { url: external, where: `the PostgreSQL server of DBOS_DATABASE_URL (${url.hostname}:${port})` }
    } else {
      database = yield* privatePostgres(ctx)
    }

    ctx.progress("chain: starting the DBOS chain application (peers/dbos-chain.mjs)")
    const app = yield* Effect.acquireRelease(
      ctx.launcher.start({
        name: "dbos-chain",
        command: process.execPath,
        // Port 0: the application picks one and names it in its ready line.
        args: [path.join(BENCH, "peers", "dbos-chain.mjs"), sdkDir(), database.url, "0"],
        readyTimeoutMs: 120_000
      }).pipe(Effect.mapError((e) => new DbosUnavailable({ reason: `the DBOS application did not start: ${e.message}` }))),
      (p) => ctx.launcher.stop(p, 5000)
    )
    const base = `http://127.0.0.1:${app.port}`

    const execute = (id: string, steps: number) =>
      http(`${base}/run`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ id, steps }) }).pipe(
        Effect.flatMap((text) =>
          Number(text) === (steps * (steps - 1)) / 2 ? Effect.succeed(Number(text)) : Effect.fail(new DbosUnavailable({ reason: `unexpected result ${text} for ${steps} steps` }))
        )
      )
    // One call end to end before measuring (the first one also warms the connection pool).
    yield* execute(`warm-${Date.now()}`, 3).pipe(
      Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new DbosUnavailable({ reason: "a first chain call did not return within 30 s (see dbos-chain.log)" }) })
    )
    const info = yield* http(`${base}/info`).pipe(
      Effect.flatMap((text) =>
        Effect.try({ try: () => JSON.parse(text) as Record<string, string>, catch: () => new DbosUnavailable({ reason: `GET /info: not JSON: ${text.slice(0, 200)}` }) })
      )
    )
    const pg = String(info.server_version ?? "?").split(" ")[0]
    return {
      _tag: "Ready",
      note:
        `dbos: @dbos-inc/dbos-sdk ${info.dbos ?? "?"}, the chain as DBOS.runStep steps of a registered workflow in a Node process of its own ` +
        `(peers/dbos-chain.mjs), on PostgreSQL ${pg}: ${database.where}, fsync=${info.fsync}, synchronous_commit=${info.synchronous_commit}, ` +
        `full_page_writes=${info.full_page_writes}, wal_sync_method=${info.wal_sync_method} (read back), DBOS's default pool; ` +
        `the client calls its HTTP endpoint over loopback (POST /run, workflow ID = the request's id).`,
      execute
    } satisfies PeerRunner
  })
