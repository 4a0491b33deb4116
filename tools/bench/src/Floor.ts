/**
 * The physical floor of this machine, measured by the bench itself, next to which the results are
 * read:
 *
 * - an fsync'd commit: one single-row INSERT in its own transaction on better-sqlite3, WAL,
 *   `synchronous=FULL` (what one checkpoint write costs at least), and a bare `write + fdatasync`
 *   of 64 bytes;
 * - a loopback round trip: 64 bytes to an echo server in another process and back over TCP on
 *   127.0.0.1 (plain `net` sockets, Nagle off).
 */
import Database from "better-sqlite3"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import type { Launcher } from "./internal/Launcher"
import { BENCH } from "./internal/Launcher"
import type { Summary } from "./Stats"
import { now, summarize } from "./Stats"

export interface Floor {
  readonly sqliteCommit: Summary
  readonly sqliteSynchronous: number
  readonly fdatasync: Summary
  readonly loopbackRtt: Summary
}


const sqliteCommit = (dir: string, n: number) => {
  const db = new Database(path.join(dir, "floor.db"))
  try {
    db.pragma("journal_mode = WAL")
    db.pragma("synchronous = FULL")
    const synchronous = Number(db.pragma("synchronous", { simple: true }))
    db.exec("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v BLOB)")
    const insert = db.prepare("INSERT INTO t (v) VALUES (?)")
    const value = Buffer.alloc(64, 7)
    const commit = db.transaction(() => insert.run(value))
    for (let i = 0; i < 20; i++) commit()
    const samples: Array<number> = []
    for (let i = 0; i < n; i++) {
      const t0 = now()
      commit()
      samples.push(now() - t0)
    }
    return { summary: summarize(samples), synchronous }
  } finally {
    db.close()
  }
}

const fdatasync = (dir: string, n: number) => {
  const fd = fs.openSync(path.join(dir, "floor.bin"), "a")
  try {
    const buf = Buffer.alloc(64, 1)
    const samples: Array<number> = []
    for (let i = 0; i < n + 20; i++) {
      const t0 = now()
      fs.writeSync(fd, buf)
      fs.fdatasyncSync(fd)
      if (i >= 20) samples.push(now() - t0)
    }
    return summarize(samples)
  } finally {
    fs.closeSync(fd)
  }
}

const rtt = (port: number, n: number) =>
  Effect.async<Summary, Error>((resume) => {
    const socket = net.connect(port, "127.0.0.1")
    socket.setNoDelay(true)
    const payload = Buffer.alloc(64, 2)
    const samples: Array<number> = []
    let i = 0
    let t0 = 0
    let got = 0
    const send = () => {
      got = 0
      t0 = now()
      socket.write(payload)
    }
    socket.on("connect", send)
    socket.on("error", (e) => resume(Effect.fail(e)))
    socket.on("data", (d) => {
      got += d.length
      if (got < payload.length) return
      const t = now() - t0
      if (i++ >= 200) samples.push(t)
      if (samples.length >= n) {
        socket.destroy()
        resume(Effect.succeed(summarize(samples)))
      } else send()
    })
  })

export const measure = (launcher: Launcher, dir: string, quick: boolean): Effect.Effect<Floor, unknown> =>
  Effect.gen(function* () {
    fs.mkdirSync(dir, { recursive: true })
    const n = quick ? 200 : 2000
    const sqlite = sqliteCommit(dir, n)
    const sync = fdatasync(dir, n)
    const echo = yield* launcher.start({ name: "floor-echo", entry: path.join(BENCH, "src", "procs", "echo.ts"), args: [] })
    const loopback = yield* rtt(echo.port, quick ? 1000 : 10_000)
    yield* launcher.stop(echo)
    return { sqliteCommit: sqlite.summary, sqliteSynchronous: sqlite.synchronous, fdatasync: sync, loopbackRtt: loopback }
  })
