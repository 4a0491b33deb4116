/**
 * The DSE header that every message between DSE parties carries (SPEC 3.2).
 *
 * (world-line, optional source (worker, version), dependency list). It has a Schema for structured
 * wire formats and a compact binary form for byte-oriented transports:
 *
 *   byte 0        format tag 0xD5
 *   byte 1        flags: bit 0 = has source
 *   varint        world-line
 *   [varint x2]   source worker id, source version (when flagged)
 *   varint        dependency count n
 *   varint x 2n   (worker id, version) pairs
 *
 * Varints are unsigned LEB128 in their shortest form, at most 8 bytes (safe integers up to 2^53-1).
 */
import { Either, Schema } from "effect"
import { DependencyList, DependencySet } from "./DependencySet"
import { MalformedHeader } from "./Errors"
import type { Version, WorkerId, WorldLine } from "./Ids"

export interface Header {
  readonly worldLine: WorldLine
  readonly source?: readonly [worker: WorkerId, version: Version] | undefined
  readonly deps: DependencySet
}

/** The structured wire form (used inside RPC payloads and JSON). */
export const HeaderSchema = Schema.Struct({
  worldLine: Schema.Int.pipe(Schema.positive()),
  source: Schema.optional(Schema.Tuple(Schema.Int.pipe(Schema.positive()), Schema.Int.pipe(Schema.nonNegative()))),
  deps: DependencyList
})
export type HeaderWire = typeof HeaderSchema.Type

export const toWire = (header: Header): HeaderWire => ({
  worldLine: header.worldLine,
  ...(header.source ? { source: [header.source[0], header.source[1]] as const } : {}),
  deps: header.deps.toArray()
})

export const fromWire = (wire: HeaderWire): Header => ({
  worldLine: wire.worldLine as WorldLine,
  source: wire.source ? [wire.source[0] as WorkerId, wire.source[1] as Version] : undefined,
  deps: DependencySet.fromIterable(wire.deps as ReadonlyArray<readonly [WorkerId, Version]>)
})

const FORMAT_TAG = 0xd5
const FLAG_SOURCE = 1
/** A header never needs more deps than a cluster has workers; this bounds decoding work. */
export const MAX_HEADER_DEPS = 65_536

const varintSize = (n: number): number => {
  let size = 1
  while (n >= 0x80) {
    n = Math.floor(n / 0x80)
    size++
  }
  return size
}

const writeVarint = (buf: Uint8Array, offset: number, n: number): number => {
  while (n >= 0x80) {
    buf[offset++] = (n % 0x80) | 0x80
    n = Math.floor(n / 0x80)
  }
  buf[offset++] = n
  return offset
}

const assertEncodable = (n: number, what: string) => {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`cannot encode ${what} ${n} in a DSE header`)
}

export const encode = (header: Header): Uint8Array => {
  const deps = header.deps.toArray()
  assertEncodable(header.worldLine, "world-line")
  if (header.source) {
    assertEncodable(header.source[0], "source worker")
    assertEncodable(header.source[1], "source version")
  }
  for (const [w, v] of deps) {
    assertEncodable(w, "worker")
    assertEncodable(v, "version")
  }
  let size = 2 + varintSize(header.worldLine) + varintSize(deps.length)
  if (header.source) size += varintSize(header.source[0]) + varintSize(header.source[1])
  for (const [w, v] of deps) size += varintSize(w) + varintSize(v)
  const buf = new Uint8Array(size)
  buf[0] = FORMAT_TAG
  buf[1] = header.source ? FLAG_SOURCE : 0
  let offset = writeVarint(buf, 2, header.worldLine)
  if (header.source) {
    offset = writeVarint(buf, offset, header.source[0])
    offset = writeVarint(buf, offset, header.source[1])
  }
  offset = writeVarint(buf, offset, deps.length)
  for (const [w, v] of deps) {
    offset = writeVarint(buf, offset, w)
    offset = writeVarint(buf, offset, v)
  }
  return buf
}

class Reader {
  offset = 0
  constructor(readonly buf: Uint8Array) {}
  varint(what: string): number {
    let result = 0
    let scale = 1
    for (let i = 0; i < 8; i++) {
      if (this.offset >= this.buf.length) throw new MalformedHeader({ reason: `truncated ${what}` })
      const byte = this.buf[this.offset++]!
      result += (byte & 0x7f) * scale
      if ((byte & 0x80) === 0) {
        if (byte === 0 && i > 0) throw new MalformedHeader({ reason: `${what} is not in its shortest form` })
        if (result > Number.MAX_SAFE_INTEGER) throw new MalformedHeader({ reason: `${what} exceeds 2^53-1` })
        return result
      }
      scale *= 0x80
    }
    throw new MalformedHeader({ reason: `${what} is longer than 8 bytes` })
  }
}

export const decode = (bytes: Uint8Array): Either.Either<Header, MalformedHeader> => {
  try {
    if (bytes.length < 4) return Either.left(new MalformedHeader({ reason: `only ${bytes.length} bytes` }))
    if (bytes[0] !== FORMAT_TAG) return Either.left(new MalformedHeader({ reason: `bad format tag ${bytes[0]}` }))
    const flags = bytes[1]!
    if ((flags & ~FLAG_SOURCE) !== 0) return Either.left(new MalformedHeader({ reason: `unknown flags ${flags}` }))
    const reader = new Reader(bytes)
    reader.offset = 2
    const wl = reader.varint("world-line")
    if (wl < 1) return Either.left(new MalformedHeader({ reason: "world-line 0" }))
    let source: readonly [WorkerId, Version] | undefined
    if (flags & FLAG_SOURCE) {
      const w = reader.varint("source worker")
      const v = reader.varint("source version")
      if (w < 1) return Either.left(new MalformedHeader({ reason: "source worker 0" }))
      source = [w as WorkerId, v as Version]
    }
    const count = reader.varint("dependency count")
    if (count > MAX_HEADER_DEPS) return Either.left(new MalformedHeader({ reason: `${count} dependencies` }))
    const deps = DependencySet.empty()
    for (let i = 0; i < count; i++) {
      const w = reader.varint("dependency worker")
      const v = reader.varint("dependency version")
      if (w < 1) return Either.left(new MalformedHeader({ reason: "dependency on worker 0" }))
      deps.add(w as WorkerId, v as Version)
    }
    if (reader.offset !== bytes.length) {
      return Either.left(new MalformedHeader({ reason: `${bytes.length - reader.offset} trailing bytes` }))
    }
    return Either.right({ worldLine: wl as WorldLine, source, deps })
  } catch (e) {
    if (e instanceof MalformedHeader) return Either.left(e)
    throw e
  }
}

/** All dependencies a header stands for: its list plus its source. */
export const allDependencies = (header: Header): DependencySet => {
  const set = header.deps.clone()
  if (header.source) set.add(header.source[0], header.source[1])
  return set
}
