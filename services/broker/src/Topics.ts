/**
 * Topic configuration: which topics exist and how many partitions each has, the worker name of
 * every partition, and how keys route to partitions.
 *
 * The configuration is static for a cluster: every broker process and every client is given the
 * same list (`--topics "orders:4,alerts:1"`). Each partition is one StateObject (one worker, one
 * failure domain, one sqlite file) named `broker:<topic>:<partition>`.
 */
import { Effect, Schema } from "effect"
import { InvalidRequest, UnknownPartition, UnknownTopic } from "./BrokerErrors"
import { TopicConfig } from "./BrokerModel"
import { parseTopicSpec } from "./internal/topicSpec"

export type { TopicConfig }

export interface Topics {
  readonly list: ReadonlyArray<TopicConfig>
  readonly get: (topic: string) => TopicConfig | undefined
}

export const make = (list: ReadonlyArray<TopicConfig>): Topics => {
  const byName = new Map<string, TopicConfig>()
  for (const t of list) {
    const decoded = Schema.decodeUnknownSync(TopicConfig)(t)
    if (byName.has(decoded.name)) throw new RangeError(`topic ${decoded.name} is configured twice`)
    byName.set(decoded.name, decoded)
  }
  return { list: Array.from(byName.values()), get: (topic) => byName.get(topic) }
}

/** Parses `"orders:4,alerts:1"` (a topic without `:n` has one partition). */
export const parse = (spec: string): Effect.Effect<Topics, InvalidRequest> =>
  Effect.suspend(() => {
    const parsed = parseTopicSpec(spec)
    return typeof parsed === "string"
      ? Effect.fail(new InvalidRequest({ reason: `bad topic list ${JSON.stringify(spec)}: ${parsed}` }))
      : Effect.succeed(make(parsed))
  })

/** Renders a configuration back to the `--topics` form. */
export const format = (topics: Topics): string => topics.list.map((t) => `${t.name}:${t.partitions}`).join(",")

/** The worker name of a partition. */
export const workerName = (topic: string, partition: number): string => `broker:${topic}:${partition}`

/** The (topic, partition) of a partition worker name, if it is one. */
export const parseWorkerName = (name: string): { readonly topic: string; readonly partition: number } | undefined => {
  const m = /^broker:([A-Za-z0-9._-]+):(\d+)$/.exec(name)
  return m ? { topic: m[1]!, partition: Number(m[2]) } : undefined
}

/** Checks that (topic, partition) exists. */
export const check = (
  topics: Topics,
  topic: string,
  partition: number
): Effect.Effect<TopicConfig, UnknownTopic | UnknownPartition> => {
  const t = topics.get(topic)
  if (!t) return Effect.fail(new UnknownTopic({ topic }))
  if (!Number.isInteger(partition) || partition < 0 || partition >= t.partitions) {
    return Effect.fail(new UnknownPartition({ topic, partition, partitions: t.partitions }))
  }
  return Effect.succeed(t)
}

/** FNV-1a over the UTF-16 code units of `key`: stable across processes and runs. */
export const hash = (key: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** The partition of `key` among `partitions`. */
export const partitionOf = (key: string, partitions: number): number => hash(key) % partitions
