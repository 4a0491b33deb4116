/**
 * An in-process cluster: one coordinator and any number of simulated processes, each with its own
 * Dse runtime (its own view of the cut and world-line), sharing an in-memory "disk" (the memory
 * checkpoint store) and an in-process network with fault injection.
 *
 * `crash` kills a process as SIGKILL would: its memory is gone, its fibers stop, and persists it
 * had in flight never land. `restart` runs its program again: its StateObjects register as
 * restarted workers and the cluster moves to a new world-line. The coordinator can crash and
 * restart too (its durable state is kept in an in-memory ClusterStateStore).
 */
import { Coordinator } from "@dse/coordinator"
import type { ExecutionMode } from "@dse/core"
import { CheckpointStore, CoordinatorClient, Dse } from "@dse/core"
import { MemoryCheckpointStore, MemoryClusterStateStore } from "@dse/storage"
import type { Scope } from "effect"
import { Context, Duration, Effect, Exit, Layer, Scope as ScopeModule } from "effect"
import type { Faults } from "./InProcessNetwork"
import { InProcessNetwork } from "./InProcessNetwork"
import { SwitchableCoordinator } from "./internal/switchableCoordinator"

export interface ClusterOptions {
  readonly mode?: ExecutionMode
  readonly faults?: Faults
  /** One-way latency between processes and the coordinator. Default 0. */
  readonly coordinatorLatency?: Duration.DurationInput
  /** How long a persist stays in flight (a crash meanwhile loses it). Default 0. */
  readonly persistDelay?: Duration.DurationInput
  readonly sealPeriod?: Duration.DurationInput
}

export type ProcessProgram<E> = Effect.Effect<void, E, Dse.Dse | CheckpointStore | Scope.Scope>

export interface ProcessHandle {
  readonly name: string
  readonly alive: () => boolean
  /** The running process's services (its Dse runtime), for running client code inside it. */
  readonly context: () => Context.Context<Dse.Dse | CheckpointStore>
  readonly crash: Effect.Effect<void>
  readonly restart: Effect.Effect<void, unknown>
  readonly crashes: () => number
}

export class InProcessCluster {
  readonly coordinator = new SwitchableCoordinator()
  coordinatorScope: Scope.CloseableScope | undefined
  coordinatorRestarts = 0

  private constructor(
    readonly options: ClusterOptions,
    readonly network: InProcessNetwork,
    readonly disk: MemoryCheckpointStore.MemoryCheckpointStore,
    readonly clusterState: MemoryClusterStateStore.MemoryClusterStateStore,
    private readonly scope: Scope.Scope
  ) {
    this.coordinator.latency = Duration.decode(options.coordinatorLatency ?? 0)
  }

  static make(options: ClusterOptions = {}): Effect.Effect<InProcessCluster, unknown, Scope.Scope> {
    return Effect.gen(function* () {
      const disk = yield* MemoryCheckpointStore.make(
        options.persistDelay !== undefined ? { persistDelay: options.persistDelay } : {}
      )
      const clusterState = yield* MemoryClusterStateStore.make
      const scope = yield* Effect.scope
      const cluster = new InProcessCluster(options, InProcessNetwork.make(options.faults ?? {}), disk, clusterState, scope)
      yield* cluster.startCoordinator
      yield* Effect.addFinalizer(() => cluster.stopCoordinator)
      return cluster
    })
  }

  get coordinatorUp(): boolean {
    return this.coordinator.current !== undefined
  }

  private get startCoordinator(): Effect.Effect<void, unknown> {
    return Effect.gen(this, function* () {
      const scope = yield* ScopeModule.fork(this.scope, { _tag: "Sequential" } as any)
      const service = yield* Effect.provide(Coordinator.make(), this.clusterState.layer).pipe(
        Effect.provideService(ScopeModule.Scope, scope)
      )
      this.coordinatorScope = scope
      this.coordinator.current = service
    })
  }

  private get stopCoordinator(): Effect.Effect<void> {
    return Effect.gen(this, function* () {
      const current = this.coordinator.current
      this.coordinator.current = undefined
      if (current) yield* current.shutdown
      if (this.coordinatorScope) yield* ScopeModule.close(this.coordinatorScope, Exit.void)
      this.coordinatorScope = undefined
    })
  }

  /** Kills the coordinator: its event streams end and calls fail until `restartCoordinator`. */
  get crashCoordinator(): Effect.Effect<void> {
    return this.stopCoordinator
  }

  /** Starts a new coordinator on the durable cluster state; processes re-register with it. */
  get restartCoordinator(): Effect.Effect<void, unknown> {
    return Effect.suspend(() => {
      if (this.coordinator.current) return Effect.void
      this.coordinatorRestarts++
      return this.startCoordinator
    })
  }

  /**
   * Starts a process that runs `program` (create StateObjects, serve endpoints) with its own Dse
   * runtime. The program's resources live until the process crashes or the cluster closes.
   */
  spawn<E>(name: string, program: ProcessProgram<E>): Effect.Effect<ProcessHandle, unknown> {
    return Effect.gen(this, function* () {
      let scope: Scope.CloseableScope | undefined
      let state: "down" | "starting" | "up" = "down"
      let context: Context.Context<Dse.Dse | CheckpointStore> | undefined
      let crashes = 0
      const opened = new Set<string>()
      const cluster = this
      const stores = Layer.succeed(CheckpointStore, {
        open: (worker: string) => {
          opened.add(worker)
          return cluster.disk.service.open(worker)
        }
      })
      const start = Effect.gen(function* () {
        state = "starting"
        const processScope = yield* ScopeModule.fork(cluster.scope, { _tag: "Sequential" } as any)
        scope = processScope
        const built = yield* Layer.buildWithScope(
          Layer.provideMerge(
            Dse.layer({
              ...(cluster.options.mode !== undefined ? { mode: cluster.options.mode } : {}),
              ...(cluster.options.sealPeriod !== undefined ? { sealPeriod: cluster.options.sealPeriod } : {})
            }),
            Layer.merge(Layer.succeed(CoordinatorClient, cluster.coordinator.client), stores)
          ),
          processScope
        )
        context = built
        yield* program.pipe(Effect.provide(built), Effect.provideService(ScopeModule.Scope, processScope))
        state = "up"
      }).pipe(
        Effect.tapErrorCause(() =>
          Effect.suspend(() => {
            state = "down"
            const s = scope
            scope = undefined
            context = undefined
            return s ? ScopeModule.close(s, Exit.void) : Effect.void
          })
        )
      )
      const crash = Effect.gen(function* () {
        // A process that is still starting is not crashed: tests crash running processes.
        if (state !== "up" || !scope) return
        const s = scope
        state = "down"
        scope = undefined
        context = undefined
        crashes++
        // The disk first: persists in flight must not land while the process is torn down.
        for (const worker of opened) yield* cluster.disk.crash(worker)
        opened.clear()
        yield* ScopeModule.close(s, Exit.interrupt(0 as any))
      })
      yield* start
      return {
        name,
        alive: () => state === "up",
        context: () => {
          if (!context) throw new Error(`process ${name} is not running`)
          return context
        },
        crash,
        restart: Effect.suspend(() => (state === "down" ? start : Effect.void)),
        crashes: () => crashes
      } satisfies ProcessHandle
    })
  }
}
