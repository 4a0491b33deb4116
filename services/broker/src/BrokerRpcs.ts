/**
 * The RPC group of a broker process: a Schema for every payload, success and error, and the DSE
 * middleware (every call carries the DSE header both ways, runs in an sthread made from it, and may
 * fail with the speculation errors).
 *
 * Every request names its (topic, partition); a process answers for the partitions it hosts
 * (NotHosted for the others). `BrokerSubscribe` is a streaming RPC: batches of events as they are
 * appended (speculative) or as they commit (committed).
 */
import { FutureWorldLine, RolledBack, StateObjectFailed } from "@dse/core"
import { DseMiddleware } from "@dse/transport"
import { Rpc, RpcGroup } from "@effect/rpc"
import { Schema } from "effect"
import {
  AlreadyConsumed,
  EventTooLarge,
  Fenced,
  InvalidRequest,
  InvalidStep,
  NotHosted,
  OffsetOutOfRange,
  SequenceGap,
  UnknownPartition,
  UnknownTopic
} from "./BrokerErrors"
import * as M from "./BrokerModel"

const routing = [UnknownTopic, UnknownPartition, NotHosted] as const
const action = [RolledBack, FutureWorldLine, StateObjectFailed] as const

export const BrokerProduce = Rpc.make("BrokerProduce", {
  payload: M.ProduceRequest,
  success: M.ProduceResult,
  error: Schema.Union(...routing, InvalidRequest, EventTooLarge, SequenceGap, ...action)
})

export const BrokerForward = Rpc.make("BrokerForward", {
  payload: M.ForwardRequest,
  success: M.ForwardResult,
  error: Schema.Union(...routing, InvalidRequest, EventTooLarge, SequenceGap, ...action)
})

export const BrokerFetch = Rpc.make("BrokerFetch", {
  payload: M.FetchRequest,
  success: M.EventBatch,
  error: Schema.Union(...routing, InvalidRequest, OffsetOutOfRange, RolledBack)
})

export const BrokerSubscribe = Rpc.make("BrokerSubscribe", {
  payload: M.SubscribeRequest,
  success: M.EventBatch,
  error: Schema.Union(...routing, InvalidRequest, OffsetOutOfRange, RolledBack),
  stream: true
})

export const BrokerRegister = Rpc.make("BrokerRegister", {
  payload: M.RegisterRequest,
  success: M.RegisterResult,
  error: Schema.Union(...routing, InvalidRequest, ...action)
})

export const BrokerStep = Rpc.make("BrokerStep", {
  payload: M.StepRequest,
  success: M.StepResult,
  error: Schema.Union(...routing, Fenced, AlreadyConsumed, InvalidStep, EventTooLarge, InvalidRequest, ...action)
})

export const BrokerCommitOffset = Rpc.make("BrokerCommitOffset", {
  payload: M.CommitOffsetRequest,
  success: M.GroupOffset,
  error: Schema.Union(...routing, Fenced, OffsetOutOfRange, InvalidRequest, ...action)
})

export const BrokerGetOffset = Rpc.make("BrokerGetOffset", {
  payload: M.GetOffsetRequest,
  success: M.GroupOffset,
  error: Schema.Union(...routing, ...action)
})

export const BrokerDeleteGroup = Rpc.make("BrokerDeleteGroup", {
  payload: M.GetOffsetRequest,
  success: Schema.Boolean,
  error: Schema.Union(...routing, InvalidRequest, ...action)
})

export const BrokerPartitionInfo = Rpc.make("BrokerPartitionInfo", {
  payload: M.PartitionRef,
  success: M.PartitionInfo,
  error: Schema.Union(...routing, ...action)
})

export const BrokerTopics = Rpc.make("BrokerTopics", {
  success: M.TopicsResult
})

export class BrokerRpcs extends RpcGroup.make(
  BrokerProduce,
  BrokerForward,
  BrokerFetch,
  BrokerSubscribe,
  BrokerRegister,
  BrokerStep,
  BrokerCommitOffset,
  BrokerGetOffset,
  BrokerDeleteGroup,
  BrokerPartitionInfo,
  BrokerTopics
).middleware(DseMiddleware) {}

export type BrokerRpc = RpcGroup.Rpcs<typeof BrokerRpcs>
export type BrokerRpcTag = BrokerRpc["_tag"]
