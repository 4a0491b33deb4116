/**
 * JSON checks of the WAL: is a value JSON, and how big is it.
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
  if (t === "number") return String(value)
  return t === "undefined" ? "undefined" : `a ${t}`
}

const isPlainObject = (value: object): boolean => {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

const pathKey = (path: string, key: string): string =>
  /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`

/** The first place where `value` is not JSON, or undefined when it is. Bounded by `maxDepth` (cycles hit it). */
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

/** UTF-8 length of a string. */
export const utf8Length = (s: string): number => Buffer.byteLength(s, "utf8")

/** Size of a JSON value: the UTF-8 bytes of its JSON text. */
export const jsonSize = (value: unknown): number => utf8Length(JSON.stringify(value))
