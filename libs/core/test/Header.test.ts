import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Schema } from "effect"
import fc from "fast-check"
import { DependencySet } from "../src/DependencySet"
import { MalformedHeader } from "../src/Errors"
import * as Header from "../src/Header"
import type { Version, WorkerId, WorldLine } from "../src/Ids"

const MAX_SAFE = Number.MAX_SAFE_INTEGER // 2^53 - 1

const make = (
  worldLine: number,
  source: readonly [number, number] | undefined,
  deps: ReadonlyArray<readonly [number, number]>
): Header.Header => ({
  worldLine: worldLine as WorldLine,
  source: source ? [source[0] as WorkerId, source[1] as Version] : undefined,
  deps: DependencySet.fromIterable(deps as ReadonlyArray<readonly [WorkerId, Version]>)
})

/** A comparable view of a header: absent and undefined sources are the same thing. */
const view = (h: Header.Header) => ({
  worldLine: h.worldLine,
  source: h.source === undefined ? undefined : [h.source[0], h.source[1]],
  deps: h.deps.toArray().map(([w, v]) => [w, v])
})

/** Random headers whose every number is drawn from `int` (positive where the protocol says so). */
const headerArb = (int: fc.Arbitrary<number>) =>
  fc
    .record({
      worldLine: int,
      source: fc.option(fc.tuple(int, fc.oneof(fc.constant(0), int)), { nil: undefined }),
      deps: fc.uniqueArray(fc.tuple(int, int), { selector: ([w]) => w, maxLength: 12 })
    })
    .map((r) => make(r.worldLine, r.source, r.deps))

const small = fc.integer({ min: 1, max: 2 ** 31 - 1 })
/** Numbers across the whole safe range, with the varint byte-length boundaries made likely. */
const large = fc.oneof(
  fc.integer({ min: 1, max: MAX_SAFE }),
  fc.constantFrom(2 ** 49 - 1, 2 ** 49, 2 ** 52, MAX_SAFE - 1, MAX_SAFE),
  fc.integer({ min: 1, max: 127 })
)

const decodeOrThrow = (bytes: Uint8Array): Header.Header => {
  const result = Header.decode(bytes)
  if (Either.isLeft(result)) throw new Error(`decode failed: ${result.left.reason}`)
  return result.right
}

/** Asserts that `bytes` decode to a typed MalformedHeader (and that decoding does not throw). */
const expectMalformed = (bytes: Uint8Array | ReadonlyArray<number>): MalformedHeader => {
  const input = bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes)
  let result: Either.Either<Header.Header, MalformedHeader> | undefined
  expect(() => {
    result = Header.decode(input)
  }).not.toThrow()
  expect(result !== undefined && Either.isLeft(result)).toBe(true)
  const error = (result as Either.Left<MalformedHeader, Header.Header>).left
  expect(error).toBeInstanceOf(MalformedHeader)
  expect(error._tag).toBe("MalformedHeader")
  return error
}

/** A valid encoding with a source and multi-byte varints in every position. */
const sample = make(300, [2, 70_000], [
  [1, 200],
  [3, 5],
  [1_000, 2 ** 40]
])

describe("Header binary codec", () => {
  it.effect("round trips random headers, with and without a source", () =>
    Effect.sync(() => {
      fc.assert(
        fc.property(headerArb(small), (h) => {
          expect(view(decodeOrThrow(Header.encode(h)))).toEqual(view(h))
        }),
        { numRuns: 500 }
      )
    })
  )

  it.effect("round trips every varint field up to 2^53-1", () =>
    Effect.sync(() => {
      fc.assert(
        fc.property(headerArb(large), (h) => {
          expect(view(decodeOrThrow(Header.encode(h)))).toEqual(view(h))
        }),
        { numRuns: 300, examples: [[make(MAX_SAFE, [MAX_SAFE, MAX_SAFE], [[MAX_SAFE, MAX_SAFE]])]] }
      )
    })
  )

  it.effect("round trips the largest value a 7-byte varint holds (2^49-1)", () =>
    Effect.sync(() => {
      const h = make(2 ** 49 - 1, [2 ** 49 - 1, 2 ** 49 - 1], [[2 ** 49 - 1, 2 ** 49 - 1]])
      expect(view(decodeOrThrow(Header.encode(h)))).toEqual(view(h))
    })
  )

  it.effect("round trips the largest safe integer 2^53-1 as world-line, source and dependency", () =>
    Effect.sync(() => {
      const h = make(MAX_SAFE, [MAX_SAFE, MAX_SAFE], [[MAX_SAFE, MAX_SAFE]])
      expect(view(decodeOrThrow(Header.encode(h)))).toEqual(view(h))
    })
  )

  it.effect("is compact: a header with a source and 3 dependencies fits in under 20 bytes", () =>
    Effect.sync(() => {
      const h = make(3, [1, 1_000], [
        [2, 5_000],
        [3, 12_000],
        [4, 800]
      ])
      const bytes = Header.encode(h)
      expect(bytes.length).toBeLessThan(20)
      expect(view(decodeOrThrow(bytes))).toEqual(view(h))
    })
  )
})

describe("Header Schema wire form", () => {
  it.effect("toWire/fromWire round trips random headers", () =>
    Effect.sync(() => {
      fc.assert(
        fc.property(headerArb(small), (h) => {
          expect(view(Header.fromWire(Header.toWire(h)))).toEqual(view(h))
        }),
        { numRuns: 300 }
      )
    })
  )

  it.effect("JSON of toWire decodes with Schema.decodeUnknown(HeaderSchema) back to the header", () =>
    Effect.sync(() => {
      fc.assert(
        fc.property(headerArb(small), (h) => {
          const json: unknown = JSON.parse(JSON.stringify(Header.toWire(h)))
          const decoded = Schema.decodeUnknownEither(Header.HeaderSchema)(json)
          expect(Either.isRight(decoded)).toBe(true)
          if (Either.isRight(decoded)) expect(view(Header.fromWire(decoded.right))).toEqual(view(h))
        }),
        { numRuns: 300 }
      )
    })
  )

  it.effect("Schema.decodeUnknown(HeaderSchema) succeeds in Effect for a valid wire header", () =>
    Effect.gen(function* () {
      const wire = yield* Schema.decodeUnknown(Header.HeaderSchema)({ worldLine: 2, source: [1, 4], deps: [[3, 7]] })
      const h = Header.fromWire(wire)
      expect(view(h)).toEqual({ worldLine: 2, source: [1, 4], deps: [[3, 7]] })
    })
  )

  it.effect("HeaderSchema rejects a non-positive world-line, a source on worker 0 and a missing dependency list", () =>
    Effect.gen(function* () {
      const bad: ReadonlyArray<unknown> = [
        { worldLine: 0, deps: [] },
        { worldLine: 1.5, deps: [] },
        { worldLine: 1, source: [0, 1], deps: [] },
        { worldLine: 1, source: [1, -1], deps: [] },
        { worldLine: 1 },
        "not a header",
        null
      ]
      for (const input of bad) {
        const error = yield* Effect.flip(Schema.decodeUnknown(Header.HeaderSchema)(input))
        expect(error._tag).toBe("ParseError")
      }
    })
  )

  it.effect("HeaderSchema rejects the dependency entries the binary codec rejects (worker 0, negative ids or versions)", () =>
    Effect.gen(function* () {
      // The binary form cannot carry these (worker 0 is MalformedHeader, varints are unsigned):
      expectMalformed([0xd5, 0, 1, 1, 0, 5])
      for (const deps of [[[0, 5]], [[-3, 2]], [[2, -1]]]) {
        const result = yield* Effect.either(Schema.decodeUnknown(Header.HeaderSchema)({ worldLine: 1, deps }))
        expect(Either.isLeft(result), `deps ${JSON.stringify(deps)} accepted`).toBe(true)
      }
    })
  )
})

describe("Header malformed input is a typed MalformedHeader, never a throw", () => {
  it.effect("empty input", () =>
    Effect.sync(() => {
      expectMalformed([])
    })
  )

  it.effect("bad format tag", () =>
    Effect.sync(() => {
      const bytes = Header.encode(sample)
      bytes[0] = 0xd4
      expect(expectMalformed(bytes).reason).toContain("tag")
    })
  )

  it.effect("unknown flags", () =>
    Effect.sync(() => {
      for (const flags of [0x02, 0x03, 0x80, 0xff]) {
        const bytes = Header.encode(sample)
        bytes[1] = flags
        expect(expectMalformed(bytes).reason).toContain("flags")
      }
    })
  )

  it.effect("truncated at each byte position of a valid encoding", () =>
    Effect.sync(() => {
      const bytes = Header.encode(sample)
      expect(bytes.length).toBeGreaterThan(12)
      for (let n = 0; n < bytes.length; n++) expectMalformed(bytes.slice(0, n))
    })
  )

  it.effect("truncated at each byte position of random valid encodings", () =>
    Effect.sync(() => {
      fc.assert(
        fc.property(headerArb(small), (h) => {
          const bytes = Header.encode(h)
          for (let n = 0; n < bytes.length; n++) expectMalformed(bytes.slice(0, n))
        }),
        { numRuns: 200 }
      )
    })
  )

  it.effect("trailing bytes after a valid encoding", () =>
    Effect.sync(() => {
      const bytes = Header.encode(sample)
      for (const extra of [[0], [1, 2, 3]]) {
        const longer = new Uint8Array(bytes.length + extra.length)
        longer.set(bytes)
        longer.set(extra, bytes.length)
        expect(expectMalformed(longer).reason).toContain("trailing")
      }
    })
  )

  it.effect("world-line 0", () =>
    Effect.sync(() => {
      expect(expectMalformed([0xd5, 0, 0, 0]).reason).toContain("world-line")
      expect(expectMalformed([0xd5, 1, 0, 1, 1, 0]).reason).toContain("world-line")
    })
  )

  it.effect("worker 0 as source or as dependency", () =>
    Effect.sync(() => {
      // flags=source, wl=1, source=(0, 5), no deps
      expect(expectMalformed([0xd5, 1, 1, 0, 5, 0]).reason).toContain("worker 0")
      // wl=1, one dep (0, 5)
      expect(expectMalformed([0xd5, 0, 1, 1, 0, 5]).reason).toContain("worker 0")
    })
  )

  it.effect("overlong varint", () =>
    Effect.sync(() => {
      // A varint of 10 bytes: longer than any 53-bit integer needs.
      const overlong = [0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]
      expectMalformed([0xd5, 0, ...overlong, 0])
      expectMalformed([0xd5, 1, 1, ...overlong, 1, 0])
      expectMalformed([0xd5, 0, 1, 1, 2, ...overlong])
    })
  )

  it.effect("huge dependency count", () =>
    Effect.sync(() => {
      const count = Header.MAX_HEADER_DEPS + 1 // 65537 = 0x81 0x80 0x04
      expect(expectMalformed([0xd5, 0, 1, 0x81, 0x80, 0x04]).reason).toContain(String(count))
      // 2^40 dependencies: refused before any attempt to read (or allocate for) them.
      expectMalformed([0xd5, 0, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20])
    })
  )

  it.effect("fuzz: random byte arrays never throw, and a failure is always a MalformedHeader", () =>
    Effect.sync(() => {
      const check = (bytes: Uint8Array) => {
        let result: Either.Either<Header.Header, MalformedHeader> | undefined
        expect(() => {
          result = Header.decode(bytes)
        }).not.toThrow()
        if (result && Either.isLeft(result)) expect(result.left).toBeInstanceOf(MalformedHeader)
      }
      fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), check), { numRuns: 2000 })
      // Past the tag and flag checks, so that the varint and count paths are exercised too.
      fc.assert(
        fc.property(fc.constantFrom(0, 1), fc.uint8Array({ maxLength: 64 }), (flags, rest) => {
          const bytes = new Uint8Array(rest.length + 2)
          bytes[0] = 0xd5
          bytes[1] = flags
          bytes.set(rest, 2)
          check(bytes)
        }),
        { numRuns: 5000 }
      )
    })
  )
})
