/**
 * @dse/broker: a DARQ-style broker on dse. Topics with partitions (each partition one StateObject),
 * idempotent producers, consumer groups with broker-kept offsets, speculative and committed
 * subscriptions, and exactly-once processor steps; plus a library to write processors and pipelines,
 * the broker node as a process (`BrokerProcess`, behind `src/main.ts`; `connect` for client
 * processes) and the pipeline benchmark (`PipelineBench.run`, loaded on first use).
 */
export * as Broker from "./Broker"
export * from "./BrokerErrors"
export * as BrokerClient from "./BrokerClient"
export * as BrokerHandlers from "./BrokerHandlers"
export * as BrokerInProcess from "./BrokerInProcess"
export * as BrokerLocal from "./BrokerLocal"
export * as BrokerModel from "./BrokerModel"
export * as BrokerProcess from "./BrokerProcess"
export * from "./BrokerRpcs"
export * as BrokerServer from "./BrokerServer"
export * as BrokerTransport from "./BrokerTransport"
export * as Partition from "./Partition"
export * as Pipeline from "./Pipeline"
export * as PipelineBench from "./PipelineBench"
export * as Processor from "./Processor"
export * as Topics from "./Topics"
