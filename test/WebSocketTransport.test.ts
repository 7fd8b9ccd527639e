import * as NodeSocket from "@effect/platform-node/NodeSocket"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Layer, Stream, TestClock } from "effect"
import * as WS from "ws"
import * as Transport from "../src/Transport.js"
import { ioTurns, recordEvents } from "./fixtures/helpers.js"
import { wsServer } from "./fixtures/wsServer.js"
import * as JetSocket from "../src/JetSocket.js"
import * as TestServer from "../src/TestServer.js"
import * as WebSocketTransport from "../src/WebSocketTransport.js"

// The portable transport on Node: @effect/platform-node supplies the
// WebSocket constructor (ws on Node 20), exactly as a browser supplies its own.
const PortableTransport = WebSocketTransport.layerConstructor.pipe(Layer.provide(NodeSocket.layerWebSocketConstructor))

/** Echo, but drop the TCP connection when asked to. */
const echoOrDrop: TestServer.Handler = (connection) =>
  connection.onMessage((data) => (data === "drop" ? connection.drop() : connection.send(data)))

describe("WebSocketTransport (portable)", () => {
  it.scopedLive("round trips text, JSON and binary", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      const ws = yield* JetSocket.connect(server.url, { heartbeat: false })
      yield* ws.send({ hello: "browser" })
      expect(yield* ws.recv({ timeout: "5 seconds" })).toEqual({ hello: "browser" })
      yield* ws.sendBinary(new Uint8Array([1, 2, 3, 255]))
      const binary = yield* ws.recv({ timeout: "5 seconds" })
      expect(binary).toBeInstanceOf(Uint8Array)
      expect([...(binary as Uint8Array)]).toEqual([1, 2, 3, 255])
    }).pipe(Effect.provide(PortableTransport)))

  it.scopedLive("reconnects after the server drops the connection and keeps messages flowing", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: echoOrDrop })
      const ws = yield* JetSocket.connect(server.url, { heartbeat: false, reconnect: { base: "20 millis", jitter: false } })
      yield* ws.sendText("drop")
      yield* server.waitUntil(() => server.connectionCount() === 2)
      yield* ws.send({ after: "reconnect" })
      expect(yield* ws.recv({ timeout: "5 seconds" })).toEqual({ after: "reconnect" })
      expect((yield* ws.stats).reconnects).toBe(1)
    }).pipe(Effect.provide(PortableTransport)))

  it.scopedLive("a refused connection is a typed ConnectionRefusedError that says the status is hidden", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ upgrade: TestServer.refuse(401) })
      const error = yield* Effect.flip(JetSocket.connect(server.url, { reconnect: false, heartbeat: false }))
      expect(error._tag).toBe("ConnectionRefusedError")
      if (error._tag !== "ConnectionRefusedError") return
      expect(error.status).toBeUndefined()
      expect(error.message).toContain("does not expose")
      expect(error.message).toContain(server.url)
    }).pipe(Effect.provide(PortableTransport)))

  it.scopedLive("an invalid URL fails at once with a fatal typed error", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(JetSocket.connect("http://127.0.0.1:1/", { heartbeat: false }))
      expect(error._tag).toBe("ConnectionRefusedError")
      expect(error.fatal).toBe(true)
    }).pipe(Effect.provide(PortableTransport)))

  it.scopedLive("enforces maxMessageSize with InvalidFrameError 1009", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.feed(["x".repeat(2048)]) })
      const ws = yield* JetSocket.connect(server.url, { heartbeat: false, reconnect: false, maxMessageSize: 1024, codec: "text" })
      const error = yield* Effect.flip(ws.recv({ timeout: "5 seconds" }))
      expect(error._tag).toBe("InvalidFrameError")
      if (error._tag === "InvalidFrameError") expect(error.closeCode).toBe(1009)
    }).pipe(Effect.provide(PortableTransport)))

  it.scopedLive("uses the application ping for the heartbeat, and detects a dead server with it", () =>
    Effect.gen(function*() {
      // Answers {op:"ping"} with {op:"pong"} until told to stop.
      let answering = true
      const server = yield* TestServer.make({
        handler: (connection) =>
          connection.onMessage((data) => {
            if (typeof data === "string" && data.includes("ping") && answering) connection.send({ op: "pong" })
          })
      })
      const ws = yield* JetSocket.connect(server.url, {
        heartbeat: {
          interval: "50 millis",
          timeout: "200 millis",
          payload: { op: "ping" },
          pongMatcher: (m) => (m as { op?: string }).op === "pong"
        },
        reconnect: { base: "20 millis", jitter: false }
      })
      // three application pongs matched: the heartbeat measures latency on the same connection
      const events = yield* recordEvents(ws)
      yield* TestServer.waitUntil(() => events.filter((e) => e._tag === "Pong").length >= 3, "10 seconds")
      const stats = yield* ws.stats
      expect(stats.lastLatency._tag).toBe("Some")
      expect(stats.reconnects).toBe(0)
      expect(server.connectionCount()).toBe(1)
      answering = false
      yield* server.waitUntil(() => server.connectionCount() >= 2, "5 seconds")
    }).pipe(Effect.provide(PortableTransport)))

  // TestClock: the heartbeat runs on the Effect Clock, so 10 virtual seconds (500 intervals) pass at
  // once; a heartbeat that ran would have pinged (a Ping event) and timed out (an Error, a reconnect).
  it.scoped("without ping frames or an application ping the heartbeat stays off (no spurious reconnects)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ autoPong: false })
      const ws = yield* JetSocket.connect(server.url, { heartbeat: { interval: "20 millis", timeout: "20 millis" } })
      const events = yield* recordEvents(ws)
      for (let i = 0; i < 10; i++) {
        yield* TestClock.adjust("1 second")
        yield* ioTurns(3)
      }
      expect(events.map((e) => e._tag)).toEqual([])
      expect(server.connectionCount()).toBe(1)
      expect(yield* ws.state).toBe("Connected")
    }).pipe(Effect.provide(PortableTransport)))
})

describe("WebSocketTransport: aborting a handshake", () => {
  it.scopedLive("close() while the handshake hangs is clean: no uncaught error, no socket left", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ upgrade: TestServer.hang })
      const ws = yield* JetSocket.make(server.url, { heartbeat: false })
      yield* server.waitUntil(() => server.upgradeCount() === 1)
      yield* ws.close()
      expect(yield* ws.state).toBe("Closed")
      const error = yield* Effect.flip(ws.ready)
      expect(error._tag).toBe("InvalidStateError")
    }).pipe(Effect.provide(PortableTransport)))

  it.scopedLive("a connect timeout aborts the handshake with ConnectionTimeoutError (the transport's own timer)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ upgrade: TestServer.hang })
      const started = Date.now()
      const error = yield* Effect.flip(JetSocket.connect(server.url, { heartbeat: false, reconnect: false, connectTimeout: "100 millis" }))
      // the transport's own timer (it enforces connectTimeout: the client races no fiber against it)
      expect(error).toMatchObject({ _tag: "ConnectionTimeoutError", operation: "connect", url: server.url })
      expect(Date.now() - started).toBeGreaterThanOrEqual(90)
    }).pipe(Effect.provide(PortableTransport)))
})

describe("WebSocketTransport: close codes", () => {
  // Deno reports a dropped TCP connection as close code 0; some platforms give no code at all.
  for (const [label, reported] of [["0", 0], ["no code", undefined]] as const) {
    it.scopedLive(`a platform close with ${label} is reported as 1006, not clean (RFC 6455 §7.1.5)`, () =>
      Effect.gen(function*() {
        const server = yield* wsServer()
        // A real ws socket whose close events say `code: ${label}`, as such a platform's would.
        const construct = (url: string, protocols?: string | Array<string>): globalThis.WebSocket => {
          const socket = new WS.WebSocket(url, protocols)
          return new Proxy(socket, {
            set(target, property, value) {
              if (property === "onclose" && typeof value === "function") {
                target.onclose = (event) => value({ code: reported, reason: "", wasClean: event.wasClean, type: "close" })
                return true
              }
              return Reflect.set(target, property, value)
            },
            get(target, property) {
              const value = Reflect.get(target, property)
              return typeof value === "function" ? value.bind(target) : value
            }
          }) as unknown as globalThis.WebSocket
        }
        const transport = WebSocketTransport.make(construct)
        const ws = yield* JetSocket.connect(server.url, { heartbeat: false, reconnect: false }).pipe(
          Effect.provideService(Transport.Transport, transport)
        )
        const events = yield* ws.subscribeEvents
        const disconnected = yield* Effect.fork(
          events.pipe(Stream.filter((e) => e._tag === "Disconnected"), Stream.take(1), Stream.runCollect)
        )
        yield* Effect.sync(() => server.sockets[0]!.terminate())
        const error = yield* Stream.runDrain(ws.messages).pipe(Effect.timeout("5 seconds"), Effect.flip)
        expect(error).toMatchObject({ _tag: "ConnectionClosedError", code: 1006, wasClean: false })
        const [event] = Chunk.toReadonlyArray(yield* Fiber.join(disconnected))
        expect(event).toMatchObject({ _tag: "Disconnected", code: 1006 })
      }))
  }
})
