/**
 * The supervisor's control API: a tiny HTTP server on 127.0.0.1 (a free port, recorded in
 * cluster.json) through which other `dse` commands ask the supervisor of a running cluster to act.
 *
 *   GET  /processes       every process: name, kind, state, pid, address, restarts, lastExit
 *   POST /restart/:name   stop the process (SIGTERM) and start it again on the same port; answers
 *                         with its new status once it is ready (404: unknown name; 500: it did not start)
 *   POST /shutdown        stop the cluster as Ctrl-C would (202)
 *
 * Served with @effect/platform's HttpServer (Node); the client side uses its HttpClient (fetch).
 */
import { FetchHttpClient, HttpClient, HttpClientRequest, HttpRouter, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import type { Scope } from "effect"
import { Deferred, Duration, Effect } from "effect"
import * as http from "node:http"
import * as LaunchError from "./LaunchError"
import type { ProcessStatus, Supervisor } from "./Supervisor"

export interface ControlAddress {
  readonly host: string
  readonly port: number
}

/** Serves the control API of `supervisor` until the scope closes; `shutdown` is completed by POST /shutdown. */
export const serve = (
  supervisor: Supervisor,
  shutdown: Deferred.Deferred<void>
): Effect.Effect<ControlAddress, LaunchError.LaunchError, Scope.Scope> =>
  Effect.gen(function* () {
    const server = yield* NodeHttpServer.make(() => http.createServer(), { host: "127.0.0.1", port: 0 }).pipe(
      Effect.mapError((e) => LaunchError.fail(`cannot serve the control API: ${LaunchError.describe(e)}`))
    )
    const router = HttpRouter.empty.pipe(
      HttpRouter.get("/processes", Effect.sync(() => HttpServerResponse.unsafeJson(supervisor.statuses()))),
      HttpRouter.post(
        "/restart/:name",
        Effect.gen(function* () {
          const { name } = yield* HttpRouter.params
          if (name === undefined || supervisor.status(name) === undefined) {
            return HttpServerResponse.unsafeJson(
              { error: `no process named ${name}; processes: ${supervisor.statuses().map((s) => s.name).join(", ")}` },
              { status: 404 }
            )
          }
          return yield* supervisor.restart(name).pipe(
            Effect.map((status) => HttpServerResponse.unsafeJson(status)),
            Effect.catchAll((e) => Effect.succeed(HttpServerResponse.unsafeJson({ error: e.message }, { status: 500 })))
          )
        })
      ),
      HttpRouter.post(
        "/shutdown",
        Effect.as(Deferred.succeed(shutdown, undefined), HttpServerResponse.unsafeJson({ stopping: true }, { status: 202 }))
      )
    )
    yield* server.serve(router)
    const address = server.address
    if (address._tag !== "TcpAddress") return yield* LaunchError.fail("the control API is not on TCP")
    return { host: address.hostname, port: address.port }
  })

const request = <A>(
  control: ControlAddress,
  req: HttpClientRequest.HttpClientRequest,
  timeout: Duration.DurationInput
): Effect.Effect<{ readonly status: number; readonly body: A }, LaunchError.LaunchError> =>
  Effect.gen(function* () {
    const client = yield* HttpClient.HttpClient
    const response = yield* client.execute(req)
    const body = (yield* response.json) as A
    return { status: response.status, body }
  }).pipe(
    Effect.scoped,
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () => LaunchError.fail(`the supervisor's control API (${control.host}:${control.port}) did not answer within ${Duration.format(Duration.decode(timeout))}`)
    }),
    Effect.catchAll((e) =>
      e instanceof LaunchError.LaunchError
        ? Effect.fail(e)
        : Effect.fail(
            LaunchError.fail(
              `cannot reach the supervisor's control API at ${control.host}:${control.port} (${LaunchError.describe(e)}): is \`dse up\` still running?`
            )
          )
    ),
    Effect.provide(FetchHttpClient.layer)
  )

const url = (control: ControlAddress, path: string) => `http://${control.host}:${control.port}${path}`

/** Asks the supervisor to restart `name`; its status once it is ready again. */
export const restart = (control: ControlAddress, name: string): Effect.Effect<ProcessStatus, LaunchError.LaunchError> =>
  Effect.flatMap(
    request<ProcessStatus & { error?: string }>(control, HttpClientRequest.post(url(control, `/restart/${encodeURIComponent(name)}`)), "90 seconds"),
    ({ status, body }) => (status === 200 ? Effect.succeed(body) : Effect.fail(LaunchError.fail(body.error ?? `the supervisor answered ${status}`)))
  )

/** The supervisor's view of every process. */
export const processes = (control: ControlAddress): Effect.Effect<ReadonlyArray<ProcessStatus>, LaunchError.LaunchError> =>
  Effect.map(request<ReadonlyArray<ProcessStatus>>(control, HttpClientRequest.get(url(control, "/processes")), "5 seconds"), (r) => r.body)

/** Asks the supervisor to stop the cluster. */
export const shutdown = (control: ControlAddress): Effect.Effect<void, LaunchError.LaunchError> =>
  Effect.asVoid(request(control, HttpClientRequest.post(url(control, "/shutdown")), "5 seconds"))
