/**
 * The client against a plain `ws` WebSocketServer (not our TestServer), so
 * that nothing in our own test kit can hide a protocol mistake.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Stream } from "effect"
import * as net from "node:net"
import * as JetSocket from "../src/JetSocket.js"
import * as NodeTransport from "../src/NodeTransport.js"
import { waitUntil } from "../src/TestServer.js"
import { wsServer } from "./fixtures/wsServer.js"

const sizes = [0, 125, 126, 65535, 65536, 1024 * 1024] as const

const until = (predicate: () => boolean, timeoutMs = 10_000) =>
  waitUntil(predicate, timeoutMs).pipe(Effect.orDie)

const live = <A, E>(name: string, body: () => Effect.Effect<A, E, any>) =>
  it.scopedLive(name, () => body().pipe(Effect.provide(NodeTransport.layer)), 60_000)

describe("client against an independent ws WebSocketServer", () => {
  live("text, binary and JSON round trips at 0, 125, 126, 65535, 65536 bytes and 1 MiB", () =>
    Effect.gen(function*() {
      const server = yield* wsServer()
      const text = yield* JetSocket.connect<string>(server.url, { codec: "text" })
      const json = yield* JetSocket.connect(server.url)
      for (const size of sizes) {
        const payload = "t".repeat(size)
        yield* text.sendText(payload)
        expect((yield* text.recv({ timeout: "10 seconds" })) === payload).toBe(true)
        const bytes = new Uint8Array(size).map((_, i) => (i * 13) & 0xff)
        yield* json.sendBinary(bytes)
        const echoed = (yield* json.recv({ timeout: "10 seconds" })) as Uint8Array
        expect(echoed.byteLength).toBe(size)
        expect(Buffer.compare(Buffer.from(echoed), Buffer.from(bytes))).toBe(0)
        const message = { size, payload }
        yield* json.send(message)
        expect(yield* json.recv({ timeout: "10 seconds" })).toEqual(message)
      }
    }))

  live("round trips with permessage-deflate negotiated by the server", () =>
    Effect.gen(function*() {
      const server = yield* wsServer({ perMessageDeflate: true })
      const ws = yield* JetSocket.connect(server.url, { compression: true })
      yield* until(() => server.sockets.length === 1)
      expect(server.sockets[0]!.extensions).toContain("permessage-deflate")
      for (const size of sizes) {
        const message = { payload: "d".repeat(size) }
        yield* ws.send(message)
        expect(yield* ws.recv({ timeout: "10 seconds" })).toEqual(message)
      }
    }))

  live("headers and subprotocols reach the server", () =>
    Effect.gen(function*() {
      const server = yield* wsServer({ handleProtocols: (offered) => offered.has("b") ? "b" : false })
      const ws = yield* JetSocket.make(server.url, { headers: { "x-api-key": "k1" }, protocols: ["a", "b"] })
      const events = yield* ws.subscribeEvents
      const connected = yield* Effect.fork(events.pipe(Stream.filter((e) => e._tag === "Connected"), Stream.take(1), Stream.runCollect))
      yield* ws.ready
      expect(server.requests[0]!.headers["x-api-key"]).toBe("k1")
      expect(server.sockets[0]!.protocol).toBe("b")
      const [event] = Chunk.toReadonlyArray(yield* Fiber.join(connected))
      expect(event).toMatchObject({ _tag: "Connected", protocol: "b", url: server.url })
    }))

  live("401 from verifyClient → ConnectionRefusedError { status 401, fatal, headers }", () =>
    Effect.gen(function*() {
      const server = yield* wsServer({
        verifyClient: (_, done) => done(false, 401, "Unauthorized", { "www-authenticate": "Basic" })
      })
      const error = yield* Effect.flip(JetSocket.connect(server.url))
      expect(error).toMatchObject({ _tag: "ConnectionRefusedError", status: 401, fatal: true })
      expect(error._tag === "ConnectionRefusedError" && error.headers?.["www-authenticate"]).toBe("Basic")
      expect(error._tag === "ConnectionRefusedError" && error.body).toContain("Unauthorized")
    }))

  live("server close with a code → ConnectionClosedError { code, reason }", () =>
    Effect.gen(function*() {
      const server = yield* wsServer({ onConnection: (socket) => setTimeout(() => socket.close(4003, "kicked"), 20) })
      const ws = yield* JetSocket.connect(server.url, { reconnect: false })
      const error = yield* Effect.flip(ws.messages.pipe(Stream.runDrain))
      expect(error).toMatchObject({ _tag: "ConnectionClosedError", code: 4003, reason: "kicked", wasClean: true })
    }))

  live("too big → InvalidFrameError 1009; non-JSON → InvalidMessageError and the next message arrives", () =>
    Effect.gen(function*() {
      const server = yield* wsServer({
        onConnection: (socket) => socket.on("message", (data) => socket.send(data.toString() === "big" ? "x".repeat(5000) : data.toString()))
      })
      const ws = yield* JetSocket.connect(server.url, { maxMessageSize: 4096, reconnect: false })
      yield* ws.sendText("oops, not json")
      expect(yield* Effect.flip(ws.recv({ timeout: "5 seconds" }))).toMatchObject({ _tag: "InvalidMessageError" })
      yield* ws.send({ fine: true })
      expect(yield* ws.recv({ timeout: "5 seconds" })).toEqual({ fine: true })
      yield* ws.sendText("big")
      expect(yield* Effect.flip(ws.recv({ timeout: "5 seconds" }))).toMatchObject({ _tag: "InvalidFrameError", closeCode: 1009 })
      yield* until(() => server.closes.some((c) => c.code === 1009))
    }))

  live("reconnects after a TCP drop, and closing the scope sends 1000", () =>
    Effect.gen(function*() {
      const server = yield* wsServer()
      yield* Effect.scoped(Effect.gen(function*() {
        const ws = yield* JetSocket.connect(server.url, { reconnect: { base: "10 millis", jitter: false } })
        yield* until(() => server.sockets.length === 1)
        server.sockets[0]!.terminate()
        yield* until(() => server.sockets.length === 2)
        yield* ws.send({ again: true })
        expect(yield* ws.recv({ timeout: "5 seconds" })).toEqual({ again: true })
      }))
      yield* until(() => server.closes.length === 2)
      expect(server.closes.map((c) => c.code)).toEqual([1006, 1000])
    }))

  live("a raw TCP server that accepts and never answers → ConnectionTimeoutError { operation: connect }", () =>
    Effect.gen(function*() {
      const sockets = new Set<net.Socket>()
      const tcp = yield* Effect.acquireRelease(
        Effect.promise(() =>
          new Promise<net.Server>((resolve) => {
            const server = net.createServer((socket) => {
              sockets.add(socket)
              socket.on("error", () => {})
            })
            server.listen(0, "127.0.0.1", () => resolve(server))
          })
        ),
        (server) =>
          Effect.promise(() =>
            new Promise<void>((resolve) => {
              for (const socket of sockets) socket.destroy()
              server.close(() => resolve())
            })
          )
      )
      const url = `ws://127.0.0.1:${(tcp.address() as net.AddressInfo).port}`
      const error = yield* Effect.flip(JetSocket.connect(url, { connectTimeout: "250 millis", reconnect: false }))
      expect(error).toMatchObject({ _tag: "ConnectionTimeoutError", operation: "connect", url })
      expect(error.message).toContain("250")
      expect(sockets.size).toBe(1)
    }))

  live("recv timeout, send after close, and the state/event sequence", () =>
    Effect.gen(function*() {
      const server = yield* wsServer({ onConnection: () => {} })
      const ws = yield* JetSocket.make(server.url)
      const pull = yield* Stream.toPull(ws.stateChanges)
      const events = yield* ws.subscribeEvents
      const collected = yield* Effect.fork(Stream.runCollect(events))
      const states = [...Chunk.toReadonlyArray(yield* pull)]
      yield* ws.ready
      expect(yield* Effect.flip(ws.recv({ timeout: "100 millis" }))).toMatchObject({
        _tag: "ConnectionTimeoutError",
        operation: "recv"
      })
      yield* ws.close()
      while (!states.includes("Closed")) states.push(...Chunk.toReadonlyArray(yield* pull))
      expect(states.filter((s, i) => s !== "Idle" && states[i - 1] !== s)).toEqual(["Connecting", "Connected", "Disconnecting", "Closed"])
      expect(Chunk.toReadonlyArray(yield* Fiber.join(collected)).map((e) => e._tag)).toEqual(["Connecting", "Connected", "Closed"])
      expect(yield* Effect.flip(ws.send({ late: true }))).toMatchObject({ _tag: "InvalidStateError", operation: "send" })
      yield* until(() => server.closes.length === 1)
      expect(server.closes[0]!.code).toBe(1000)
    }))
})
