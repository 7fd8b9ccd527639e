import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Either, Fiber, Stream } from "effect"
import * as JetSocket from "../src/JetSocket.js"
import * as JetSocketError from "../src/JetSocketError.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"
import * as Transport from "../src/Transport.js"
import { closedPort, recordEvents, statesUntilEnd, tcpHandles } from "./fixtures/helpers.js"

const sizes = [0, 125, 126, 65535, 65536, 1024 * 1024] as const

const realSleep = (ms: number) => Effect.promise(() => new Promise<void>((r) => setTimeout(r, ms)))

const bytesOf = (n: number) => {
  const bytes = new Uint8Array(n)
  for (let i = 0; i < n; i++) bytes[i] = (i * 31 + 7) & 0xff
  return bytes
}

const live = <A, E>(name: string, body: () => Effect.Effect<A, E, any>, timeout = 30_000) =>
  it.scopedLive(name, () => body().pipe(Effect.provide(NodeTransport.layer)), timeout)

describe("client against TestServer: round trips", () => {
  live("text frames of 0, 125, 126, 65535, 65536 bytes and 1 MiB", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const ws = yield* JetSocket.connect<string>(server.url, { codec: "text" })
      for (const size of sizes) {
        const text = "a".repeat(size)
        yield* ws.sendText(text)
        const echoed = yield* ws.recv({ timeout: "10 seconds" })
        expect(echoed.length).toBe(size)
        expect(echoed === text).toBe(true)
      }
      const stats = yield* ws.stats
      expect(stats.messagesReceived).toBe(sizes.length)
      expect(stats.bytesReceived).toBe(sizes.reduce((a, b) => a + b, 0))
    }))

  live("binary frames of 0, 125, 126, 65535, 65536 bytes and 1 MiB", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const ws = yield* JetSocket.connect(server.url)
      for (const size of sizes) {
        const bytes = bytesOf(size)
        yield* ws.sendBinary(bytes)
        const echoed = yield* ws.recv({ timeout: "10 seconds" })
        expect(echoed).toBeInstanceOf(Uint8Array)
        expect(Buffer.compare(Buffer.from(echoed as Uint8Array), Buffer.from(bytes))).toBe(0)
      }
    }))

  live("JSON messages of those sizes (payload length), objects and arrays", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const ws = yield* JetSocket.connect(server.url)
      for (const size of sizes) {
        const message = { size, payload: "j".repeat(size), nested: [1, { ok: true }] }
        yield* ws.send(message)
        expect(yield* ws.recv({ timeout: "10 seconds" })).toEqual(message)
      }
      yield* ws.send([1, "two", null])
      expect(yield* ws.recv({ timeout: "5 seconds" })).toEqual([1, "two", null])
      // The server saw JSON text frames.
      expect(server.receivedJson()[0]).toMatchObject({ size: 0, payload: "" })
    }))
})

describe("client against TestServer: every error from a real scenario", () => {
  live("refused TCP (closed port) → ConnectionRefusedError, retriable", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const url = `ws://127.0.0.1:${port}`
      const error = yield* Effect.flip(JetSocket.connect(url, { reconnect: false }))
      expect(error._tag).toBe("ConnectionRefusedError")
      if (error._tag !== "ConnectionRefusedError") return
      expect(error.fatal).toBe(false)
      expect(error.status).toBeUndefined()
      expect(error.message).toContain(url)
      expect(error.message).toContain("ECONNREFUSED")
      // Caught by category, as a user would.
      const viaCategory = yield* JetSocket.connect(url, { reconnect: false }).pipe(
        Effect.as("connected"),
        Effect.catchIf(JetSocketError.isConnectionError, (e) => Effect.succeed(`caught ${e._tag}`))
      )
      expect(viaCategory).toBe("caught ConnectionRefusedError")
      // With reconnect on it is retried: the attempts show up as Reconnecting events.
      // maxAttempts 3: three attempts, so two Reconnecting events announcing attempts 2 and 3 (after 10 ms,
      // then 20 ms), then Failed.
      const retried = yield* JetSocket.make(url, { reconnect: { base: "10 millis", maxAttempts: 3, jitter: false } })
      const events = yield* recordEvents(retried)
      const final = yield* Effect.flip(retried.ready)
      expect(final._tag).toBe("ConnectionRefusedError")
      expect(yield* retried.state).toBe("Failed")
      yield* TestServer.waitUntil(() => events.some((e) => e._tag === "Error" && e.fatal), 5_000).pipe(Effect.orDie)
      const reconnecting = events.flatMap((e) => e._tag === "Reconnecting" ? [{ attempt: e.attempt, delay: Duration.toMillis(e.delay) }] : [])
      expect(reconnecting).toEqual([{ attempt: 2, delay: 10 }, { attempt: 3, delay: 20 }])
    }))

  live("401 upgrade → ConnectionRefusedError { status 401, fatal, headers, body prefix }, not retried", () =>
    Effect.gen(function*() {
      const body = "token expired; " + "x".repeat(4000)
      const server = yield* TestServer.make({
        upgrade: TestServer.refuse(401, { headers: { "www-authenticate": "Bearer realm=\"feed\"" }, body })
      })
      const error = yield* Effect.flip(JetSocket.connect(server.url, { reconnect: { base: "10 millis" } }))
      expect(error._tag).toBe("ConnectionRefusedError")
      if (error._tag !== "ConnectionRefusedError") return
      expect(error.status).toBe(401)
      expect(error.fatal).toBe(true)
      expect(error.headers?.["www-authenticate"]).toBe("Bearer realm=\"feed\"")
      expect(error.body?.startsWith("token expired; xxx")).toBe(true)
      expect(error.body!.length).toBeLessThanOrEqual(1024)
      expect(error.message).toContain("401")
      expect(error.message).toContain(server.url)
      // Fatal: one attempt only, even with reconnect on.
      expect(server.upgradeCount()).toBe(1)
      // 503 is retriable.
      server.setUpgrade(TestServer.refuse(503))
      const retriable = yield* Effect.flip(JetSocket.connect(server.url, { reconnect: false }))
      expect(retriable).toMatchObject({ _tag: "ConnectionRefusedError", status: 503, fatal: false })
    }))

  live("a server that accepts TCP and never answers → ConnectionTimeoutError { operation: connect }", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ upgrade: TestServer.hang })
      const started = Date.now()
      const error = yield* Effect.flip(JetSocket.connect(server.url, { connectTimeout: "300 millis", reconnect: false }))
      const elapsed = Date.now() - started
      expect(error._tag).toBe("ConnectionTimeoutError")
      if (error._tag !== "ConnectionTimeoutError") return
      expect(error.operation).toBe("connect")
      expect(Duration.toMillis(error.timeout)).toBe(300)
      expect(error.fatal).toBe(false)
      expect(error.message).toContain("300")
      expect(error.message).toContain(server.url)
      expect(elapsed).toBeGreaterThanOrEqual(250)
      expect(elapsed).toBeLessThan(10_000)
    }))

  live("a transport that does not time the handshake out itself: the client enforces connectTimeout", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ upgrade: TestServer.hang })
      // The Node transport asked to wait an hour, wrapped without `enforcesConnectTimeout`.
      const lenient = Transport.make("lenient", (request) =>
        NodeTransport.transport.connect({ ...request, connectTimeout: Duration.hours(1) }))
      expect(lenient.enforcesConnectTimeout).toBe(false)
      expect(NodeTransport.transport.enforcesConnectTimeout).toBe(true)
      const tcpBefore = tcpHandles()
      const started = Date.now()
      const error = yield* Effect.flip(
        JetSocket.connect(server.url, { connectTimeout: "200 millis", reconnect: false }).pipe(
          Effect.provideService(Transport.Transport, lenient)
        )
      )
      const elapsed = Date.now() - started
      expect(error).toMatchObject({ _tag: "ConnectionTimeoutError", operation: "connect" })
      expect(elapsed).toBeGreaterThanOrEqual(150)
      expect(elapsed).toBeLessThan(10_000)
      // the abandoned handshake's socket is gone too
      yield* server.waitUntil(() => tcpHandles() <= tcpBefore)
    }))

  live("a message over maxMessageSize → InvalidFrameError { closeCode 1009 }", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const ws = yield* JetSocket.connect(server.url, { maxMessageSize: 1000, reconnect: false })
      server.broadcast({ small: true })
      expect(yield* ws.recv({ timeout: "5 seconds" })).toEqual({ small: true })
      server.broadcast("y".repeat(2000))
      const error = yield* Effect.flip(ws.recv({ timeout: "5 seconds" }))
      expect(error._tag).toBe("InvalidFrameError")
      if (error._tag !== "InvalidFrameError") return
      expect(error.closeCode).toBe(1009)
      expect(error.message).toContain("1009")
      // The client closed with 1009, and the server saw it.
      yield* server.waitUntil(() => server.closes().some((c) => c.code === 1009))
    }))

  live("server close with a code → ConnectionClosedError { code, reason }", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const ws = yield* JetSocket.connect(server.url, { reconnect: false })
      server.closeAll(4000, "maintenance")
      const error = yield* Effect.flip(ws.messages.pipe(Stream.runDrain))
      expect(error).toMatchObject({ _tag: "ConnectionClosedError", code: 4000, reason: "maintenance", wasClean: true })
      expect(error.message).toContain("4000")
      expect(error.message).toContain("maintenance")
      expect(yield* ws.state).toBe("Failed")
      // A fatal close code is not retried even with reconnect on.
      const ws2 = yield* JetSocket.connect(server.url, { reconnect: { base: "10 millis" } })
      const before = server.connectionCount()
      server.closeAll(4401, "unauthorized")
      const fatal = yield* Effect.flip(ws2.recv({ timeout: "5 seconds" }))
      expect(fatal).toMatchObject({ _tag: "ConnectionClosedError", code: 4401 })
      expect(fatal.fatal).toBe(true)
      // Failed is terminal (stateChanges ends): no further attempt can follow
      expect(yield* statesUntilEnd(ws2)).toEqual(["Failed"])
      expect(server.connectionCount()).toBe(before)
    }))

  live("non-JSON text → InvalidMessageError, and the connection stays healthy", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const ws = yield* JetSocket.connect(server.url)
      yield* ws.sendText("definitely { not json")
      const error = yield* Effect.flip(ws.recv({ timeout: "5 seconds" }))
      expect(error._tag).toBe("InvalidMessageError")
      if (error._tag !== "InvalidMessageError") return
      expect(error.preview).toBe("definitely { not json")
      expect(error.cause).toBeInstanceOf(SyntaxError)
      yield* ws.send({ next: 1 })
      expect(yield* ws.recv({ timeout: "5 seconds" })).toEqual({ next: 1 })
      // In a stream: the failing run stops at the bad message; the next run continues after it.
      yield* ws.sendText("[1,")
      yield* ws.send({ next: 2 })
      const first = yield* Effect.either(ws.messages.pipe(Stream.take(1), Stream.runCollect))
      expect(Either.isLeft(first) && first.left._tag).toBe("InvalidMessageError")
      const second = yield* ws.messages.pipe(Stream.take(1), Stream.runCollect)
      expect(Chunk.toReadonlyArray(second)).toEqual([{ next: 2 }])
      expect(yield* ws.state).toBe("Connected")
      expect(server.connectionCount()).toBe(1)
    }))

  live("send after close → InvalidStateError", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const ws = yield* JetSocket.connect(server.url)
      yield* ws.close()
      for (const attempt of [ws.send({ a: 1 }), ws.sendText("x"), ws.sendBinary(new Uint8Array(1))]) {
        const error = yield* Effect.flip(attempt)
        expect(error).toMatchObject({ _tag: "InvalidStateError", operation: "send" })
        expect(error.message).toContain("send")
      }
      // recv after close: the buffer has ended.
      const recv = yield* Effect.flip(ws.recv())
      expect(recv._tag).toBe("InvalidStateError")
      // close again is safe.
      yield* ws.close()
      expect(yield* ws.state).toBe("Closed")
    }))

  live("invalid URLs → ConnectionRefusedError, fatal, never a throw", () =>
    Effect.gen(function*() {
      for (const url of ["http://127.0.0.1:1/", "garbage", "", "ws://", "ws://127.0.0.1:1/#frag", "ftp://x"]) {
        const exit = yield* Effect.exit(JetSocket.connect(url, { reconnect: { base: "10 millis" } }))
        expect(exit._tag).toBe("Failure")
        const error = yield* Effect.flip(JetSocket.connect(url))
        expect(error._tag).toBe("ConnectionRefusedError")
        expect(error.fatal).toBe(true)
        expect(error.message).toContain(url === "" ? "invalid URL" : url)
      }
    }))

  live("recv timeout → ConnectionTimeoutError { operation: recv }", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const ws = yield* JetSocket.connect(server.url)
      const error = yield* Effect.flip(ws.recv({ timeout: "150 millis" }))
      expect(error).toMatchObject({ _tag: "ConnectionTimeoutError", operation: "recv" })
      if (error._tag !== "ConnectionTimeoutError") return
      expect(Duration.toMillis(error.timeout)).toBe(150)
      expect(error.message).toContain("recv")
      // Still connected and usable.
      server.broadcast({ later: true })
      expect(yield* ws.recv({ timeout: "5 seconds" })).toEqual({ later: true })
    }))
})

const handleCounts = () => {
  const counts: Record<string, number> = {}
  for (const name of process.getActiveResourcesInfo()) counts[name] = (counts[name] ?? 0) + 1
  return counts
}

describe("client against TestServer: lifecycle", () => {
  live("closing the scope sends close 1000 and leaves no open handles", () =>
    Effect.gen(function*() {
      // Warm up (module loading, first sockets), then measure from where the warm-up's handles are gone:
      // a baseline taken while they still close would let as many leak.
      const initial = handleCounts()
      yield* Effect.scoped(Effect.gen(function*() {
        const server = yield* TestServer.make()
        yield* JetSocket.connect(server.url)
      }))
      const tcp = ["TCPSocketWrap", "TCPServerWrap"]
      yield* TestServer.waitUntil(() => tcp.every((k) => (handleCounts()[k] ?? 0) <= (initial[k] ?? 0)), 5_000).pipe(Effect.orDie)
      const before = handleCounts()
      let observed: TestServer.TestServer | undefined
      for (let round = 0; round < 3; round++) {
        yield* Effect.scoped(Effect.gen(function*() {
          const server = yield* TestServer.make({ handler: TestServer.echo })
          observed = server
          const ws = yield* JetSocket.connect(server.url, { heartbeat: "1 second" })
          yield* ws.send({ round })
          expect(yield* ws.recv({ timeout: "5 seconds" })).toEqual({ round })
        }))
        expect(observed!.closes().map((c) => c.code)).toEqual([1000])
      }
      // Let the OS and libuv settle, then compare (bounded).
      const kinds = ["TCPSocketWrap", "TCPServerWrap", "Timeout"]
      const settled = (counts: Record<string, number>) => kinds.every((k) => (counts[k] ?? 0) <= (before[k] ?? 0))
      let after = handleCounts()
      for (let i = 0; i < 150 && !settled(after); i++) {
        yield* realSleep(20)
        after = handleCounts()
      }
      if (!settled(after)) console.log("open handles before/after", before, after)
      expect(after["TCPSocketWrap"] ?? 0).toBeLessThanOrEqual(before["TCPSocketWrap"] ?? 0)
      expect(after["TCPServerWrap"] ?? 0).toBeLessThanOrEqual(before["TCPServerWrap"] ?? 0)
      expect(after["Timeout"] ?? 0).toBeLessThanOrEqual(before["Timeout"] ?? 0)
    }))

  live("state sequence Connecting → Connected → Disconnecting → Closed, and the matching events", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const ws = yield* JetSocket.make(server.url)
      // Subscribe before the connect finishes (pitfall 11: pull once to subscribe).
      const pull = yield* Stream.toPull(ws.stateChanges)
      const events = yield* ws.subscribeEvents
      const collected = yield* Effect.fork(Stream.runCollect(events))
      const states: Array<JetSocket.ConnectionState> = []
      const pullOne = Effect.map(pull, Chunk.toReadonlyArray)
      states.push(...(yield* pullOne))
      yield* ws.ready
      expect(yield* ws.state).toBe("Connected")
      while (!states.includes("Connected")) states.push(...(yield* pullOne))
      yield* ws.close()
      while (!states.includes("Closed")) {
        const next = yield* Effect.either(pullOne)
        if (Either.isLeft(next)) break
        states.push(...next.right)
      }
      const distinct = states.filter((s, i) => i === 0 || states[i - 1] !== s)
      expect(distinct.filter((s) => s !== "Idle")).toEqual(["Connecting", "Connected", "Disconnecting", "Closed"])
      const tags = Chunk.toReadonlyArray(yield* Fiber.join(collected)).map((e) => e._tag)
      expect(tags).toEqual(["Connecting", "Connected", "Closed"])
    }))

  live("headers and subprotocols reach the server; the negotiated protocol is reported", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo, selectProtocol: (offered) => offered[1] ?? false })
      let token = 0
      const ws = yield* JetSocket.make(server.url, {
        headers: Effect.sync(() => ({ authorization: `Bearer t${++token}`, "x-client": "jetsocket" })),
        protocols: ["v1.feed", "v2.feed"]
      })
      const events = yield* ws.subscribeEvents
      const connected = yield* Effect.fork(events.pipe(Stream.filter((e) => e._tag === "Connected"), Stream.take(2), Stream.runCollect))
      yield* ws.ready
      const [first] = server.requestHeaders()
      expect(first!["authorization"]).toBe("Bearer t1")
      expect(first!["x-client"]).toBe("jetsocket")
      expect(first!["sec-websocket-protocol"]).toMatch(/^v1\.feed, ?v2\.feed$/)
      expect(server.connections()[0]!.protocol).toBe("v2.feed")
      // Headers are evaluated at every connect: a reconnect sends a fresh token.
      server.dropAll()
      yield* server.waitUntil(() => server.connectionCount() === 2 && server.connections().length === 1, "10 seconds")
      expect(server.requestHeaders()[1]!["authorization"]).toBe("Bearer t2")
      const protocols = Chunk.toReadonlyArray(yield* Fiber.join(connected)).map((e) => e._tag === "Connected" ? e.protocol : "")
      expect(protocols).toEqual(["v2.feed", "v2.feed"])
    }))

  live("compression: permessage-deflate negotiated when on, not offered when off", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo, perMessageDeflate: true })
      const on = yield* JetSocket.connect(server.url, { compression: { threshold: 16 } })
      yield* server.waitUntil(() => server.connections().length === 1)
      expect(server.connections()[0]!.socket.extensions).toContain("permessage-deflate")
      expect(String(server.requestHeaders()[0]!["sec-websocket-extensions"])).toContain("permessage-deflate")
      const big = { text: "compress me ".repeat(10_000) }
      yield* on.send(big)
      expect(yield* on.recv({ timeout: "5 seconds" })).toEqual(big)
      yield* on.close()
      yield* server.waitUntil(() => server.connections().length === 0)
      const off = yield* JetSocket.connect(server.url, { compression: false })
      yield* server.waitUntil(() => server.connections().length === 1)
      expect(server.connections()[0]!.socket.extensions).toBe("")
      expect(server.requestHeaders()[1]!["sec-websocket-extensions"]).toBeUndefined()
      yield* off.send(big)
      expect(yield* off.recv({ timeout: "5 seconds" })).toEqual(big)
    }))

  live("smoke: echo, a dropped connection, one reconnect, then echo on the new connection", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      const ws = yield* JetSocket.connect(server.url, { reconnect: { base: "20 millis", jitter: false } })
      yield* ws.send({ hello: "world" })
      expect(yield* ws.recv({ timeout: "5 seconds" })).toEqual({ hello: "world" })
      server.dropAll()
      yield* server.waitUntil(() => server.connectionCount() === 2, "10 seconds")
      yield* ws.send({ after: 1 })
      expect(yield* ws.recv({ timeout: "5 seconds" })).toEqual({ after: 1 })
      const stats = yield* ws.stats
      expect(stats.reconnects).toBe(1)
      expect(stats.messagesSent).toBe(2)
      expect(stats.messagesReceived).toBe(2)
      expect(stats.state).toBe("Connected")
      yield* ws.close()
      yield* server.waitUntil(() => server.closes().some((c) => c.code === 1000))
    }))
})
