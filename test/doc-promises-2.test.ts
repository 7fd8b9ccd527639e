/**
 * Documented promises that had no test (round three of test/doc-promises.test.ts): each test names
 * the page that makes the promise.
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, Stream } from "effect"
import * as JetSocket from "../src/JetSocket.js"
import * as Multiplex from "../src/Multiplex.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"
import * as Transport from "../src/Transport.js"
import * as WebSocketTransport from "../src/WebSocketTransport.js"
import { binanceOptions, exchange } from "./fixtures/exchange.js"
import { recordEvents, sendMarker, statesUntilEnd } from "./fixtures/helpers.js"

const live = <A, E>(name: string, body: () => Effect.Effect<A, E, any>) =>
  it.scopedLive(name, () => body().pipe(Effect.provide(NodeTransport.layer)), 30_000)

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

describe("documented promises", () => {
  // docs/typed-messages.md: "close() fails them [pending requests] with InvalidStateError"
  live("close() fails a pending request with InvalidStateError", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const ws = yield* JetSocket.connect<{ id: number }>(server.url, { heartbeat: false })
      const pending = yield* Effect.fork(ws.request({ id: 1 }, { match: (m) => m.id === 1, timeout: "20 seconds" }))
      yield* server.waitUntil(() => server.receivedJson().length === 1)
      yield* ws.close()
      const exit = yield* Fiber.await(pending).pipe(Effect.timeout("5 seconds"))
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) {
        expect(yield* Effect.flip(Effect.failCause(exit.cause))).toMatchObject({ _tag: "InvalidStateError" })
      }
    }))

  // docs/errors.md: "No state of the client waits forever: even an internal fiber that dies settles
  // ready, messages and pending requests" (InvalidStateError with the defect as cause)
  live("an internal fiber that dies settles messages and a pending request, not only ready", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const node = yield* Transport.Transport.pipe(Effect.provide(NodeTransport.layer))
      // the second connection's `protocol` getter throws: the connecting fiber dies on the reconnect
      let connections = 0
      const broken = Transport.make("broken", (request) =>
        Effect.map(node.connect(request), (connection) =>
          ++connections === 1 ? connection : Object.create(connection, {
            protocol: {
              get: () => {
                throw new Error("boom")
              }
            }
          })))
      const ws = yield* JetSocket.connect<{ id: number }>(server.url, {
        heartbeat: false,
        reconnect: { base: "10 millis", jitter: false }
      }).pipe(Effect.provideService(Transport.Transport, broken))
      const messages = yield* Effect.fork(Effect.flip(Stream.runDrain(ws.messages)))
      // resendOnReconnect: the request outlives the drop, so only the dying fiber can settle it
      const request = yield* Effect.fork(
        Effect.flip(ws.request({ id: 1 }, { match: (m) => m.id === 1, timeout: "20 seconds", resendOnReconnect: true }))
      )
      yield* server.waitUntil(() => server.receivedJson().length === 1)
      server.dropAll()
      for (const settled of [Fiber.join(messages), Fiber.join(request)]) {
        const error = yield* settled.pipe(Effect.timeout("5 seconds"))
        expect(error).toMatchObject({ _tag: "InvalidStateError" })
        expect(String((error as { cause?: unknown }).cause)).toContain("boom")
      }
      expect(yield* ws.state).toBe("Failed")
    }))

  // docs/reconnection.md: close() "is safe in every state: ... during a reconnect or rotation ...
  // When it returns, no socket and no fiber of the client remains."
  live("close() during a rotation (the replacement's handshake pending) ends everything at once", () =>
    Effect.gen(function*() {
      // the first upgrade is accepted; the rotation's replacement hangs in its handshake
      const server = yield* TestServer.make({ handler: TestServer.silent, upgrade: (r) => (r.index === 0 ? "accept" : "hang") })
      const ws = yield* JetSocket.connect(server.url, { heartbeat: false, maxConnectionAge: "100 millis" })
      yield* server.waitUntil(() => server.upgradeCount() === 2)
      expect(yield* ws.state).toBe("Connected")
      yield* ws.close().pipe(Effect.timeoutFail({ duration: "3 seconds", onTimeout: () => new Error("close hung") }))
      expect(yield* statesUntilEnd(ws)).toEqual(["Closed"])
      // the old connection got a clean close; the pending handshake's socket is gone too
      yield* server.waitUntil(() => server.closes().length === 1 && server.connections().length === 0)
      expect(server.closes()[0]).toMatchObject({ code: 1000 })
      expect(server.upgradeCount()).toBe(2)
    }))

  // docs/reconnection.md: "TCP refused / reset, DNS failure → ConnectionRefusedError { fatal: false }, retried"
  live("a DNS failure is a retriable ConnectionRefusedError", () =>
    Effect.gen(function*() {
      // .invalid never resolves (RFC 6761)
      const url = "ws://jetsocket-test.invalid:9"
      const error = yield* Effect.flip(JetSocket.connect(url, { reconnect: false, heartbeat: false }))
      expect(error).toMatchObject({ _tag: "ConnectionRefusedError", fatal: false })
      expect(error.message).toMatch(/ENOTFOUND|EAI_AGAIN/)
      // and with reconnect on it is retried: three attempts, then the last error
      const ws = yield* JetSocket.make(url, { reconnect: { base: "5 millis", jitter: false, maxAttempts: 3 }, heartbeat: false })
      const events = yield* recordEvents(ws)
      expect(yield* Effect.flip(ws.ready)).toMatchObject({ _tag: "ConnectionRefusedError", fatal: false })
      expect(yield* statesUntilEnd(ws)).toEqual(["Failed"])
      expect(events.filter((e) => e._tag === "Reconnecting").map((e) => e._tag === "Reconnecting" && e.attempt)).toEqual([2, 3])
    }))

  // docs/multiplexing.md: "Unsubscribing while disconnected sends nothing ... and the channel is not re-subscribed."
  live("Multiplex: unsubscribing while disconnected sends nothing, and the channel is not re-subscribed", () =>
    Effect.gen(function*() {
      const server = exchange("binance")
      const ts = yield* TestServer.make({ handler: server.handler })
      const mux = yield* Multiplex.make(ts.url, { ...binanceOptions, reconnect: { base: "10 millis", jitter: false } })
      const kept = yield* mux.subscribe("kept@trade")
      yield* mux.subscribe("gone@trade")
      yield* ts.waitUntil(() => server.isSubscribed("kept@trade") && server.isSubscribed("gone@trade"))
      // away: the server is stopped (connections dropped, nothing listening) while we unsubscribe
      yield* ts.stop
      yield* TestServer.waitUntil(() => Effect.runSync(mux.client.state) !== "Connected", 10_000).pipe(Effect.orDie)
      yield* mux.unsubscribe("gone@trade")
      yield* ts.start
      yield* ts.waitUntil(() => ts.connectionCount() === 2 && server.isSubscribed("kept@trade"), "10 seconds")
      yield* sendMarker(mux.client.send, () => server.raw)
      expect(server.unsubscribes.get("gone@trade")).toBeUndefined()
      expect(server.subscribes.get("gone@trade")).toBe(1)
      expect(server.subscribes.get("kept@trade")).toBe(2)
      expect(yield* mux.subscriptions).toEqual(["kept@trade"])
      server.publish("kept@trade", { i: 1 })
      expect((yield* kept.recv({ timeout: "5 seconds" })) as unknown).toEqual({ stream: "kept@trade", data: { i: 1 } })
    }))

  // docs/multiplexing.md: a run "fails with the connection's error when the connection fails for good"
  live("Multiplex: mux.runForEach fails with the connection's error when it fails for good", () =>
    Effect.gen(function*() {
      const server = exchange("binance")
      const ts = yield* TestServer.make({ handler: server.handler })
      const mux = yield* Multiplex.make(ts.url, binanceOptions)
      const seen: Array<unknown> = []
      const run = yield* Effect.fork(mux.runForEach("r@trade", (m) => Effect.sync(() => seen.push(m))))
      yield* ts.waitUntil(() => server.isSubscribed("r@trade"))
      server.publish("r@trade", { i: 1 })
      yield* TestServer.waitUntil(() => seen.length === 1, 5_000).pipe(Effect.orDie)
      ts.closeAll(4403, "forbidden")
      const exit = yield* Fiber.await(run).pipe(Effect.timeout("10 seconds"))
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) {
        expect(yield* Effect.flip(Effect.failCause(exit.cause))).toMatchObject({
          _tag: "ConnectionClosedError",
          code: 4403,
          reason: "forbidden",
          fatal: true
        })
      }
    }))

  // docs/multiplexing.md: "mux.unrouted keeps the latest 1000 unroutable messages for a slow reader
  // (a sliding buffer ...); stats.unroutableMessages counts all of them"
  live("Multiplex: unrouted keeps the latest 1000 for a slow reader; the count has all", () =>
    Effect.gen(function*() {
      const server = exchange("binance")
      const ts = yield* TestServer.make({ handler: server.handler })
      const mux = yield* Multiplex.make(ts.url, binanceOptions)
      yield* mux.client.ready
      const release = yield* Deferred.make<void>()
      const seen: Array<number> = []
      // the reader takes the first message, then stalls until all 1500 were published
      yield* Effect.forkScoped(Stream.runForEach(mux.unrouted, (m) =>
        Effect.zipRight(
          Effect.sync(() => seen.push((m as { data: { i: number } }).data.i)),
          seen.length === 0 ? Deferred.await(release) : Effect.void
        )))
      // probe until the reader is attached (it subscribes when it starts running)
      let probes = 0
      while (seen.length === 0 && probes < 50) {
        server.publish(`probe@trade`, { i: 0 }, true)
        probes++
        yield* TestServer.waitUntil(() => seen.length > 0, 200).pipe(Effect.ignore)
      }
      expect(seen).toEqual([0])
      for (let i = 1; i <= 1500; i++) server.publish("nobody@trade", { i }, true)
      yield* TestServer.waitUntil(() => Effect.runSync(mux.stats).unroutableMessages === probes + 1500, 10_000).pipe(Effect.orDie)
      yield* Deferred.succeed(release, undefined)
      yield* TestServer.waitUntil(() => seen[seen.length - 1] === 1500, 10_000).pipe(Effect.orDie)
      // the latest 1000, in order, and the older ones dropped (not an unbounded buffer)
      expect(seen.slice(-1000)).toEqual(range(501, 1500))
      expect(seen.length).toBeLessThan(1 + 1500)
      expect(seen[seen.length - 1001]).not.toBe(500)
    }))

  // docs/platforms.md / docs/reconnection.md: an upgrade answered with 429/5xx is retriable, on
  // every transport; here the portable one (WebSocketTransport over a WebSocket constructor)
  it.scopedLive("the portable transport: a refused upgrade (503) is retriable and retried", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({
        handler: TestServer.echo,
        upgrade: (request) => (request.index <= 1 ? { status: 503 } : "accept")
      })
      const refused = yield* Effect.flip(JetSocket.connect(server.url, { reconnect: false, heartbeat: false }))
      expect(refused).toMatchObject({ _tag: "ConnectionRefusedError", fatal: false })
      const ws = yield* JetSocket.connect(server.url, { reconnect: { base: "10 millis", jitter: false }, heartbeat: false })
      yield* ws.send({ after: "503" })
      expect(yield* ws.recv({ timeout: "5 seconds" })).toEqual({ after: "503" })
      // the second client was refused once (index 1) and retried (index 2)
      expect(server.upgradeCount()).toBe(3)
    }).pipe(
      Effect.provide(WebSocketTransport.layerConstructor.pipe(Layer.provide(NodeSocket.layerWebSocketConstructor)))
    ), 30_000)
})
