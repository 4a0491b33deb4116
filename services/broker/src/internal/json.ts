/** Checks that values are JSON (what the wire and the checkpoint store carry faithfully) and measures them. */

const isPlainObject = (v: object): boolean => {
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

/** Why `value` is not a JSON value within `maxDepth` levels of nesting (undefined: it is one). */
export const notJson = (value: unknown, maxDepth: number, path = "$"): string | undefined => {
  if (value === null) return undefined
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined
    case "number":
      return Number.isFinite(value) ? undefined : `${path} is ${value}, not a finite number`
    case "object": {
      if (maxDepth <= 0) return `${path} is nested too deeply`
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const r = notJson(value[i], maxDepth - 1, `${path}[${i}]`)
          if (r) return r
        }
        return undefined
      }
      if (!isPlainObject(value)) return `${path} is a ${value.constructor?.name ?? "non-plain object"}, not a JSON object`
      for (const [k, v] of Object.entries(value)) {
        const r = notJson(v, maxDepth - 1, `${path}.${k}`)
        if (r) return r
      }
      return undefined
    }
    default:
      return `${path} is ${typeof value}, not a JSON value`
  }
}

/** The size of `value` as UTF-8 JSON text. */
export const jsonSize = (value: unknown): number => Buffer.byteLength(JSON.stringify(value) ?? "", "utf8")

export const utf8Length = (s: string): number => Buffer.byteLength(s, "utf8")
