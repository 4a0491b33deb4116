/**
 * The hub of the in-process transport: named endpoints that servers listen on and clients connect
 * to, inside one process. It is a `Context.Reference`: without a provided hub, every server and
 * client of the process share one global hub; a test provides `InProcessHub.layer` for a private
 * one.
 */
import { Context, Layer } from "effect"
import { globalValue } from "effect/GlobalValue"
import { Hub } from "./internal/inProcess"

export type { HubStats } from "./internal/inProcess"

/** The service: `stats()` (served names, connections, frames and bytes carried). */
export type InProcessHubService = Hub

const globalHub = globalValue("@dse/transport/InProcessHub/global", () => new Hub())

export class InProcessHub extends Context.Reference<InProcessHub>()("@dse/transport/InProcessHub", {
  defaultValue: (): InProcessHubService => globalHub
}) {
  /** A new, empty hub. */
  static readonly make = (): InProcessHubService => new Hub()
  /** Provides a new, empty hub (each build gets its own). */
  static readonly layer: Layer.Layer<InProcessHub> = Layer.sync(InProcessHub, () => new Hub())
}
