/**
 * The workflow host: one StateObject (worker `wf-host` by default, kind "workflow") that holds every
 * execution of the workflows it runs, in speculative versioned state:
 *
 * - `executions`: one record per execution (workflow, encoded payload, status, result);
 * - `activities`: the result of every activity attempt, by (execution, activity, attempt);
 * - `deferreds`: the result of every DurableDeferred, by (execution, deferred name);
 * - `clocks`: the wake-up time of every pending DurableClock;
 * - `externals`: the outside side effects an activity has already performed (`External.once`).
 *
 * Every change is made by one of the functions below, inside an Action of the host (the engine
 * runs them), so the state is checkpointed, committed and rolled back as a whole. The rules that
 * keep executions from getting stuck live here:
 *
 * - a wake-up (a deferred result, a fired clock, a child's completion, `resume`, `interrupt`) sets
 *   the execution to `running` and bumps its `wakeups` counter *in the same Action* that records
 *   its cause, so a restored state never holds a cause without its wake-up;
 * - a run that ends suspended records `suspended` only if no wake-up arrived since it started
 *   (same `wakeups`), otherwise the execution stays `running` and runs again: no lost wake-up;
 * - completing an execution deletes its activity, deferred, clock and external records (nobody
 *   replays a complete execution), so the state holds only what unfinished executions need.
 *
 * The state also tells the engine when the StateObject restores a checkpoint (after a restart or
 * a rollback): `onRestore` listeners run synchronously inside the restore, so they must only
 * record the fact and schedule work.
 */
import type { CheckpointStore, Dse, StateObject as SO, StateValue } from "@dse/core"
import { StateObject, VersionedMap, VersionedState } from "@dse/core"
import type { Delta } from "@dse/core"
import type { Scope } from "effect"
import { Context, Effect, Layer } from "effect"
import type { EncodedExit, Outcome } from "./internal/codec"
import type { ExecutionInfo, ExecutionStatus, ParentRef } from "./WorkflowModel"

export const DEFAULT_HOST = "wf-host"

export interface ExecutionRecord {
  readonly workflow: string
  /** Encoded with the workflow's payload schema. */
  readonly payload: unknown
  readonly parent?: ParentRef | undefined
  readonly status: ExecutionStatus
  /** An interrupt was requested: the next run that suspends ends the execution as interrupted. */
  readonly interrupted: boolean
  /** Bumped by every wake-up; a run that started before a wake-up does not record `suspended`. */
  readonly wakeups: number
  readonly outcome?: Outcome | undefined
  /** The workflow's exit, encoded with its schemas. */
  readonly exit?: unknown
  readonly createdAt: number
  readonly updatedAt: number
}

export interface ClockRecord {
  readonly executionId: string
  readonly workflow: string
  readonly name: string
  /** The name of the DurableDeferred the clock completes. */
  readonly deferred: string
  /** Effect-clock milliseconds. */
  readonly wakeAt: number
}

// -------------------------------------------------------------------------------------------------
// State

export class HostState implements VersionedState.VersionedState {
  readonly executions = VersionedMap.make<ExecutionRecord>()
  readonly activities = VersionedMap.make<EncodedExit>()
  readonly deferreds = VersionedMap.make<EncodedExit>()
  readonly clocks = VersionedMap.make<ClockRecord>()
  readonly externals = VersionedMap.make<unknown>()
  private readonly parts = VersionedState.struct({
    executions: this.executions,
    activities: this.activities,
    deferreds: this.deferreds,
    clocks: this.clocks,
    externals: this.externals
  })
  private readonly listeners = new Set<() => void>()
  restores = 0

  hasChanges = (): boolean => this.parts.hasChanges()
  takeDelta = (): Delta => this.parts.takeDelta()
  restore = (entries: ReadonlyMap<string, StateValue>): void => {
    this.parts.restore(entries)
    this.restores++
    for (const listener of this.listeners) listener()
  }

  /** Calls `listener` after every restore (synchronously, inside the StateObject's restore). */
  onRestore(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
}

// -------------------------------------------------------------------------------------------------
// Keys

export const activityKey = (executionId: string, activity: string, attempt: number): string =>
  `${executionId}/${activity}/${attempt}`
export const deferredKey = (executionId: string, deferred: string): string => `${executionId}/${deferred}`
export const clockKey = (executionId: string, clock: string): string => `${executionId}/${clock}`
export const externalKey = (executionId: string, key: string): string => `${executionId}/${key}`

// -------------------------------------------------------------------------------------------------
// Changes (each runs inside one Action of the host)

export interface NewExecution {
  readonly workflow: string
  readonly payload: unknown
  readonly parent?: ParentRef | undefined
  readonly now: number
}

/** Creates the execution unless it exists (idempotent on the id: a later payload is ignored). */
export const createExecution = (
  s: HostState,
  executionId: string,
  init: NewExecution
): { readonly record: ExecutionRecord; readonly created: boolean } => {
  const existing = s.executions.get(executionId)
  if (existing) return { record: existing, created: false }
  const record: ExecutionRecord = {
    workflow: init.workflow,
    payload: init.payload,
    ...(init.parent ? { parent: init.parent } : {}),
    status: "running",
    interrupted: false,
    wakeups: 0,
    createdAt: init.now,
    updatedAt: init.now
  }
  s.executions.set(executionId, record)
  return { record, created: true }
}

/**
 * Wakes an unfinished execution: `running`, one more wake-up (and the patch). Returns false when
 * there is no such execution or it is complete.
 */
export const wake = (
  s: HostState,
  executionId: string,
  now: number,
  patch: { readonly interrupted?: boolean } = {}
): boolean => {
  const record = s.executions.get(executionId)
  if (!record || record.status === "complete") return false
  s.executions.set(executionId, {
    ...record,
    ...patch,
    status: "running",
    wakeups: record.wakeups + 1,
    updatedAt: now
  })
  return true
}

/**
 * Records a deferred's result (the first one wins) and wakes its execution. A result for an
 * execution that does not exist yet is kept for it; one for a complete execution is ignored.
 */
export const recordDeferred = (
  s: HostState,
  executionId: string,
  deferred: string,
  exit: EncodedExit,
  now: number
): { readonly accepted: boolean; readonly woke: boolean } => {
  const key = deferredKey(executionId, deferred)
  const record = s.executions.get(executionId)
  if (s.deferreds.has(key) || record?.status === "complete") return { accepted: false, woke: false }
  s.deferreds.set(key, exit)
  return { accepted: true, woke: wake(s, executionId, now) }
}

/** Records a clock unless it (or its deferred) exists: DurableClock.sleep asks again on every replay. */
export const scheduleClock = (s: HostState, clock: ClockRecord): boolean => {
  const key = clockKey(clock.executionId, clock.name)
  if (s.clocks.has(key) || s.deferreds.has(deferredKey(clock.executionId, clock.deferred))) return false
  s.clocks.set(key, clock)
  return true
}

/** Fires a clock that is still pending (with this wake-up time): its deferred completes. */
export const fireClock = (s: HostState, clock: ClockRecord, exit: EncodedExit, now: number): boolean => {
  const key = clockKey(clock.executionId, clock.name)
  const current = s.clocks.get(key)
  if (!current || current.wakeAt !== clock.wakeAt) return false
  s.clocks.delete(key)
  return recordDeferred(s, clock.executionId, clock.deferred, exit, now).woke
}

/**
 * Completes an execution with its (encoded) exit, drops what only its replays needed, and wakes
 * its parent. Returns the parent to resume, if any.
 */
export const complete = (
  s: HostState,
  executionId: string,
  exit: unknown,
  outcome: Outcome,
  now: number
): ParentRef | undefined => {
  const record = s.executions.get(executionId)
  if (!record || record.status === "complete") return undefined
  s.executions.set(executionId, { ...record, status: "complete", outcome, exit, updatedAt: now })
  const prefix = `${executionId}/`
  for (const map of [s.activities, s.deferreds, s.clocks, s.externals] as const) {
    for (const key of Array.from(map.keys())) if (key.startsWith(prefix)) map.delete(key)
  }
  if (record.parent && wake(s, record.parent.executionId, now)) return record.parent
  return undefined
}

/**
 * A run ended suspended. Records `suspended` unless a wake-up arrived since the run started (then
 * the execution stays `running` and must run again: "rerun").
 */
export const suspend = (
  s: HostState,
  executionId: string,
  wakeupsAtStart: number,
  now: number
): "suspended" | "rerun" | "gone" => {
  const record = s.executions.get(executionId)
  if (!record || record.status === "complete") return "gone"
  if (record.wakeups !== wakeupsAtStart) return "rerun"
  if (record.status !== "suspended") s.executions.set(executionId, { ...record, status: "suspended", updatedAt: now })
  return "suspended"
}

/** The public view of a record. */
export const info = (executionId: string, record: ExecutionRecord): ExecutionInfo => ({
  executionId,
  workflow: record.workflow,
  status: record.status,
  interrupted: record.interrupted,
  ...(record.outcome !== undefined ? { outcome: record.outcome } : {}),
  ...(record.exit !== undefined ? { exit: record.exit } : {}),
  ...(record.parent ? { parent: record.parent } : {}),
  createdAt: record.createdAt,
  updatedAt: record.updatedAt
})

// -------------------------------------------------------------------------------------------------
// The StateObject

export interface WorkflowHostOptions {
  /** The worker name (default `wf-host`). Its checkpoints are found by it after a restart. */
  readonly name?: string
}

export interface WorkflowHostService {
  readonly name: string
  readonly state: HostState
  readonly stateObject: SO.StateObject<HostState>
}

export class WorkflowHost extends Context.Tag("@dse/workflow/WorkflowHost")<WorkflowHost, WorkflowHostService>() {}

/** Starts the host's StateObject (restoring its checkpoint after a restart). */
export const make = (
  options: WorkflowHostOptions = {}
): Effect.Effect<WorkflowHostService, SO.StartError, Dse.Dse | CheckpointStore | Scope.Scope> =>
  Effect.map(
    StateObject.make({ name: options.name ?? DEFAULT_HOST, state: new HostState(), kind: "workflow" }),
    (so) => ({ name: so.name, state: so.state, stateObject: so })
  )

export const layer = (options: WorkflowHostOptions = {}): Layer.Layer<WorkflowHost, SO.StartError, Dse.Dse | CheckpointStore> =>
  Layer.scoped(WorkflowHost, make(options))
