/**
 * The suite registry, in the default running order: suites that share clusters run together
 * (saga and chain use the workflow host; kv and wal the same clusters), then the suites that
 * start processes of their own (pipeline, recovery).
 */
import type { Suite } from "../Suite"
import * as Chain from "./chain"
import * as Kv from "./kv"
import * as Pipeline from "./pipeline"
import * as Primitives from "./primitives"
import * as Recovery from "./recovery"
import * as Saga from "./saga"
import * as Wal from "./wal"

export const SUITES: ReadonlyArray<Suite> = [Primitives.suite, Saga.suite, Chain.suite, Kv.suite, Wal.suite, Pipeline.suite, Recovery.suite]
