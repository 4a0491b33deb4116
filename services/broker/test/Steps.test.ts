/**
 * Processor steps through the raw RPCs: registration and incarnations (fencing), the rules of a
 * step (consume exactly from the group's offset, never twice; a repeat of the last step is answered,
 * not applied), atomicity of (offset, state, outputs), and exactly-once delivery of outputs to
 * other partitions under crashes of the consumer's or the target's broker process.
 */
import { describe, expect, it } from "@effect/vitest"
import { Dse } from "@dse/core"
import { Effect, Either } from "effect"
import type { StepRequest } from "../src/BrokerModel"
import { driveUntil, readCommitted, restart, settle, setup } from "./support"

const topics = [
  { name: "in", partitions: 1 },
  { name: "out", partitions: 2 }
]

const twoBrokers = [
  { name: "broker-in", hosts: (t: string) => t === "in" },
  { name: "broker-out", hosts: (t: string) => t === "out" }
]

const step = (overrides: Partial<StepRequest> & Pick<StepRequest, "incarnation" | "from" | "to">): StepRequest => ({
  topic: "in",
  partition: 0,
  processor: "proc",
  stepId: `s${overrides.from}-${overrides.to}`,
  outputs: [],
  state: [],
  ...overrides
})

describe("registration and fencing", () => {
  it.scoped("each registration returns a higher incarnation; the older one is fenced out", () =>
    Effect.gen(function* () {
      const b = yield* setup({ topics })
      yield* b.run(b.broker.produce("in", [{ value: 1 }, { value: 2 }, { value: 3 }]))
      const r1 = yield* b.run(b.broker.register({ topic: "in", partition: 0, processor: "proc" }))
      expect(r1).toMatchObject({ incarnation: 1, offset: 0, state: [] })
      yield* b.run(b.broker.step(step({ incarnation: 1, from: 0, to: 1 })))
      const r2 = yield* b.run(b.broker.register({ topic: "in", partition: 0, processor: "proc" }))
      expect(r2).toMatchObject({ incarnation: 2, offset: 1 })
      const fenced = yield* b.run(Effect.flip(b.broker.step(step({ incarnation: 1, from: 1, to: 2 }))))
      expect(fenced).toMatchObject({ _tag: "Fenced", incarnation: 1, current: 2 })
      const ok = yield* b.run(b.broker.step(step({ incarnation: 2, from: 1, to: 2 })))
      expect(ok).toMatchObject({ offset: 2, duplicate: false })
      // A step of a processor that never registered is fenced too.
      const stranger = yield* b.run(Effect.flip(b.broker.step(step({ processor: "other", incarnation: 1, from: 0, to: 1 }))))
      expect(stranger).toMatchObject({ _tag: "Fenced", current: 0 })
    })
  )

  it.scoped("a registration is committed before it is answered: a crash cannot hand the same incarnation out twice", () =>
    Effect.gen(function* () {
      const b = yield* setup({ topics, cluster: { persistDelay: "1 millis", sealPeriod: "500 millis" } })
      const r1 = yield* b.run(Dse.sthread(b.broker.register({ topic: "in", partition: 0, processor: "proc" })))
      // Even inside an sthread, the partition already committed it: nothing to wait for.
      const info = yield* b.run(b.broker.info("in", 0))
      expect(info.committedVersion).toBeGreaterThanOrEqual(1)
      yield* b.procs[0]!.crash
      yield* restart(b.procs[0]!)
      const r2 = yield* b.run(b.broker.register({ topic: "in", partition: 0, processor: "proc" }))
      expect(r2.incarnation).toBe(r1[0].incarnation + 1)
    })
  )

  it.scoped("plain consumer groups commit offsets; a processor's group needs its incarnation", () =>
    Effect.gen(function* () {
      const b = yield* setup({ topics })
      yield* b.run(b.broker.produce("in", [{ value: 1 }, { value: 2 }]))
      expect(yield* b.run(b.broker.getOffset({ topic: "in", partition: 0, group: "g" }))).toMatchObject({ offset: null })
      yield* b.run(b.broker.commitOffset({ topic: "in", partition: 0, group: "g", offset: 2 }))
      expect(yield* b.run(b.broker.getOffset({ topic: "in", partition: 0, group: "g" }))).toMatchObject({ offset: 2, incarnation: 0 })
      const out = yield* b.run(Effect.flip(b.broker.commitOffset({ topic: "in", partition: 0, group: "g", offset: 5 })))
      expect(out._tag).toBe("OffsetOutOfRange")
      const reg = yield* b.run(b.broker.register({ topic: "in", partition: 0, processor: "proc" }))
      const noInc = yield* b.run(Effect.flip(b.broker.commitOffset({ topic: "in", partition: 0, group: "proc", offset: 1 })))
      expect(noInc._tag).toBe("Fenced")
      yield* b.run(b.broker.commitOffset({ topic: "in", partition: 0, group: "proc", offset: 1, incarnation: reg.incarnation }))
      expect(yield* b.run(b.broker.getOffset({ topic: "in", partition: 0, group: "proc" }))).toMatchObject({ offset: 1 })
    })
  )
})

describe("step rules", () => {
  it.scoped("a step must start exactly at the group's offset and cannot consume an event twice", () =>
    Effect.gen(function* () {
      const b = yield* setup({ topics })
      yield* b.run(b.broker.produce("in", [{ value: 1 }, { value: 2 }, { value: 3 }]))
      const { incarnation } = yield* b.run(b.broker.register({ topic: "in", partition: 0, processor: "proc" }))
      yield* b.run(b.broker.step(step({ incarnation, from: 0, to: 2 })))
      const twice = yield* b.run(Effect.flip(b.broker.step(step({ incarnation, stepId: "other", from: 1, to: 3 }))))
      expect(twice).toMatchObject({ _tag: "AlreadyConsumed", from: 1, offset: 2 })
      const skip = yield* b.run(Effect.flip(b.broker.step(step({ incarnation, stepId: "skip", from: 3, to: 3 }))))
      expect(skip._tag).toBe("InvalidStep")
      const beyond = yield* b.run(Effect.flip(b.broker.step(step({ incarnation, stepId: "beyond", from: 2, to: 9 }))))
      expect(beyond._tag).toBe("InvalidStep")
      const badOutput = yield* b.run(
        Effect.flip(b.broker.step(step({ incarnation, stepId: "bad", from: 2, to: 3, outputs: [{ topic: "nope", partition: 0, value: 1 }] })))
      )
      expect(badOutput._tag).toBe("UnknownTopic")
      const badPartition = yield* b.run(
        Effect.flip(b.broker.step(step({ incarnation, stepId: "bad2", from: 2, to: 3, outputs: [{ topic: "out", partition: 5, value: 1 }] })))
      )
      expect(badPartition._tag).toBe("UnknownPartition")
      // Nothing of the refused steps changed anything.
      expect(yield* b.run(b.broker.getOffset({ topic: "in", partition: 0, group: "proc" }))).toMatchObject({ offset: 2 })
    })
  )

  it.scoped("a repeat of the last step (same id and range, e.g. after a lost reply) is answered, not applied again", () =>
    Effect.gen(function* () {
      const b = yield* setup({ topics })
      yield* b.run(b.broker.produce("in", [{ value: 1 }, { value: 2 }]))
      const { incarnation } = yield* b.run(b.broker.register({ topic: "in", partition: 0, processor: "proc" }))
      const s = step({
        incarnation,
        from: 0,
        to: 2,
        outputs: [{ topic: "out", partition: 0, value: "x" }],
        state: [{ _tag: "Set", key: "count", value: 2 }]
      })
      const first = yield* b.run(b.broker.step(s))
      const again = yield* b.run(b.broker.step(s))
      expect(first.duplicate).toBe(false)
      expect(again).toMatchObject({ offset: 2, duplicate: true })
      const reused = yield* b.run(Effect.flip(b.broker.step({ ...s, to: 1 })))
      expect(reused._tag).toBe("InvalidStep")
      yield* settle(50)
      const outputs = yield* b.run(readCommitted(b.broker, "out", 0))
      expect(outputs.map((e) => e.value)).toEqual(["x"])
    })
  )

  it.scoped("offset, state and outputs of a step are one Action: the next registration sees all of them", () =>
    Effect.gen(function* () {
      const b = yield* setup({ topics })
      yield* b.run(b.broker.produce("in", [{ value: 5 }, { value: 7 }]))
      const r1 = yield* b.run(b.broker.register({ topic: "in", partition: 0, processor: "sum" }))
      yield* b.run(
        b.broker.step({
          ...step({ incarnation: r1.incarnation, from: 0, to: 2 }),
          processor: "sum",
          state: [
            { _tag: "Set", key: "total", value: 12 },
            { _tag: "Set", key: "tmp", value: true }
          ],
          outputs: [
            { topic: "out", partition: 0, key: "a", value: 12 },
            { topic: "out", partition: 1, key: "b", value: 12 }
          ]
        })
      )
      const r2 = yield* b.run(b.broker.register({ topic: "in", partition: 0, processor: "sum" }))
      expect(r2.offset).toBe(2)
      expect(new Map(r2.state)).toEqual(new Map<string, unknown>([["total", 12], ["tmp", true]]))
      yield* b.run(
        b.broker.step({ ...step({ incarnation: r2.incarnation, from: 2, to: 2 }), processor: "sum", stepId: "del", state: [{ _tag: "Delete", key: "tmp" }] })
      )
      const r3 = yield* b.run(b.broker.register({ topic: "in", partition: 0, processor: "sum" }))
      expect(r3.state).toEqual([["total", 12]])
      yield* settle(50)
      expect((yield* b.run(readCommitted(b.broker, "out", 0))).map((e) => e.value)).toEqual([12])
      expect((yield* b.run(readCommitted(b.broker, "out", 1))).map((e) => e.value)).toEqual([12])
    })
  )
})

describe("exactly-once step outputs under crashes", () => {
  const scenario = (crash: "consumer" | "target") =>
    Effect.gen(function* () {
      const b = yield* setup({
        topics,
        brokers: twoBrokers,
        cluster: { persistDelay: "2 millis", sealPeriod: "200 millis" }
      })
      // Inputs are committed (produced from outside the domain).
      yield* b.run(b.broker.produce("in", [{ value: 1 }, { value: 2 }, { value: 3 }, { value: 4 }]))
      const reg = yield* b.run(b.broker.register({ topic: "in", partition: 0, processor: "proc" }))
      // Two speculative steps (inside sthreads): nothing waits for their commit.
      for (const [from, to] of [
        [0, 2],
        [2, 4]
      ] as const) {
        yield* b.run(
          Dse.sthread(
            b.broker.step(
              step({ incarnation: reg.incarnation, from, to, outputs: [{ topic: "out", partition: 0, key: `k${from}`, value: `out-${from}-${to}` }] })
            )
          )
        )
      }
      // The forwarder delivers the outputs speculatively.
      yield* driveUntil(() => b.partition("out", 0).events().length === 2, 1, 50)
      expect(b.partition("out", 0).events().length).toBe(2)
      const victim = crash === "consumer" ? b.procs[0]! : b.procs[1]!
      yield* victim.crash
      yield* settle(3)
      yield* restart(victim)
      const after = yield* b.run(b.broker.getOffset({ topic: "in", partition: 0, group: "proc" }))
      if (crash === "consumer") {
        // The steps were lost with the consumer's speculative state: the events are consumed again,
        // and the outputs that depended on the lost steps are gone too.
        expect(after.offset).toBe(0)
        const again = yield* b.run(b.broker.register({ topic: "in", partition: 0, processor: "proc" }))
        yield* b.run(
          b.broker.step(step({ incarnation: again.incarnation, stepId: "redo", from: 0, to: 4, outputs: [{ topic: "out", partition: 0, value: "redo" }] }))
        )
      } else {
        // The consumer kept its steps: the outbox sends the outputs again after the target restarted.
        expect(after.offset).toBe(4)
      }
      yield* driveUntil(() => b.partition("in", 0).stateObject.state.outbox.size === 0, 5, 400)
      expect(b.partition("in", 0).stateObject.state.outbox.size).toBe(0)
      // The target lost its speculative appends in both cases (it restored its committed state).
      expect(b.partition("out", 0).stateObject.stats().restores + (crash === "target" ? 1 : 0)).toBeGreaterThanOrEqual(1)
      if (crash === "target") expect(b.partition("in", 0).forwarderStats().sent).toBeGreaterThan(2)
      const outputs = (yield* b.run(readCommitted(b.broker, "out", 0))).map((e) => e.value)
      return outputs
    })

  it.scoped("the consumer's broker crashes before commit: steps and their outputs roll back together", () =>
    Effect.gen(function* () {
      const outputs = yield* scenario("consumer")
      expect(outputs).toEqual(["redo"])
    })
  )

  it.scoped("the target's broker crashes before commit: the outbox delivers every output again, once", () =>
    Effect.gen(function* () {
      const outputs = yield* scenario("target")
      expect(outputs).toEqual(["out-0-2", "out-2-4"])
    })
  )

  it.scoped("a stale step (from a world-line that lost its events) is rejected", () =>
    Effect.gen(function* () {
      const b = yield* setup({ topics, brokers: twoBrokers, cluster: { persistDelay: "2 millis", sealPeriod: "200 millis" } })
      const reg = yield* b.run(b.broker.register({ topic: "in", partition: 0, processor: "proc" }))
      // An event produced speculatively, read speculatively: the step depends on it.
      const [, thread] = yield* b.run(Dse.sthread(b.broker.produce("in", { value: "ghost" })))
      yield* b.procs[0]!.crash
      yield* restart(b.procs[0]!)
      const { Sthread } = yield* Effect.promise(() => import("@dse/core"))
      const stale = yield* b.run(
        Effect.either(Sthread.within(b.broker.step(step({ incarnation: reg.incarnation, from: 0, to: 1 })), thread))
      )
      expect(Either.isLeft(stale) && stale.left._tag).toBe("RolledBack")
      expect(yield* b.run(b.broker.getOffset({ topic: "in", partition: 0, group: "proc" }))).toMatchObject({ offset: 0 })
    })
  )
})
