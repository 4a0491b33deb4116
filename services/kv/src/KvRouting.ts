/**
 * Which shard holds a key: a stable function of the key and the number of shards only, the same in
 * every process and on every machine (no randomness, no process state).
 *
 *   routingKey(key)  = the text between the first "{" and the next "}" when that is non-empty
 *                      (a hash tag, as in Redis Cluster), else the whole key;
 *   h                = FNV-1a 32-bit over the UTF-8 bytes of the routing key;
 *   shardOf(key, n)  = jump consistent hash (Lamping & Veach, 2014) of splitmix64(h) into n buckets.
 *
 * Hash tags co-locate keys: `stock:{hotel-7}` and `resv:{hotel-7}:r42` live on the same shard, so a
 * reservation (or a batch) over them is one Action. Jump hash spreads keys evenly and, should the
 * shard count grow from n to n+1, moves only about 1/(n+1) of them (the KV does not migrate data
 * between shards today: the shard count of a cluster is fixed when it is created).
 */

const encoder = new TextEncoder()

/** The part of `key` that decides its shard. */
export const routingKey = (key: string): string => {
  const open = key.indexOf("{")
  if (open < 0) return key
  const close = key.indexOf("}", open + 1)
  if (close < 0 || close === open + 1) return key
  return key.slice(open + 1, close)
}

/** FNV-1a 32-bit over the UTF-8 bytes of `s`. */
export const hash32 = (s: string): number => {
  let h = 0x811c9dc5
  let ascii = true
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0x7f) {
      ascii = false
      break
    }
  }
  if (ascii) {
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  } else {
    for (const b of encoder.encode(s)) h = Math.imul(h ^ b, 0x01000193)
  }
  return h >>> 0
}

const MASK64 = (1n << 64n) - 1n

const splitmix64 = (x: bigint): bigint => {
  let z = (x + 0x9e3779b97f4a7c15n) & MASK64
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64
  return z ^ (z >> 31n)
}

/** Jump consistent hash of a 64-bit key into [0, buckets). */
export const jumpHash = (key: bigint, buckets: number): number => {
  let b = -1
  let j = 0
  let k = key & MASK64
  while (j < buckets) {
    b = j
    k = (k * 2862933555777941757n + 1n) & MASK64
    j = Math.floor((b + 1) * (2147483648 / (Number(k >> 33n) + 1)))
  }
  return b
}

/** The shard (0..shards-1) that holds `key`. */
export const shardOf = (key: string, shards: number): number => {
  if (!Number.isInteger(shards) || shards < 1) throw new RangeError(`shard count must be a positive integer, got ${shards}`)
  if (shards === 1) return 0
  return jumpHash(splitmix64(BigInt(hash32(routingKey(key)))), shards)
}
