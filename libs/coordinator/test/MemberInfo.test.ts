/**
 * What a member told about itself (kind, address, pid) survives a registration that omits it:
 * clients discover services by kind in the status (a workflow host waits for every "kv" member),
 * and a re-registration without its kind once made a KV shard invisible to them for good.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { request, start } from "./support/harness"
import * as Store from "./support/MemoryClusterStateStore"

describe("member information", () => {
  it.scoped("a live re-attach that omits kind, address and pid keeps the ones told before", () =>
    Effect.gen(function* () {
      const coordinator = yield* start(Store.make())
      yield* coordinator.register(request("kv-0", { kind: "kv", address: "127.0.0.1:7001", pid: 11 }))
      yield* coordinator.register(request("kv-0", { worldLine: 1 }))
      const [member] = (yield* coordinator.status).workers
      expect([member?.kind, member?.address, member?.pid]).toEqual(["kv", "127.0.0.1:7001", 11])
    })
  )

  it.scoped("a registration that names them replaces them", () =>
    Effect.gen(function* () {
      const coordinator = yield* start(Store.make())
      yield* coordinator.register(request("kv-0", { kind: "kv", address: "127.0.0.1:7001", pid: 11 }))
      yield* coordinator.register(request("kv-0", { worldLine: 1, kind: "kv", address: "127.0.0.1:7002", pid: 12 }))
      const [member] = (yield* coordinator.status).workers
      expect([member?.kind, member?.address, member?.pid]).toEqual(["kv", "127.0.0.1:7002", 12])
    })
  )
})
