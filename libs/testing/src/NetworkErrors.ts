/**
 * Failures of the in-process network, as a real network would have them.
 */
import { Schema } from "effect"

/** A request or its reply was dropped (fault injection). The caller cannot know whether it ran. */
export class MessageLost extends Schema.TaggedError<MessageLost>("@dse/testing/MessageLost")("MessageLost", {
  endpoint: Schema.String,
  leg: Schema.Literal("request", "reply")
}) {
  override get message() {
    return `${this.leg} to ${this.endpoint} was lost`
  }
}

/** No process serves this endpoint right now (it crashed, or never started). */
export class EndpointUnavailable extends Schema.TaggedError<EndpointUnavailable>("@dse/testing/EndpointUnavailable")(
  "EndpointUnavailable",
  { endpoint: Schema.String }
) {
  override get message() {
    return `nobody serves ${this.endpoint}`
  }
}
