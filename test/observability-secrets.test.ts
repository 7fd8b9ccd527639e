/**
 * Telemetry carries no secret and a bounded set of labels
 * (docs/observability.md): a client given `ws://user:pass@…?token=…` goes
 * through a refused attempt, a connect, a drop and a reconnect; nothing the
 * exporters received (spans, their events and statuses, metric labels, log
 * records) nor any log line holds the password or the token. Then: which
 * labels a series has, for a client, a pool's and a multiplexer's.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Logger, LogLevel, Scope, Stream } from "effect"
import * as ConnectionPool from "../src/ConnectionPool.js"
import * as JetSocket from "../src/JetSocket.js"
import { isInvalidOptionsError } from "../src/JetSocketError.js"
import * as Multiplex from "../src/Multiplex.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"
import { makeSdk, points } from "./observability-sdk.js"

const until = (predicate: () => boolean) => TestServer.waitUntil(predicate, 15_000).pipe(Effect.orDie)
const fast = { base: 10, cap: 20, jitter: false } as const
const PASSWORD = "pa55w0rdSECRET"
const TOKEN = "t0kenSECRETvalue"

describe("no secret in telemetry", () => {
  it.scopedLive("neither the password nor the token reaches a span, a metric label, a log record or a log line", () => {
    const { layer, exported } = makeSdk()
    const lines: Array<string> = []
    const capture = Logger.map(Logger.logfmtLogger, (line) => void lines.push(line))
    return Effect.gen(function*() {
      const server = yield* TestServer.make({
        handler: TestServer.echo,
        upgrade: (request) => (request.index === 0 ? { status: 503, body: "busy" } : "accept")
      })
      const url = `ws://user:${PASSWORD}@127.0.0.1:${server.port}/path?token=${TOKEN}&v=2`
      const scope = yield* Scope.make()
      yield* Effect.gen(function*() {
        const ws = yield* JetSocket.make<unknown>(url, { name: "secrets", reconnect: fast, heartbeat: false })
        // What an application typically logs: every error the client reports, as a cause and as an object (its JSON).
        const events = yield* ws.subscribeEvents
        let reconnected = false
        yield* Effect.forkScoped(Stream.runForEach(events, (event) => {
          if (event._tag === "Reconnected") reconnected = true
          return event._tag === "Error"
            ? Effect.zipRight(Effect.logWarning("jetsocket error", Cause.fail(event.error)), Effect.logWarning(event.error))
            : Effect.logDebug(event._tag)
        }))
        yield* ws.ready
        yield* ws.send({ n: 1 })
        yield* ws.recv()
        server.dropAll()
        yield* until(() => reconnected)
        yield* ws.stats
      }).pipe(Scope.extend(scope), Effect.withSpan("app"))
      yield* Scope.close(scope, Exit.void)
      yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

      const spans = exported.spans().map((span) => ({
        name: span.name,
        attributes: span.attributes,
        events: span.events,
        status: span.status
      }))
      const metrics = yield* exported.metrics
      const series = metrics.scopeMetrics.flatMap((scope) => scope.metrics).map((metric) => ({
        name: metric.descriptor.name,
        points: metric.dataPoints.map((point) => point.attributes)
      }))
      const logs = exported.logs.getFinishedLogRecords().map((record) => ({ body: record.body, attributes: record.attributes }))
      const everything = JSON.stringify({ spans, series, logs, lines })
      expect(everything).not.toContain(PASSWORD)
      expect(everything).not.toContain(TOKEN)
      expect(everything).not.toContain("user:")
      // Not vacuous: each signal was exported, and names the URL as redacted.
      const redacted = `ws://127.0.0.1:${server.port}/path?token=&v=`
      expect(spans.filter((span) => span.name === "jetsocket.connect").length).toBe(3)
      expect(spans.some((span) => span.events.some((event) => event.name === "exception"))).toBe(true)
      expect(spans.some((span) => span.attributes["url.full"] === redacted)).toBe(true)
      expect(series.some((metric) => metric.name === "jetsocket_messages_sent_total")).toBe(true)
      expect(logs.length).toBeGreaterThan(0)
      expect(lines.some((line) => line.includes("Connection refused") && line.includes(redacted))).toBe(true)
      expect(lines.some((line) => line.includes("ConnectionRefusedError") && line.includes(JSON.stringify(redacted).slice(1, -1)))).toBe(true)
    }).pipe(
      Effect.provide(NodeTransport.layer),
      Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
      Logger.withMinimumLogLevel(LogLevel.All),
      Effect.provide(layer)
    )
  }, 30_000)
})

describe("bounded metric labels", () => {
  it.scopedLive("clients differing only in user info and query values share one series, labelled from a small set", () => {
    const { layer, exported } = makeSdk()
    return Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      for (const login of ["alice", "bob", "carol"]) {
        const ws = yield* JetSocket.connect<unknown>(`ws://${login}:pw-${login}@127.0.0.1:${server.port}/feed?session=${login}-${Math.random()}`, {
          name: "bounded",
          heartbeat: false
        })
        yield* ws.send({ login })
        yield* ws.stats
      }
      const metrics = yield* exported.metrics
      const sent = points(metrics, "jetsocket_messages_sent_total", { "jetsocket.name": "bounded" })
      expect(sent.map((point) => point.value)).toEqual([3])
      expect(Object.keys(sent[0]!.attributes).sort()).toEqual(["jetsocket.name", "server.address", "server.port", "url.path"])
      const connected = points(metrics, "jetsocket_connections", { "jetsocket.name": "bounded", "jetsocket.state": "Connected" })
      expect(connected.map((point) => point.value)).toEqual([3])
    }).pipe(Effect.provide(NodeTransport.layer), Effect.provide(layer))
  }, 30_000)

  it.scopedLive("a pool's and a multiplexer's clients carry jetsocket.owner", () => {
    const { layer, exported } = makeSdk()
    return Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const pool = yield* ConnectionPool.make({
        baseUrl: server.url,
        maxConnections: 1,
        connectOptions: { name: "owned-pool", heartbeat: false }
      })
      const pooled = yield* pool.acquire("/pooled")
      yield* pooled.send({ n: 1 })
      yield* pooled.stats
      const mux = yield* Multiplex.make(`ws://127.0.0.1:${server.port}/mux`, { name: "owned-mux", heartbeat: false, channelKey: "channel" })
      yield* mux.client.send({ channel: "a" })
      yield* mux.client.stats
      const metrics = yield* exported.metrics
      expect(points(metrics, "jetsocket_messages_sent_total", { "jetsocket.name": "owned-pool" }).map((p) => p.attributes["jetsocket.owner"]))
        .toEqual(["pool"])
      expect(points(metrics, "jetsocket_messages_sent_total", { "jetsocket.name": "owned-mux" }).map((p) => p.attributes["jetsocket.owner"]))
        .toEqual(["multiplexer"])
    }).pipe(Effect.provide(NodeTransport.layer), Effect.provide(layer))
  }, 30_000)

  it.effect("a bad name is an InvalidOptionsError naming the option", () =>
    Effect.gen(function*() {
      for (const name of ["", "x".repeat(65), 42]) {
        const exit = yield* Effect.exit(Effect.scoped(JetSocket.make("ws://127.0.0.1:1/", { name: name as string })))
        const defect = Exit.isFailure(exit) ? Cause.dieOption(exit.cause) : undefined
        const error = defect?._tag === "Some" ? defect.value : undefined
        expect(isInvalidOptionsError(error) && error.problems.map((problem) => problem.option)).toEqual(["name"])
      }
    }).pipe(Effect.provide(NodeTransport.layer)))
})
