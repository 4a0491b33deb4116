/**
 * The `--topics "orders:4,alerts:1"` syntax, checked without any library: `src/main.ts` rejects a
 * bad command line before it loads the broker (which takes seconds). The same rules as
 * BrokerModel's TopicConfig: a name of letters, digits, `.`, `_`, `-` (1..100), 1..1024 partitions.
 */
export interface TopicSpec {
  readonly name: string
  readonly partitions: number
}

const NAME = /^[A-Za-z0-9._-]{1,100}$/
export const MAX_PARTITIONS = 1024

/** The topics of `spec` (a topic without `:n` has one partition), or why it is not a topic list. */
export const parseTopicSpec = (spec: string): ReadonlyArray<TopicSpec> | string => {
  const out: Array<TopicSpec> = []
  const seen = new Set<string>()
  for (const part of spec.split(",").map((s) => s.trim()).filter((s) => s.length > 0)) {
    const [name, n, ...rest] = part.split(":")
    if (rest.length > 0 || name === undefined || !NAME.test(name)) {
      return `bad topic ${JSON.stringify(part)}: a name of letters, digits, ".", "_", "-" (1..100), then ":partitions"`
    }
    const partitions = n === undefined ? 1 : Number(n)
    if (!Number.isInteger(partitions) || partitions < 1 || partitions > MAX_PARTITIONS || (n !== undefined && !/^\d+$/.test(n))) {
      return `bad partition count in ${JSON.stringify(part)}: an integer in [1, ${MAX_PARTITIONS}]`
    }
    if (seen.has(name)) return `topic ${name} is configured twice`
    seen.add(name)
    out.push({ name, partitions })
  }
  return out
}
