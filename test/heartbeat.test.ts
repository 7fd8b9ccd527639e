/**
 * Heartbeat, live: ping frames and application pings, dead-server detection,
 * stall tolerance, latency figures.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, Option, TestClock } from "effect"
import type * as net from "node:net"
import { WebSocketServer } from "ws"
import * as JetSocket from "../src/JetSocket.js"
import type { JetSocketEvent } from "../src/JetSocketEvent.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"
import * as Transport from "../src/Transport.js"
import { recordEvents } from "./fixtures/helpers.js"

const live = <A, E>(name: string, body: () => Effect.Effect<A, E, any>) =>
  it.scopedLive(name, () => body().pipe(Effect.provide(NodeTransport.layer)), 60_000)

const until = (predicate: () => boolean, timeoutMs = 15_000) =>
  TestServer.waitUntil(predicate, timeoutMs).pipe(Effect.orDie)

const busyWait = (ms: number) => {
  const end = Date.now() + ms
  while (Date.now() < end) {
    // block the event loop
  }
}

const isPongTimeout = (e: JetSocketEvent) =>
  e._tag === "Error" && e.error._tag === "ConnectionTimeoutError" && e.error.operation === "pong" && !e.fatal

describe("heartbeat with ping frames", () => {
  live("pongs give latency (last, average, histogram) and Ping/Pong events", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const ws = yield* JetSocket.connect(server.url, { heartbeat: { interval: 50, timeout: 2000 } })
      const events = yield* recordEvents(ws)
      yield* until(() => events.filter((e) => e._tag === "Pong").length >= 3)
      expect(events.filter((e) => e._tag === "Ping").length).toBeGreaterThanOrEqual(3)
      expect(server.connectionCount()).toBe(1)
      // Closed: no pong comes after it, so the stats and the events describe the same pongs.
      yield* ws.close()
      yield* until(() => events.some((e) => e._tag === "Closed"))
      const pongEvents = events.filter((e): e is Extract<JetSocketEvent, { _tag: "Pong" }> => e._tag === "Pong")
      const latencies = pongEvents.map((e) => Duration.toMillis(e.latency))
      // a real round trip over TCP takes time (the clock is in nanoseconds)
      expect(latencies.every((ms) => ms > 0)).toBe(true)
      const stats = yield* ws.stats
      expect(Option.map(stats.lastLatency, Duration.toMillis)).toEqual(Option.some(latencies[latencies.length - 1]))
      expect(Option.map(yield* ws.latency, Duration.toMillis)).toEqual(Option.some(latencies[latencies.length - 1]))
      const average = latencies.reduce((a, b) => a + b, 0) / latencies.length
      expect(Duration.toMillis(Option.getOrThrow(stats.averageLatency))).toBeCloseTo(average, 3)
      // Each round trip is counted once, in its own bucket: the buckets add up to exactly the pongs seen.
      expect(stats.latencyHistogram.reduce((n, b) => n + b.count, 0)).toBe(pongEvents.length)
    }))

  live("a server that stops answering pings is detected (pong timeout) and the connection replaced", () =>
    Effect.gen(function*() {
      const interval = 400
      const timeout = 300
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const ws = yield* JetSocket.connect<string>(server.url, {
        codec: "text",
        heartbeat: { interval, timeout },
        reconnect: { base: 20, jitter: false }
      })
      const events = yield* recordEvents(ws)
      const stoppedAt = Date.now()
      server.setAutoPong(false)
      let detectedAt = 0
      yield* until(() => {
        if (detectedAt === 0 && events.some(isPongTimeout)) detectedAt = Date.now()
        return detectedAt !== 0
      })
      const detection = detectedAt - stoppedAt
      // A figure only: the exact bound (detected at interval + timeout, not a millisecond earlier) is
      // proved under TestClock below; real time on a loaded machine decides nothing here.
      console.log(`[figure] dead server (no pongs) detected after ${detection} ms (interval ${interval} + timeout ${timeout})`)
      const error = events.find(isPongTimeout) as Extract<JetSocketEvent, { _tag: "Error" }>
      expect(error.error).toMatchObject({ operation: "pong" })
      server.setAutoPong(true)
      yield* until(() => events.some((e) => e._tag === "Reconnected"))
      expect(server.connectionCount()).toBe(2)
      yield* ws.sendText("after")
      expect(yield* ws.recv({ timeout: "10 seconds" })).toBe("after")
    }))

  live("blocking the event loop longer than the timeout while pongs arrive causes no reconnect", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const ws = yield* JetSocket.connect(server.url, { heartbeat: { interval: 150, timeout: 100 } })
      let blocked = 0
      const events = yield* recordEvents(ws, (e) => {
        // Right after a ping went out, freeze the process for 4× the timeout.
        if (e._tag === "Ping" && blocked < 3) {
          blocked++
          busyWait(400)
        }
      })
      yield* until(() => blocked === 3 && events.filter((e) => e._tag === "Pong").length >= 5)
      expect(events.some(isPongTimeout)).toBe(false)
      expect(events.some((e) => e._tag === "Disconnected")).toBe(false)
      expect(server.connectionCount()).toBe(1)
      expect(server.upgradeCount()).toBe(1)
      // The measured round trips include the stall.
      const latencies = events.flatMap((e) => (e._tag === "Pong" ? [Duration.toMillis(e.latency)] : []))
      expect(Math.max(...latencies)).toBeGreaterThanOrEqual(300)
    }))

  live("against an independent ws server with autoPong off: detected and replaced", () =>
    Effect.gen(function*() {
      let sockets = 0
      const wss = yield* Effect.acquireRelease(
        Effect.promise(() =>
          new Promise<WebSocketServer>((resolve) => {
            const server: WebSocketServer = new WebSocketServer({ host: "127.0.0.1", port: 0, autoPong: false })
            server.on("connection", (socket) => {
              sockets++
              // Only the second connection answers pings.
              if (sockets > 1) socket.on("ping", (data) => socket.pong(data))
            })
            server.on("listening", () => resolve(server))
          })
        ),
        (server) =>
          Effect.promise(() =>
            new Promise<void>((resolve) => {
              for (const c of server.clients) c.terminate()
              server.close(() => resolve())
            })
          )
      )
      const url = `ws://127.0.0.1:${(wss.address() as net.AddressInfo).port}`
      const ws = yield* JetSocket.connect(url, { heartbeat: { interval: 200, timeout: 200 }, reconnect: { base: 20, jitter: false } })
      const events = yield* recordEvents(ws)
      yield* until(() => events.some((e) => e._tag === "Reconnected"))
      expect(events.some(isPongTimeout)).toBe(true)
      yield* until(() => events.some((e) => e._tag === "Pong"))
      expect(sockets).toBe(2)
    }))
})

describe("heartbeat with an application ping", () => {
  const pingPong: TestServer.Handler = (connection) =>
    connection.onMessage((data) => {
      const message = JSON.parse(String(data))
      if (message.type === "ping") connection.send({ type: "pong" })
      else connection.send(message)
    })

  live("matched pongs are consumed, not delivered; latency measured", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: pingPong })
      const ws = yield* JetSocket.connect<{ type: string; n?: number }>(server.url, {
        heartbeat: { interval: 50, timeout: 2000, payload: { type: "ping" }, pongMatcher: (m) => (m as any).type === "pong" }
      })
      const events = yield* recordEvents(ws)
      yield* until(() => events.filter((e) => e._tag === "Pong").length >= 3)
      yield* ws.send({ type: "data", n: 1 })
      yield* ws.send({ type: "data", n: 2 })
      expect(yield* ws.recv({ timeout: "10 seconds" })).toEqual({ type: "data", n: 1 })
      expect(yield* ws.recv({ timeout: "10 seconds" })).toEqual({ type: "data", n: 2 })
      expect(server.receivedJson().filter((m: any) => m.type === "ping").length).toBeGreaterThanOrEqual(3)
      expect(Option.isSome((yield* ws.stats).lastLatency)).toBe(true)
      expect((yield* ws.stats).bufferSize).toBe(0)
    }))

  live("no matching pong → ConnectionTimeoutError { operation: pong } → reconnect", () =>
    Effect.gen(function*() {
      let answer = false
      const server = yield* TestServer.make({
        handler: (connection) =>
          connection.onMessage(() => {
            if (answer) connection.send({ type: "pong" })
          })
      })
      const ws = yield* JetSocket.connect(server.url, {
        heartbeat: { interval: 100, timeout: 150, payload: { type: "ping" }, pongMatcher: (m) => (m as any).type === "pong" },
        reconnect: { base: 20, jitter: false }
      })
      const events = yield* recordEvents(ws)
      yield* until(() => events.some(isPongTimeout))
      answer = true
      yield* until(() => events.some((e) => e._tag === "Reconnected"))
      yield* until(() => events.some((e) => e._tag === "Pong"))
      expect(server.connectionCount()).toBe(2)
    }))
})

describe("heartbeat under TestClock (deterministic)", () => {
  /** A transport whose sockets answer ping frames while `answering`. */
  const pinged = () => {
    const state = { attempts: 0, pings: 0, answering: true }
    const transport = Transport.make("pinged", (request) =>
      Effect.sync(() => {
        state.attempts++
        let open = true
        const connection: Transport.Connection = {
          protocol: "",
          extensions: "",
          canPing: true,
          isOpen: () => open,
          send: (_data, onWritten) => onWritten?.(),
          ping: () => {
            state.pings++
            if (state.answering) queueMicrotask(() => request.handlers.onPong(new Uint8Array()))
          },
          pause: () => {},
          resume: () => {},
          close: () => Effect.sync(() => (open = false, true))
        }
        return connection
      }))
    return { layer: Layer.succeed(Transport.Transport, transport), state }
  }
  // The client lets one real I/O turn pass before judging a missing pong.
  const turn = Effect.zipRight(Effect.promise(() => new Promise<void>((r) => setTimeout(r, 5))), Effect.repeatN(Effect.yieldNow(), 20))

  it.scoped("pings every interval; a missing pong is detected exactly at interval + timeout, then replaced", () =>
    Effect.gen(function*() {
      const fake = pinged()
      const ws = yield* JetSocket.connect("ws://pinged", {
        heartbeat: { interval: 1000, timeout: 500 },
        reconnect: { base: 10, jitter: false }
      }).pipe(Effect.provide(fake.layer))
      const events = yield* recordEvents(ws)
      yield* TestClock.adjust(999)
      yield* turn
      expect(fake.state.pings).toBe(0)
      yield* TestClock.adjust(1)
      yield* turn
      expect(fake.state.pings).toBe(1)
      expect(events.filter((e) => e._tag === "Pong")).toHaveLength(1)

      fake.state.answering = false
      yield* TestClock.adjust(1000)
      yield* turn
      expect(fake.state.pings).toBe(2)
      yield* TestClock.adjust(499)
      yield* turn
      expect(events.some(isPongTimeout)).toBe(false)
      expect(fake.state.attempts).toBe(1)
      yield* TestClock.adjust(1)
      yield* turn
      expect(events.some(isPongTimeout)).toBe(true)
      expect(events.some((e) => e._tag === "Disconnected")).toBe(true)
      fake.state.answering = true
      yield* TestClock.adjust(10)
      yield* turn
      expect(fake.state.attempts).toBe(2)
      expect(yield* ws.state).toBe("Connected")
      expect(events.filter((e) => e._tag === "Reconnected")).toHaveLength(1)
      // The heartbeat runs again on the new connection.
      yield* TestClock.adjust(1000)
      yield* turn
      expect(fake.state.pings).toBe(3)
    }))
})
