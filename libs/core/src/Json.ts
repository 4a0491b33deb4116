/**
 * JSON checks for services whose values are JSON (KV values, WAL entries, broker events): is a
 * value JSON (what the wire and the checkpoint store carry faithfully), how big is it, are two
 * values equal as JSON, and a stable fingerprint of a request (to detect an idempotency key reused
 * with another request).
 */

export interface JsonProblem {
  readonly path: string
  readonly reason: string
}

const describe = (value: unknown): string => {
  if (value === null) return "null"
  if (Array.isArray(value)) return "an array"
  const t = typeof value
  if (t === "object") {
    const name = (value as object).constructor?.name
    return name && name !== "Object" ? `a ${name}` : "an object"
  }
  if (t === "number") return Number.isNaN(value) ? "NaN" : String(value)
  return t === "undefined" ? "undefined" : `a ${t}`
}

const isPlainObject = (value: object): boolean => {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

const pathKey = (path: string, key: string): string =>
  /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`

/** The first place where `value` is not JSON, or undefined when it is. Bounded by `maxDepth`. */
export const findNonJson = (value: unknown, maxDepth: number): JsonProblem | undefined => {
  const walk = (v: unknown, path: string, depth: number): JsonProblem | undefined => {
    switch (typeof v) {
      case "string":
      case "boolean":
        return undefined
      case "number":
        return Number.isFinite(v) ? undefined : { path, reason: `${describe(v)} is not a JSON number` }
      case "object": {
        if (v === null) return undefined
        if (depth >= maxDepth) return { path, reason: `nested deeper than ${maxDepth} levels` }
        if (Array.isArray(v)) {
          for (let i = 0; i < v.length; i++) {
            if (!(i in v)) return { path: `${path}[${i}]`, reason: "a hole in an array" }
            const p = walk(v[i], `${path}[${i}]`, depth + 1)
            if (p) return p
          }
          return undefined
        }
        if (!isPlainObject(v)) return { path, reason: `${describe(v)} is not a plain object` }
        if (Object.getOwnPropertySymbols(v).length > 0) return { path, reason: "an object with symbol keys" }
        for (const key of Object.keys(v)) {
          const p = walk((v as Record<string, unknown>)[key], pathKey(path, key), depth + 1)
          if (p) return p
        }
        return undefined
      }
      default:
        return { path, reason: `${describe(v)} is not a JSON value` }
    }
  }
  return walk(value, "$", 0)
}

const encoder = new TextEncoder()

/** UTF-8 length of a string, without allocating for ASCII-only strings. */
export const utf8Length = (s: string): number => {
  // Fast path: count code units, correct for ASCII; fall back to the encoder otherwise.
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return encoder.encode(s).length
  return s.length
}

/** Size of a JSON value: the UTF-8 bytes of its JSON text. */
export const jsonSize = (value: unknown): number => utf8Length(JSON.stringify(value))

/** Equality as JSON values (object key order does not matter). */
export const jsonEquals = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!jsonEquals(a[i], b[i])) return false
    return true
  }
  if (Array.isArray(b)) return false
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  if (ka.length !== kb.length) return false
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) return false
    if (!jsonEquals((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false
  }
  return true
}

/** JSON text with object keys sorted: equal JSON values give equal text. */
export const canonicalJson = (value: unknown): string => {
  if (value === undefined) return "null"
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null"
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`
  const keys = Object.keys(value).sort()
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(",")}}`
}

/** 32-bit FNV-1a over the UTF-16 code units of a string. */
export const fnv1a = (s: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** A fingerprint of a request: the operation and its canonical payload (without the idempotency key). */
export const fingerprint = (operation: string, payload: unknown): number =>
  fnv1a(`${operation}\u0000${canonicalJson(payload)}`)

/** The type of a value, for WrongType errors. */
export const typeName = (value: unknown): string => {
  if (value === undefined) return "absent"
  if (value === null) return "null"
  if (Array.isArray(value)) return "an array"
  if (typeof value === "object") return "a record"
  return `a ${typeof value}`
}
