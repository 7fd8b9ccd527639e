import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import type * as net from "node:net"
import type { ConnectionError, InvalidFrameError } from "../src/JetSocketError.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"
import * as Transport from "../src/Transport.js"
import { closedPort, ioTurns, tcpHandles } from "./fixtures/helpers.js"


const until = (predicate: () => boolean, timeoutMs = 10_000) =>
  TestServer.waitUntil(predicate, timeoutMs).pipe(Effect.orDie)

/** Opens a raw transport connection and records what its handlers see. */
const open = (url: string, overrides: Partial<Omit<Transport.ConnectRequest, "handlers" | "url">> = {}) =>
  Effect.gen(function*() {
    const transport = yield* Transport.Transport
    const seen = {
      messages: [] as Array<string | Uint8Array>,
      pongs: 0,
      closes: [] as Array<ConnectionError | InvalidFrameError>
    }
    const connection = yield* transport.connect({
      url,
      headers: {},
      protocols: [],
      compression: false,
      maxMessageSize: 64 * 1024 * 1024,
      connectTimeout: Duration.seconds(5),
      ...overrides,
      handlers: {
        onMessage: (data) => seen.messages.push(data),
        onPong: () => seen.pongs++,
        onClose: (error) => seen.closes.push(error)
      }
    })
    return { connection, seen }
  })

/** Open client TCP sockets of this process. */
const live = <A, E>(name: string, body: () => Effect.Effect<A, E, any>) =>
  it.scopedLive(name, () => body().pipe(Effect.provide(NodeTransport.layer)), 30_000)

describe("NodeTransport", () => {
  it("is a Transport named node, and the layer provides it", () => {
    expect(Transport.isTransport(NodeTransport.transport)).toBe(true)
    expect(NodeTransport.transport.name).toBe("node")
    expect(Layer.isLayer(NodeTransport.layer)).toBe(true)
  })

  live("text arrives as string, binary as Uint8Array; sends are confirmed written; ping → pong", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const { connection, seen } = yield* open(server.url)
      expect(connection.isOpen()).toBe(true)
      expect(connection.canPing).toBe(true)
      const written: Array<Error | undefined> = []
      connection.send("hello", (error) => written.push(error))
      connection.send(new Uint8Array([1, 2, 3]), (error) => written.push(error))
      yield* until(() => seen.messages.length === 2 && written.length === 2)
      expect(written.every((e) => e === undefined || e === null)).toBe(true)
      expect(seen.messages[0]).toBe("hello")
      expect(seen.messages[1]).toBeInstanceOf(Uint8Array)
      expect([...(seen.messages[1] as Uint8Array)]).toEqual([1, 2, 3])
      connection.ping()
      yield* until(() => seen.pongs === 1)
    }))

  live("headers, subprotocols and permessage-deflate reach the server and are negotiated", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo, perMessageDeflate: true })
      const { connection, seen } = yield* open(server.url, {
        headers: { authorization: "Bearer abc" },
        protocols: ["chat", "superchat"],
        compression: { threshold: 8 }
      })
      expect(connection.protocol).toBe("chat")
      expect(connection.extensions).toBe("permessage-deflate")
      expect(server.requestHeaders()[0]!["authorization"]).toBe("Bearer abc")
      connection.send("z".repeat(100_000))
      yield* until(() => seen.messages.length === 1)
      expect(seen.messages[0]).toBe("z".repeat(100_000))
      const plain = yield* open(server.url)
      expect(plain.connection.extensions).toBe("")
      expect(plain.connection.protocol).toBe("")
    }))

  live("pause stops reading until resume", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const { connection, seen } = yield* open(server.url)
      connection.pause()
      yield* until(() => server.connections().length === 1)
      const tcp = (server.connections()[0]!.socket as unknown as { _socket: net.Socket })._socket
      const written = tcp.bytesWritten
      server.broadcast("while paused")
      // the server has handed the frame to the kernel (loopback: it is in the client's receive
      // buffer); a few I/O turns later a reading socket would have delivered it
      yield* until(() => tcp.bytesWritten > written && tcp.writableLength === 0)
      yield* ioTurns(5)
      expect(seen.messages).toEqual([])
      connection.resume()
      yield* until(() => seen.messages.length === 1)
      expect(seen.messages).toEqual(["while paused"])
    }))

  live("close(code, reason) does the handshake; without an answer it destroys the socket after the timeout", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const { connection, seen } = yield* open(server.url)
      expect(yield* connection.close(4001, "done", Duration.seconds(5))).toBe(true)
      yield* server.waitUntil(() => server.closes().length === 1)
      expect(server.closes()[0]).toMatchObject({ code: 4001, reason: "done" })
      expect(connection.isOpen()).toBe(false)
      // The close is reported once, as the clean close the client asked for (not as an error or a drop).
      yield* until(() => seen.closes.length >= 1)
      expect(seen.closes).toHaveLength(1)
      expect(seen.closes[0]).toMatchObject({ _tag: "ConnectionClosedError", code: 4001, reason: "done", wasClean: true })
      // A peer that stops reading never answers the close frame.
      const second = yield* open(server.url)
      yield* until(() => server.connections().length === 1)
      server.connections()[0]!.socket.pause()
      const started = Date.now()
      expect(yield* second.connection.close(1000, "", Duration.millis(200))).toBe(false)
      expect(Date.now() - started).toBeGreaterThanOrEqual(150)
      expect(second.connection.isOpen()).toBe(false)
    }))

  live("refusals: closed port (retriable), 401 with headers and body, invalid URL (fatal)", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const refused = yield* Effect.flip(open(`ws://127.0.0.1:${port}`))
      expect(refused).toMatchObject({ _tag: "ConnectionRefusedError", fatal: false })
      expect(refused.message).toContain("ECONNREFUSED")
      const server = yield* TestServer.make({
        upgrade: TestServer.refuse(401, { headers: { "retry-after": "30" }, body: "sign in first" })
      })
      const unauthorized = yield* Effect.flip(open(server.url))
      expect(unauthorized).toMatchObject({
        _tag: "ConnectionRefusedError",
        status: 401,
        fatal: true,
        body: "sign in first"
      })
      expect(unauthorized._tag === "ConnectionRefusedError" && unauthorized.headers?.["retry-after"]).toBe("30")
      server.setUpgrade(TestServer.refuse(429))
      expect(yield* Effect.flip(open(server.url))).toMatchObject({ status: 429, fatal: false })
      for (const url of ["http://127.0.0.1:1", "not a url", "wss://"]) {
        expect(yield* Effect.flip(open(url))).toMatchObject({ _tag: "ConnectionRefusedError", fatal: true })
      }
    }))

  live("a hanging upgrade → ConnectionTimeoutError { operation: connect } after connectTimeout, socket destroyed", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ upgrade: TestServer.hang })
      const tcpBefore = tcpHandles()
      const started = Date.now()
      const error = yield* Effect.flip(open(server.url, { connectTimeout: Duration.millis(200) }))
      const elapsed = Date.now() - started
      expect(error).toMatchObject({ _tag: "ConnectionTimeoutError", operation: "connect", url: server.url })
      expect(error._tag === "ConnectionTimeoutError" && Duration.toMillis(error.timeout)).toBe(200)
      expect(elapsed).toBeGreaterThanOrEqual(190)
      yield* until(() => tcpHandles() <= tcpBefore)
    }))

  live("peer close, TCP drop, too big, bad UTF-8 and a reserved opcode map to typed errors", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const next = (overrides: Partial<Omit<Transport.ConnectRequest, "handlers" | "url">> = {}) =>
        Effect.gen(function*() {
          const before = server.connectionCount()
          const opened = yield* open(server.url, overrides)
          yield* until(() => server.connectionCount() === before + 1 && server.connections().length === 1)
          return { ...opened, peer: server.connections()[0]! }
        })
      const closed = yield* next()
      closed.peer.close(4000, "bye")
      yield* until(() => closed.seen.closes.length === 1)
      expect(closed.seen.closes[0]).toMatchObject({ _tag: "ConnectionClosedError", code: 4000, reason: "bye", wasClean: true })

      const dropped = yield* next()
      dropped.peer.drop()
      yield* until(() => dropped.seen.closes.length === 1)
      expect(dropped.seen.closes[0]).toMatchObject({ _tag: "ConnectionClosedError", code: 1006, wasClean: false })

      const big = yield* next({ maxMessageSize: 100 })
      big.peer.send("b".repeat(101))
      yield* until(() => big.seen.closes.length === 1)
      expect(big.seen.closes[0]).toMatchObject({ _tag: "InvalidFrameError", closeCode: 1009 })

      const utf8 = yield* next()
      utf8.peer.sendRaw(new Uint8Array([0x81, 0x02, 0xff, 0xfe]))
      yield* until(() => utf8.seen.closes.length === 1)
      expect(utf8.seen.closes[0]).toMatchObject({ _tag: "InvalidFrameError", closeCode: 1007 })

      const opcode = yield* next()
      opcode.peer.sendRaw(new Uint8Array([0x83, 0x00]))
      yield* until(() => opcode.seen.closes.length === 1)
      expect(opcode.seen.closes[0]).toMatchObject({ _tag: "InvalidFrameError", closeCode: 1002 })
      expect(opcode.seen.messages).toEqual([])
    }))

  live("closing the scope destroys the socket", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      yield* Effect.scoped(open(server.url))
      yield* server.waitUntil(() => server.closes().length === 1)
      expect(server.closes()[0]!.code).toBe(1006)
    }))
})
