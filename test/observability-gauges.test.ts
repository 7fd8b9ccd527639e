/**
 * The gauges and the end of an outage that does not reconnect
 * (docs/observability.md): the receive-buffer and send-queue gauges follow
 * the client's figures and go back to 0 when it closes; an outage the client
 * gives up on ends its span with status ERROR and counts it `Failed`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Schedule, Scope } from "effect"
import * as JetSocket from "../src/JetSocket.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"
import { makeSdk, points } from "./observability-sdk.js"

const until = (predicate: () => boolean) => TestServer.waitUntil(predicate, 15_000).pipe(Effect.orDie)
/** Repeats `check` (each run flushes the metrics through `stats`) until it holds: at most 500 times, 10 ms apart. */
const eventually = (check: Effect.Effect<boolean>) =>
  check.pipe(Effect.repeat({ until: (ok) => ok, schedule: Schedule.intersect(Schedule.spaced("10 millis"), Schedule.recurs(500)) }))

describe("gauges", () => {
  it.scopedLive("buffer and send-queue gauges follow the client, and return to 0 when it closes", () => {
    const { layer, exported } = makeSdk()
    const labels = { "jetsocket.name": "gauges" }
    const value = (name: string) =>
      Effect.map(exported.metrics, (metrics) => points(metrics, name, labels).reduce((sum, point) => sum + (point.value as number), 0))
    return Effect.gen(function*() {
      const server = yield* TestServer.make({
        handler: (connection) => {
          for (let i = 0; i < 5; i++) connection.send({ i })
        }
      })
      const scope = yield* Scope.make()
      const ws = yield* JetSocket.connect<unknown>(server.url, { name: "gauges", heartbeat: false, buffer: 10, reconnect: { base: "1 hour" } }).pipe(
        Scope.extend(scope)
      )
      // Nobody reads: the five messages wait in the receive buffer.
      yield* eventually(Effect.map(ws.stats, (stats) => stats.bufferSize === 5))
      expect(yield* value("jetsocket_buffer_messages")).toBe(5)
      expect(yield* value("jetsocket_buffer_capacity")).toBe(10)
      expect(yield* value("jetsocket_send_queue_messages")).toBe(0)
      // Down (the next attempt an hour away): sends are queued.
      yield* server.stop
      yield* eventually(Effect.map(ws.state, (state) => state === "BackingOff"))
      for (let i = 0; i < 3; i++) yield* ws.send({ queued: i })
      yield* ws.stats
      expect(yield* value("jetsocket_send_queue_messages")).toBe(3)
      expect(yield* value("jetsocket_buffer_messages")).toBe(5)
      yield* Scope.close(scope, Exit.void)
      expect(yield* value("jetsocket_buffer_messages")).toBe(0)
      expect(yield* value("jetsocket_buffer_capacity")).toBe(0)
      expect(yield* value("jetsocket_send_queue_messages")).toBe(0)
    }).pipe(Effect.provide(NodeTransport.layer), Effect.provide(layer))
  }, 30_000)
})

describe("an outage the client gives up on", () => {
  it.scopedLive("ends its span with status ERROR and outcome failed, and counts the client Failed", () => {
    const { layer, exported } = makeSdk()
    return Effect.gen(function*() {
      // Accepted once, then 401: fatal, the client fails after one attempt.
      const server = yield* TestServer.make({ upgrade: (request) => (request.index === 0 ? "accept" : { status: 401 }) })
      const scope = yield* Scope.make()
      const ws = yield* JetSocket.connect<unknown>(server.url, { name: "gives-up", heartbeat: false, reconnect: { base: "10 millis", jitter: false } }).pipe(
        Scope.extend(scope)
      )
      server.dropAll()
      yield* until(() => server.upgradeCount() === 2)
      yield* eventually(Effect.map(ws.state, (state) => state === "Failed"))
      const metrics = yield* exported.metrics
      const failed = points(metrics, "jetsocket_connections", { "jetsocket.name": "gives-up", "jetsocket.state": "Failed" })
      expect(failed.map((point) => point.value)).toEqual([1])
      yield* Scope.close(scope, Exit.void)
      const outage = exported.spans().find((span) => span.name === "jetsocket.outage")!
      expect(outage.attributes).toMatchObject({ "jetsocket.outcome": "failed", "jetsocket.attempts": 1, "jetsocket.close.code": 1006 })
      expect(outage.attributes["jetsocket.downtime_ms"]).toBeUndefined()
      expect(outage.status.code).toBe(2) // ERROR
      // The error that ended it is recorded as the span's exception (its message names the URL redacted).
      expect(outage.events.map((event) => event.name)).toEqual(["jetsocket.disconnected", "jetsocket.backing_off", "jetsocket.failed", "exception"])
      expect(outage.events[3]!.attributes?.["exception.type"]).toBe("ConnectionRefusedError")
      const refused = exported.spans().filter((span) => span.name === "jetsocket.connect")[1]!
      expect(refused.parentSpanContext?.spanId).toBe(outage.spanContext().spanId)
      expect(refused.attributes).toMatchObject({ "http.response.status_code": 401, "error.type": "ConnectionRefusedError" })
    }).pipe(Effect.provide(NodeTransport.layer), Effect.provide(layer))
  }, 30_000)
})
