import { describe, expect, it } from "vitest"
import { Json } from "../src/index"

describe("Json", () => {
  it("findNonJson accepts JSON values and names the first place that is not one", () => {
    expect(Json.findNonJson({ a: [1, "x", null, true, { b: 2.5 }] }, 10)).toBeUndefined()
    expect(Json.findNonJson({ a: [1, Number.NaN] }, 10)).toEqual({ path: "$.a[1]", reason: "NaN is not a JSON number" })
    expect(Json.findNonJson({ "a b": new Date(0) }, 10)?.path).toBe('$["a b"]')
    expect(Json.findNonJson({ f: () => 1 }, 10)?.reason).toBe("a function is not a JSON value")
    expect(Json.findNonJson([[[1]]], 2)?.reason).toBe("nested deeper than 2 levels")
    expect(Json.findNonJson([1, , 3], 10)?.reason).toBe("a hole in an array")
  })

  it("jsonEquals ignores key order, and only key order", () => {
    expect(Json.jsonEquals({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 })).toBe(true)
    expect(Json.jsonEquals({ a: 1 }, { a: 1, b: 2 })).toBe(false)
    expect(Json.jsonEquals([1, 2], [2, 1])).toBe(false)
    expect(Json.jsonEquals([], {})).toBe(false)
  })

  it("canonical JSON and fingerprints are equal exactly for equal requests", () => {
    expect(Json.canonicalJson({ b: 1, a: [true, null] })).toBe('{"a":[true,null],"b":1}')
    expect(Json.fingerprint("put", { key: "k", value: { x: 1, y: 2 } })).toBe(Json.fingerprint("put", { value: { y: 2, x: 1 }, key: "k" }))
    expect(Json.fingerprint("put", { key: "k" })).not.toBe(Json.fingerprint("delete", { key: "k" }))
  })

  it("sizes are UTF-8 bytes of the JSON text", () => {
    expect(Json.jsonSize({ a: "é" })).toBe(Buffer.byteLength('{"a":"é"}'))
    expect(Json.utf8Length("abc")).toBe(3)
    expect(Json.utf8Length("€")).toBe(3)
  })
})
