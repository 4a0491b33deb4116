/**
 * Where an RPC service is served or reached. Service code takes an `Endpoint` from configuration
 * and never changes between the two transports:
 *
 * - `Tcp`: a TCP socket. Servers bind `127.0.0.1` unless told otherwise; port 0 asks the OS for
 *   a free port (the bound one is returned by the server).
 * - `InProcess`: a named endpoint of the in-process hub (tests, single-process clusters). Messages
 *   still go through the msgpack wire format, so wire bugs show up in unit tests.
 *
 * The string form (`tcp://127.0.0.1:7001`, `tcp://[::1]:7001`, `inproc://kv-0`) is what flags,
 * environment variables and the coordinator's worker addresses carry.
 */
import { Config, ConfigError, Either, Schema } from "effect"

export const Tcp = Schema.TaggedStruct("Tcp", {
  host: Schema.String.pipe(Schema.minLength(1)),
  port: Schema.Int.pipe(Schema.between(0, 65535))
})
export type Tcp = typeof Tcp.Type

export const InProcess = Schema.TaggedStruct("InProcess", {
  name: Schema.String.pipe(Schema.minLength(1))
})
export type InProcess = typeof InProcess.Type

export const Endpoint = Schema.Union(Tcp, InProcess)
export type Endpoint = typeof Endpoint.Type

export const LOOPBACK = "127.0.0.1"

/** A TCP endpoint; the host defaults to loopback. */
export const tcp = (port: number, host: string = LOOPBACK): Endpoint => Tcp.make({ host, port })

/** A named endpoint of the in-process hub. */
export const inProcess = (name: string): Endpoint => InProcess.make({ name })

export const format = (endpoint: Endpoint): string => {
  if (endpoint._tag === "InProcess") return `inproc://${endpoint.name}`
  const host = endpoint.host.includes(":") ? `[${endpoint.host}]` : endpoint.host
  return `tcp://${host}:${endpoint.port}`
}

const TCP_FORM = /^tcp:\/\/(?:\[([^\]]+)\]|([^:/[\]]+)):(\d{1,5})$/
const IN_PROCESS_FORM = /^inproc:\/\/(.+)$/

/** Parses the string form; `host:port` alone is read as TCP. */
export const parse = (input: string): Either.Either<Endpoint, string> => {
  const text = input.trim()
  const inProc = IN_PROCESS_FORM.exec(text)
  if (inProc) return Either.right(inProcess(inProc[1]!))
  const match = TCP_FORM.exec(text.includes("://") ? text : `tcp://${text}`)
  if (!match) return Either.left(`not an endpoint: ${JSON.stringify(input)} (expected tcp://host:port or inproc://name)`)
  const port = Number(match[3])
  if (port > 65535) return Either.left(`port ${port} is out of range in ${JSON.stringify(input)}`)
  return Either.right(tcp(port, match[1] ?? match[2]!))
}

/** The endpoint named by the config value `name` (a string in the form `parse` reads). */
export const config = (name: string): Config.Config<Endpoint> =>
  Config.string(name).pipe(
    Config.mapOrFail((text) => Either.mapLeft(parse(text), (reason) => ConfigError.InvalidData([name], reason)))
  )
