/**
 * Against a real server process over real TCP: bad bytes on the wire do not take it down, a
 * Schema-invalid payload gets a clear error, and a client reconnects after the server is SIGKILLed
 * and started again on the same port.
 */
import { describe, expect, it } from "@effect/vitest"
import { Rpc, RpcGroup, RpcSerialization } from "@effect/rpc"
import { Cause, Effect, Exit, Fiber, Option, Schema } from "effect"
import * as Net from "node:net"
import * as path from "node:path"
import { DseRpcClient, Endpoint, RpcTransport } from "../src/index"
import { TestRpcs } from "./fixtures/TestRpcs"
import { TestProcess } from "@dse/testing"

interface ServerInfo {
  readonly port: number
  readonly plainPort: number
  readonly pid: number
}

const cwd = path.resolve(import.meta.dirname, "..")
const startServer = (env: Record<string, string> = {}) => TestProcess.start<ServerInfo>("test/fixtures/server.ts", { cwd, env })

const failureOf = <A, E>(exit: Exit.Exit<A, E>): unknown =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined

const encode = (message: unknown) => RpcSerialization.msgPack.unsafeMake().encode(message) as Uint8Array

interface RawResult {
  readonly closed: boolean
  readonly replies: number
}

/** Opens a raw connection, writes `frames`, and reports after `waitMs` whether the server closed it. */
const raw = (port: number, frames: ReadonlyArray<Uint8Array>, waitMs = 300) =>
  Effect.promise(
    () =>
      new Promise<RawResult>((resolve) => {
        let closed = false
        let replies = 0
        const socket = Net.createConnection({ host: "127.0.0.1", port }, () => {
          for (const frame of frames) socket.write(frame)
          setTimeout(() => {
            socket.destroy()
            resolve({ closed, replies })
          }, waitMs)
        })
        socket.on("data", () => replies++)
        socket.on("error", () => {})
        socket.on("close", () => (closed = true))
      })
  )

/** Streams up to `limitBytes` of one huge msgpack frame; returns how much was written before the server closed. */
const oversize = (port: number, limitBytes: number) =>
  Effect.promise(
    () =>
      new Promise<{ readonly closed: boolean; readonly sent: number }>((resolve) => {
        let closed = false
        let sent = 0
        const socket = Net.createConnection({ host: "127.0.0.1", port }, async () => {
          socket.write(new Uint8Array([0xc6, 0x06, 0x00, 0x00, 0x00])) // bin32 of 100 MiB
          const chunk = new Uint8Array(64 * 1024)
          while (!closed && sent < limitBytes) {
            if (!socket.write(chunk)) await new Promise((r) => (socket.once("drain", r), socket.once("close", r)))
            sent += chunk.length
          }
          for (let i = 0; i < 50 && !closed; i++) await new Promise((r) => setTimeout(r, 100))
          socket.destroy()
          resolve({ closed, sent })
        })
        socket.on("error", () => {})
        socket.on("close", () => (closed = true))
      })
  )

/** TestRpcs' Add with the wrong payload type, to send a Schema-invalid payload. */
class BadRpcs extends RpcGroup.make(Rpc.make("Add", { payload: { key: Schema.Number, amount: Schema.Int } })) {}

describe("a real server process", () => {
  it.scopedLive("garbage bytes, truncated and oversize frames do not take it down; a fresh connection is served", () =>
    Effect.gen(function* () {
      const server = yield* startServer()
      const port = server.info.port
      const valid = encode({ _tag: "Request", id: "1", tag: "Ping", payload: null, headers: [] })
      yield* raw(port, [new Uint8Array(64).fill(0xc1)])
      yield* raw(port, [new Uint8Array([0xc0])])
      yield* raw(port, [encode({ _tag: "Request", id: "x", tag: "Nope", payload: null, headers: 5 })])
      yield* raw(port, [valid.subarray(0, 7)])
      const big = yield* oversize(port, 16 * 1024 * 1024)
      // The 1 MiB frame limit closes the connection long before 16 MiB are accepted.
      expect(big.closed).toBe(true)
      expect(big.sent).toBeLessThan(16 * 1024 * 1024)
      expect(server.alive()).toBe(true)
      // A well-formed frame on a fresh connection is answered.
      expect((yield* raw(port, [valid])).replies).toBeGreaterThan(0)
      const client = yield* DseRpcClient.make(TestRpcs, { endpoint: Endpoint.tcp(port) })
      expect((yield* client.Add({ key: "k", amount: 3 })).value).toBe(3)
    }))

  it.scopedLive("a Schema-invalid payload fails the call with a defect that names the field (not a typed error)", () =>
    Effect.gen(function* () {
      const server = yield* startServer()
      const bad = yield* RpcTransport.makeClient(BadRpcs, { endpoint: Endpoint.tcp(server.info.port) })
      const exit = yield* Effect.exit(bad.Add({ key: 1, amount: 1 }))
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
      const defect = String(Exit.isFailure(exit) ? Cause.squash(exit.cause) : "")
      expect(defect).toContain('["key"]')
      expect(defect).toContain("Expected string")
      expect(server.alive()).toBe(true)
    }))

  it.scopedLive("after a SIGKILL the client fails fast, and its first call after the restart on the same port succeeds", () =>
    Effect.gen(function* () {
      const first = yield* startServer()
      const port = first.info.port
      const client = yield* DseRpcClient.make(TestRpcs, { endpoint: Endpoint.tcp(port) })
      expect((yield* client.Add({ key: "k", amount: 1 })).value).toBe(1)
      const inFlight = yield* Effect.fork(Effect.exit(client.Sleep({ ms: 10_000 })))
      yield* Effect.sleep("100 millis")
      expect(yield* first.kill("SIGKILL")).toBe("SIGKILL")
      expect(failureOf(yield* Fiber.join(inFlight))).toMatchObject({ _tag: "RpcClientError" })
      const started = Date.now()
      expect(failureOf(yield* Effect.exit(client.Ping()))).toMatchObject({ _tag: "RpcClientError" })
      expect(Date.now() - started).toBeLessThan(1_000)
      const second = yield* startServer({ PORT: String(port) })
      expect(second.info.port).toBe(port)
      // The client tries to reconnect every 250 ms (the margin is for a loaded machine).
      yield* Effect.sleep("1 second")
      expect((yield* client.Add({ key: "k", amount: 5 })).value).toBe(5)
    }))
})
