/**
 * A server could not start listening on its endpoint: the TCP port is busy or not allowed, or the
 * in-process name is already served.
 */
import { Schema } from "effect"

export class ListenError extends Schema.TaggedError<ListenError>("@dse/transport/ListenError")("ListenError", {
  endpoint: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `cannot listen on ${this.endpoint}: ${this.reason}`
  }
}
