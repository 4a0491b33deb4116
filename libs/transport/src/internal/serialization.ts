/**
 * The wire format of every transport: msgpack (as @effect/rpc frames it), with a frame size limit
 * enforced in both directions.
 *
 * - Receiving: msgpack's `maxBufferSize` makes the reader give up on a partial frame above the
 *   limit, and the socket server then closes the connection (close code 1009) at once instead of
 *   buffering a huge frame.
 * - Sending: an encoded request above the limit throws `FrameTooLarge` (the client Protocol turns
 *   it into a typed RpcClientError for that call only); an encoded reply above the limit is
 *   replaced by a defect for that request, so one oversize reply never breaks the connection.
 *
 * Every msgpack message is self-contained (record definitions are inlined per message), so
 * dropping an encoded message leaves the peer's decoder in sync.
 */
import { RpcSerialization } from "@effect/rpc"
import type { FromServerEncoded } from "@effect/rpc/RpcMessage"

export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024

/** Thrown by `encode` for a request frame above the limit. */
export class FrameTooLarge extends Error {
  constructor(
    readonly size: number,
    readonly limit: number
  ) {
    super(`a request of ${size} bytes exceeds the frame limit of ${limit} bytes`)
    this.name = "FrameTooLarge"
  }
}

const oversizeReply = (message: FromServerEncoded, size: number, limit: number): FromServerEncoded | undefined => {
  if (message._tag !== "Exit" && message._tag !== "Chunk") return undefined
  return {
    _tag: "Exit",
    requestId: message.requestId,
    exit: {
      _tag: "Failure",
      cause: { _tag: "Die", defect: `a reply of ${size} bytes exceeds the frame limit of ${limit} bytes` }
    }
  }
}

/** msgpack with records (the @effect/rpc default) and the frame limit in both directions. */
export const make = (maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES): RpcSerialization.RpcSerialization["Type"] => {
  const base = RpcSerialization.makeMsgPack({ useRecords: true, maxBufferSize: maxFrameBytes })
  return RpcSerialization.RpcSerialization.of({
    contentType: base.contentType,
    includesFraming: base.includesFraming,
    unsafeMake() {
      const parser = base.unsafeMake()
      return {
        decode: (bytes) => parser.decode(bytes),
        encode(message) {
          const encoded = parser.encode(message) as Uint8Array | undefined
          if (encoded === undefined || encoded.length <= maxFrameBytes) return encoded
          const replacement = oversizeReply(message as FromServerEncoded, encoded.length, maxFrameBytes)
          if (replacement !== undefined) return parser.encode(replacement)
          throw new FrameTooLarge(encoded.length, maxFrameBytes)
        }
      }
    }
  })
}
