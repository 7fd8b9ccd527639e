/**
 * The client's control plane against a real server (issue 28): close from
 * inside the client, a drop after a refused rotation, a socket whose
 * activation died, requests queued while disconnected, `ping()` waiters.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Scope, Stream, TestClock } from "effect"
import * as JetSocket from "../src/JetSocket.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"
import * as Transport from "../src/Transport.js"
import { throwingProtocol } from "./fixtures/helpers.js"

const live = <A, E>(name: string, body: () => Effect.Effect<A, E, any>) =>
  it.scopedLive(name, () => body().pipe(Effect.provide(NodeTransport.layer)), 60_000)

/** Under TestClock: the client's timers (backoff, rotation age, timeouts) move only when the test moves them. */
const clocked = <A, E>(name: string, body: () => Effect.Effect<A, E, any>) =>
  it.scoped(name, () => body().pipe(Effect.provide(NodeTransport.layer)), 60_000)

/** Bounded wait on real timers (works under TestClock). */
const until = (predicate: () => boolean, timeoutMs = 10_000) =>
  TestServer.waitUntil(predicate, timeoutMs).pipe(Effect.orDie)

const stateOf = (ws: JetSocket.JetSocket<any>) => Effect.runSync(ws.state)

/** The fiber's exit once it is done, waiting on real timers (bounded): a fiber that never ends fails the test. */
const exitOf = <A, E>(fiber: Fiber.RuntimeFiber<A, E>, timeoutMs = 10_000) =>
  Effect.gen(function*() {
    yield* until(() => fiber.unsafePoll() !== null, timeoutMs)
    return fiber.unsafePoll()!
  })

describe("close from inside the client", () => {
  /**
   * Closes from a connect hook, `onReplay` or the url Effect (all run by the client's own fiber):
   * the client ends Closed with the given code, and a later `close` from the test returns.
   */
  const closesFromInside = (
    setup: (server: TestServer.TestServer, closeInside: Effect.Effect<void>) => {
      readonly url: JetSocket.JetSocket.Dynamic<string>
      readonly options: JetSocket.JetSocket.Options<any, any>
      readonly hook?: boolean
      /** A connection is open when it closes (it is closed with the code given inside). */
      readonly socketOpen: boolean
    }
  ) =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      let client: JetSocket.JetSocket<any> | undefined
      const closeInside = Effect.suspend(() => client!.close(4000, "bye"))
      const { hook, options, socketOpen, url } = setup(server, closeInside)
      const ws = yield* JetSocket.connect<any>(url, { heartbeat: false, reconnect: { base: 10, jitter: false }, ...options })
      client = ws
      if (hook === true) yield* ws.onConnect(() => closeInside)
      yield* until(() => server.connections().length === 1)
      server.dropAll()
      yield* until(() => stateOf(ws) === "Closed")
      // Every socket the client opened is closed; the last one with the code given inside.
      yield* until(() => server.connections().length === 0)
      if (socketOpen) expect(server.closes().some((c) => c.code === 4000 && c.reason === "bye")).toBe(true)
      // A close from outside returns too (it used to wait for ever on the first one).
      const outside = yield* Effect.fork(ws.close())
      expect(Exit.isSuccess(yield* exitOf(outside))).toBe(true)
      expect(stateOf(ws)).toBe("Closed")
    })

  live("from an onConnect hook", () => closesFromInside((server) => ({ url: server.url, options: {}, hook: true, socketOpen: true })))

  live("from onReplay", () =>
    closesFromInside((server, closeInside) => ({
      url: server.url,
      options: { replay: { mode: "sequence_id", sequenceKey: () => 1, onReplay: () => closeInside } },
      socketOpen: true
    })))

  live("from the url Effect", () =>
    closesFromInside((server, closeInside) => {
      let calls = 0
      // The second evaluation (the reconnect's) closes, before any socket is opened.
      return {
        url: Effect.suspend(() => Effect.as(calls++ === 0 ? Effect.void : closeInside, server.url)),
        options: {},
        socketOpen: false
      }
    }))
})

describe("rotation", () => {
  clocked("a drop after a refused rotation is noticed at once, not after the retry pause", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      // The first upgrade is accepted, every later one refused: the rotation's replacement fails.
      server.setUpgrade((request) => (request.index === 0 ? "accept" : { status: 503 }))
      const ws = yield* JetSocket.connect(server.url, {
        heartbeat: false,
        maxConnectionAge: "10 seconds",
        reconnect: { base: 10, jitter: false }
      })
      yield* TestClock.adjust("10 seconds")
      yield* until(() => server.upgradeCount() === 2)
      expect(stateOf(ws)).toBe("Connected")
      // The clock stands still: the client can only see this drop by watching the connection.
      server.dropAll()
      yield* until(() => stateOf(ws) !== "Connected")
      expect(["Disconnected", "BackingOff", "Reconnecting"]).toContain(stateOf(ws))
    }))
})

describe("a connection whose activation dies", () => {
  live("is closed, not orphaned: the server sees it end", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      // A custom transport whose connection's `protocol` getter throws (read when the client goes Up).
      const throwing = yield* throwingProtocol(() => true)
      const scope = yield* Scope.make()
      const ws = yield* JetSocket.make(server.url, { heartbeat: false, reconnect: false }).pipe(
        Effect.provideService(Transport.Transport, throwing),
        Scope.extend(scope)
      )
      const ready = yield* Effect.exit(ws.ready)
      expect(Exit.isFailure(ready)).toBe(true)
      expect(stateOf(ws)).toBe("Failed")
      yield* Scope.close(scope, Exit.void)
      yield* until(() => server.connectionCount() === 1 && server.connections().length === 0)
    }))
})

describe("a supervisor that dies while a connection is up", () => {
  clocked("fails the client (Up → Failed) and closes both sockets: the rotation's replacement and the one in use", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      // The second connection (the rotation's replacement) has a `protocol` getter that throws, read by
      // the `Up → Up` transition: the supervisor dies while the state is `Up`.
      const throwing = yield* throwingProtocol((n) => n === 1)
      const ws = yield* JetSocket.connect(server.url, { heartbeat: false, maxConnectionAge: "10 seconds" }).pipe(
        Effect.provideService(Transport.Transport, throwing)
      )
      const failed = yield* Effect.fork(Effect.either(Stream.runDrain(ws.messages)))
      yield* TestClock.adjust("10 seconds")
      yield* until(() => stateOf(ws) === "Failed")
      const error = yield* Fiber.join(failed)
      expect(error._tag === "Left" && error.left._tag).toBe("InvalidStateError")
      // Neither socket is left open: the server sees both end, with 1011 (the replacement, closed by
      // the supervisor's scope) — none orphaned.
      yield* until(() => server.connectionCount() === 2 && server.connections().length === 0)
      expect(server.closes().map((c) => c.code)).toContain(1011)
    }))
})

describe("requests queued while disconnected", () => {
  /**
   * Connection 1 (the second) never reads: the flushed frames stay unconfirmed, then it drops.
   * Connection 2 reads. Returns what connection 2 received once `marker` arrived.
   */
  const queuedThenDropped = (resendOnReconnect: boolean) =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({
        handler: (connection) => {
          if (connection.id === 1) (connection.socket as unknown as { _socket: { pause(): void } })._socket.pause()
        }
      })
      const ws = yield* JetSocket.connect<any>(server.url, { heartbeat: false, reconnect: { base: 10, jitter: false } })
      yield* server.stop
      yield* until(() => stateOf(ws) !== "Connected")
      // Queued while disconnected: a frame big enough to fill the socket buffers, then the request.
      yield* ws.sendText("x".repeat(16 * 1024 * 1024))
      const request = yield* Effect.fork(ws.request({ op: "req" }, { match: () => true, timeout: "30 seconds", resendOnReconnect }))
      yield* server.start
      yield* until(() => server.connections().some((c) => c.id === 1) && stateOf(ws) === "Connected")
      server.connections().find((c) => c.id === 1)!.drop()
      yield* until(() => server.connections().some((c) => c.id === 2) && stateOf(ws) === "Connected")
      yield* ws.sendText("marker")
      yield* until(() => server.received().some((r) => r.connection === 2 && r.data === "marker"))
      const onSecond = server.received().filter((r) => r.connection === 2 && r.data === JSON.stringify({ op: "req" })).length
      return { request, onSecond }
    })

  live("a request failed by the drop is not sent afterwards", () =>
    Effect.gen(function*() {
      const { onSecond, request } = yield* queuedThenDropped(false)
      const exit = yield* exitOf(request)
      expect(Exit.isFailure(exit)).toBe(true)
      expect(onSecond).toBe(0)
    }))

  live("a request with resendOnReconnect is sent again once, not twice", () =>
    Effect.gen(function*() {
      const { onSecond, request } = yield* queuedThenDropped(true)
      expect(onSecond).toBe(1)
      yield* Fiber.interrupt(request)
    }))
})

describe("ping()", () => {
  clocked("a waiting ping fails when the connection drops", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent, autoPong: false })
      const ws = yield* JetSocket.connect(server.url, { heartbeat: false, reconnect: { base: 10, jitter: false } })
      const ping = yield* Effect.fork(ws.ping({ timeout: "1 minute" }))
      yield* until(() => server.connections().length === 1)
      server.dropAll()
      // The clock stands still: only the drop can end the ping.
      const exit = yield* exitOf(ping)
      expect(Exit.isFailure(exit)).toBe(true)
    }))

  clocked("a ping that timed out leaves no waiter behind", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent, autoPong: false })
      const ws = yield* JetSocket.connect(server.url, { heartbeat: false })
      const pings = yield* Effect.forEach(Array.from({ length: 5 }), () => Effect.fork(ws.ping({ timeout: "1 second" })))
      yield* TestClock.adjust(Duration.seconds(2))
      for (const ping of pings) {
        const exit = yield* Fiber.await(ping)
        expect(Exit.isFailure(exit)).toBe(true)
      }
      expect(pingWaiters(ws)).toBe(0)
    }))
})

/** Internal: how many `ping()` callers the client still holds for the connection in use. */
const pingWaiters = (ws: JetSocket.JetSocket<any>): number =>
  ((ws as unknown as { current?: { pongWaiters?: Array<unknown> } }).current?.pongWaiters ?? []).length
