/**
 * Telemetry end to end (docs/observability.md): a client through connect, a
 * drop and a reconnect against a real TestServer, with `@effect/opentelemetry`'s
 * SDK layer and in-memory exporters; what the exporters received is checked
 * span by span (parents, attributes, events) and metric by metric.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope, Tracer } from "effect"
import * as JetSocket from "../src/JetSocket.js"
import type { JetSocketEvent } from "../src/JetSocketEvent.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"
import { recordEvents } from "./fixtures/helpers.js"
import { makeSdk, points } from "./observability-sdk.js"

const until = (predicate: () => boolean) => TestServer.waitUntil(predicate, 15_000).pipe(Effect.orDie)
const fast = { base: 10, cap: 20, jitter: false } as const

describe("telemetry through a drop and a reconnect", () => {
  it.scopedLive("spans (parents, attributes, events) and metric values reach the exporters", () => {
    const { layer, exported } = makeSdk()
    return Effect.gen(function*() {
      // The first upgrade is accepted; after the drop the first attempt is refused (503), the next accepted.
      const server = yield* TestServer.make({
        handler: TestServer.echo,
        upgrade: (request) => (request.index === 1 ? { status: 503 } : "accept")
      })
      const url = `ws://127.0.0.1:${server.port}/feed?room=7`
      const name = "e2e-feed"
      const labels = { "jetsocket.name": name, "server.address": "127.0.0.1", "server.port": String(server.port), "url.path": "/feed" }
      const scope = yield* Scope.make()
      const events: Array<JetSocketEvent> = yield* Effect.gen(function*() {
        const ws = yield* JetSocket.connect<unknown>(url, { name, reconnect: fast, heartbeat: false })
        const events = yield* recordEvents(ws)
        yield* ws.send({ n: 1 })
        expect(yield* ws.recv()).toEqual({ n: 1 })
        server.dropAll()
        yield* until(() => events.some((event) => event._tag === "Reconnected"))
        yield* ws.send({ n: 2 })
        expect(yield* ws.recv()).toEqual({ n: 2 })
        yield* ws.stats // flushes the metrics
        // While up: the state gauge counts this client as Connected, and in no other state.
        const metrics = yield* exported.metrics
        const connections = points(metrics, "jetsocket_connections", labels)
        expect(connections.map((p) => [p.attributes["jetsocket.state"], p.value]).filter(([, v]) => v !== 0)).toEqual([["Connected", 1]])
        expect(points(metrics, "jetsocket_outages_total", labels).map((p) => p.value)).toEqual([1])
        expect(points(metrics, "jetsocket_reconnects_total", labels).map((p) => p.value)).toEqual([1])
        expect(points(metrics, "jetsocket_messages_sent_total", labels).map((p) => p.value)).toEqual([2])
        expect(points(metrics, "jetsocket_messages_received_total", labels).map((p) => p.value)).toEqual([2])
        const outage = points(metrics, "jetsocket_outage_duration_ms", labels)
        expect(outage.map((p) => (p.value as { count: number }).count)).toEqual([1])
        return events
      }).pipe(Scope.extend(scope), Effect.withSpan("app"))
      yield* Scope.close(scope, Exit.void)
      // Closed: counted in no state.
      const after = yield* exported.metrics
      expect(points(after, "jetsocket_connections", labels).every((p) => p.value === 0)).toBe(true)

      const spans = exported.spans()
      const app = spans.find((span) => span.name === "app")!
      const outages = spans.filter((span) => span.name === "jetsocket.outage")
      const attempts = spans.filter((span) => span.name === "jetsocket.connect")
      expect(outages).toHaveLength(1)
      expect(attempts).toHaveLength(3)
      const outage = outages[0]!
      const [first, refused, accepted] = attempts
      const parentOf = (span: typeof app) => span.parentSpanContext?.spanId
      // The first attempt and the outage are children of the span the client was made in; the
      // outage's attempts are the outage's children.
      expect(parentOf(first!)).toBe(app.spanContext().spanId)
      expect(parentOf(outage)).toBe(app.spanContext().spanId)
      expect(parentOf(refused!)).toBe(outage.spanContext().spanId)
      expect(parentOf(accepted!)).toBe(outage.spanContext().spanId)

      expect(first!.attributes).toMatchObject({
        "url.full": "ws://127.0.0.1:" + server.port + "/feed?room=",
        "server.address": "127.0.0.1",
        "server.port": server.port,
        "url.path": "/feed",
        "jetsocket.name": name,
        "jetsocket.attempt": 1,
        "jetsocket.outcome": "connected"
      })
      expect(refused!.attributes).toMatchObject({
        "jetsocket.attempt": 1,
        "jetsocket.outcome": "failed",
        "error.type": "ConnectionRefusedError",
        "http.response.status_code": 503
      })
      expect(refused!.status.code).toBe(2) // ERROR
      expect(accepted!.attributes).toMatchObject({ "jetsocket.attempt": 2, "jetsocket.outcome": "connected" })

      const reconnected = events.find((event) => event._tag === "Reconnected")!
      expect(reconnected._tag === "Reconnected" && reconnected.attempts).toBe(2)
      expect(outage.attributes).toMatchObject({
        "jetsocket.close.code": 1006,
        "jetsocket.outcome": "reconnected",
        "jetsocket.attempts": 2,
        "url.path": "/feed",
        "jetsocket.name": name
      })
      const downtime = outage.attributes["jetsocket.downtime_ms"] as number
      expect(downtime).toBeGreaterThanOrEqual(0)
      // The span lasts the outage: from the drop to the reconnection.
      const durationMs = outage.duration[0] * 1e3 + outage.duration[1] / 1e6
      expect(durationMs).toBeGreaterThanOrEqual(downtime - 1)
      expect(outage.events.map((event) => event.name)).toEqual([
        "jetsocket.disconnected",
        "jetsocket.backing_off",
        "jetsocket.backing_off",
        "jetsocket.reconnected"
      ])
      expect(outage.events[0]!.attributes).toMatchObject({ "jetsocket.close.code": 1006 })
      // The connection flapped (up less than `resetAfter`): the schedule steps on before each attempt.
      expect(outage.events[1]!.attributes).toMatchObject({ "jetsocket.attempt": 1, "jetsocket.delay_ms": 10 })
      expect(outage.events[2]!.attributes).toMatchObject({ "jetsocket.attempt": 2, "jetsocket.delay_ms": 20 })
      expect(outage.events[3]!.attributes).toMatchObject({ "jetsocket.attempts": 2, "jetsocket.downtime_ms": downtime })
      // Nothing per message: the only spans are the app's, the attempts and the outage.
      expect(new Set(spans.map((span) => span.name))).toEqual(new Set(["app", "jetsocket.connect", "jetsocket.outage"]))
    }).pipe(Effect.provide(NodeTransport.layer), Effect.provide(layer))
  }, 30_000)

  it.scopedLive("a tracer that throws on the outage span does not break the client: it reconnects", () =>
    Effect.gen(function*() {
      const native = yield* Effect.tracer
      let thrown = 0
      const throwing = Tracer.make({
        span: (name, ...rest) => {
          if (name === "jetsocket.outage") {
            thrown++
            throw new Error("tracer bug")
          }
          return native.span(name, ...rest)
        },
        context: (f) => f()
      })
      yield* Effect.gen(function*() {
        const server = yield* TestServer.make({ handler: TestServer.echo })
        const ws = yield* JetSocket.connect<unknown>(server.url, { reconnect: fast, heartbeat: false })
        const events = yield* recordEvents(ws)
        server.dropAll()
        yield* until(() => events.some((event) => event._tag === "Reconnected"))
        expect(thrown).toBe(1)
        expect(yield* ws.state).toBe("Connected")
      }).pipe(Effect.withTracer(throwing))
    }).pipe(Effect.provide(NodeTransport.layer)), 30_000)
})
