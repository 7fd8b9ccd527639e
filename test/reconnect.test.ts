/**
 * Reconnect, live: against TestServer and against an independent `ws`
 * WebSocketServer (so our own test kit cannot hide a mistake).
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Stream } from "effect"
import * as JetSocket from "../src/JetSocket.js"
import type { JetSocketError } from "../src/JetSocketError.js"
import type { JetSocketEvent } from "../src/JetSocketEvent.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"
import { recordEvents, statesUntilEnd } from "./fixtures/helpers.js"
import { type WsServerState, wsServer } from "./fixtures/wsServer.js"

const live = <A, E>(name: string, body: () => Effect.Effect<A, E, any>) =>
  it.scopedLive(name, () => body().pipe(Effect.provide(NodeTransport.layer)), 60_000)

const until = (predicate: () => boolean, timeoutMs = 15_000) =>
  TestServer.waitUntil(predicate, timeoutMs).pipe(Effect.orDie)

const fast = { base: 20, cap: 200, jitter: false } as const

/** Collects `messages` in the background. */
const collect = <A>(ws: JetSocket.JetSocket<A>) =>
  Effect.gen(function*() {
    const got: Array<A> = []
    const fiber = yield* Effect.forkScoped(Stream.runForEach(ws.messages, (m) => Effect.sync(() => got.push(m))))
    return { got, fiber }
  })

const lastOpen = (state: WsServerState) => state.sockets[state.sockets.length - 1]!

describe("reconnect against TestServer", () => {
  live("server drops TCP → Disconnected, Reconnecting, Reconnected; messages keeps flowing", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const ws = yield* JetSocket.connect<{ n: number }>(server.url, { reconnect: fast, heartbeat: false })
      const events = yield* recordEvents(ws)
      const { got } = yield* collect(ws)
      yield* ws.send({ n: 1 })
      yield* until(() => got.length === 1)
      for (let round = 2; round <= 4; round++) {
        server.dropAll()
        yield* until(() => events.filter((e) => e._tag === "Reconnected").length === round - 1)
        yield* ws.send({ n: round })
        yield* until(() => got.length === round)
      }
      expect(got).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }])
      expect(server.connectionCount()).toBe(4)
      const disconnected = events.filter((e) => e._tag === "Disconnected")
      expect(disconnected).toHaveLength(3)
      expect(disconnected[0]).toMatchObject({ code: 1006 })
      const reconnecting = events.filter((e) => e._tag === "Reconnecting")
      expect(reconnecting.length).toBeGreaterThanOrEqual(3)
      const reconnected = events.filter((e): e is Extract<JetSocketEvent, { _tag: "Reconnected" }> => e._tag === "Reconnected")
      expect(reconnected.every((e) => e.attempts >= 1)).toBe(true)
      const downtimes = reconnected.map((e) => Duration.toMillis(e.downtime))
      console.log(`[figure] TestServer TCP drop → reconnected, downtime ms: ${downtimes.join(", ")} (backoff base 20 ms)`)
      expect((yield* ws.stats).reconnects).toBe(3)
      expect(yield* ws.state).toBe("Connected")
    }))

  live("server close 1001 and 1000 → reconnect (retriable)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const ws = yield* JetSocket.connect<string>(server.url, { codec: "text", reconnect: fast, heartbeat: false })
      const events = yield* recordEvents(ws)
      server.closeAll(1001, "going away")
      yield* until(() => events.some((e) => e._tag === "Reconnected"))
      server.closeAll(1000, "bye")
      yield* until(() => events.filter((e) => e._tag === "Reconnected").length === 2)
      expect(events.filter((e) => e._tag === "Disconnected")).toMatchObject([
        { code: 1001, reason: "going away" },
        { code: 1000, reason: "bye" }
      ])
      yield* ws.sendText("still here")
      expect(yield* ws.recv({ timeout: "10 seconds" })).toBe("still here")
      expect(server.connectionCount()).toBe(3)
    }))

  for (const status of [401, 403, 404, 410]) {
    live(`upgrade ${status} → fatal after exactly one attempt (server-side count)`, () =>
      Effect.gen(function*() {
        const server = yield* TestServer.make({ upgrade: TestServer.refuse(status) })
        const ws = yield* JetSocket.make(server.url, { reconnect: fast, heartbeat: false })
        const events = yield* recordEvents(ws)
        const error = yield* Effect.flip(Stream.runDrain(ws.messages))
        expect(error).toMatchObject({ _tag: "ConnectionRefusedError", status, fatal: true })
        // Failed is terminal (stateChanges ends): no second attempt can follow
        expect(yield* statesUntilEnd(ws)).toEqual(["Failed"])
        expect(server.upgradeCount()).toBe(1)
        expect(events.some((e) => e._tag === "Error" && e.fatal)).toBe(true)
        expect((yield* Effect.flip(ws.send({})))._tag).toBe("InvalidStateError")
      }))
  }

  for (const code of [1008, 4401, 4403]) {
    live(`server close ${code} → fatal, no reconnect`, () =>
      Effect.gen(function*() {
        const server = yield* TestServer.make({ handler: TestServer.silent })
        const ws = yield* JetSocket.connect(server.url, { reconnect: fast, heartbeat: false })
        const failed = yield* Effect.fork(Effect.flip(Stream.runDrain(ws.messages)))
        server.closeAll(code, "policy")
        const error = yield* Fiber.join(failed)
        expect(error).toMatchObject({ _tag: "ConnectionClosedError", code, fatal: true })
        expect(yield* statesUntilEnd(ws)).toEqual(["Failed"])
        expect(server.upgradeCount()).toBe(1)
      }))
  }

  live("503 and 429 upgrades are retried until the server accepts", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({
        handler: TestServer.echo,
        upgrade: (request) => (request.index === 0 ? { status: 503 } : request.index === 1 ? { status: 429 } : "accept")
      })
      const ws = yield* JetSocket.connect<string>(server.url, { codec: "text", reconnect: fast, heartbeat: false })
      expect(server.upgradeCount()).toBe(3)
      yield* ws.sendText("ok")
      expect(yield* ws.recv({ timeout: "10 seconds" })).toBe("ok")
    }))

  live("a header Effect yields a new token per attempt, and the server sees each; the url Effect too", () =>
    Effect.gen(function*() {
      let token = 0
      let paths = 0
      const urls: Array<string> = []
      const server = yield* TestServer.make({
        handler: TestServer.echo,
        upgrade: (request) => {
          urls.push(request.url)
          return request.index === 1 ? { status: 503 } : "accept"
        }
      })
      const ws = yield* JetSocket.connect(Effect.sync(() => `${server.url}/p${++paths}`), {
        reconnect: fast,
        heartbeat: false,
        headers: Effect.sync(() => ({ authorization: `Bearer t${++token}` }))
      })
      const events = yield* recordEvents(ws)
      server.dropAll() // attempt 2 refused (503), attempt 3 accepted
      yield* until(() => events.some((e) => e._tag === "Reconnected"))
      server.dropAll()
      yield* until(() => events.filter((e) => e._tag === "Reconnected").length === 2)
      const tokens = server.requestHeaders().map((h) => h.authorization)
      expect(tokens).toEqual(["Bearer t1", "Bearer t2", "Bearer t3", "Bearer t4"])
      expect(urls).toEqual(["/p1", "/p2", "/p3", "/p4"])
    }))

  live("schedule exhausted → messages fails with the last error", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ upgrade: TestServer.refuse(503) })
      const ws = yield* JetSocket.make(server.url, { reconnect: { ...fast, maxAttempts: 3 }, heartbeat: false })
      const error = yield* Effect.flip(Stream.runDrain(ws.messages))
      expect(error).toMatchObject({ _tag: "ConnectionRefusedError", status: 503, fatal: false })
      expect(server.upgradeCount()).toBe(3)
    }))

  live("shouldReconnect makes 1001 fatal", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const ws = yield* JetSocket.connect(server.url, {
        reconnect: fast,
        heartbeat: false,
        shouldReconnect: (error: JetSocketError) => !(error._tag === "ConnectionClosedError" && error.code === 1001)
      })
      server.closeAll(1001, "maintenance")
      const error = yield* Effect.flip(Stream.runDrain(ws.messages))
      expect(error).toMatchObject({ _tag: "ConnectionClosedError", code: 1001 })
      expect(yield* statesUntilEnd(ws)).toEqual(["Failed"])
      expect(server.upgradeCount()).toBe(1)
    }))
})

describe("reconnect against an independent ws WebSocketServer", () => {
  live("server terminates TCP → reconnect; messages keeps flowing", () =>
    Effect.gen(function*() {
      const server = yield* wsServer()
      const ws = yield* JetSocket.connect<{ n: number }>(server.url, { reconnect: fast, heartbeat: false })
      const events = yield* recordEvents(ws)
      const { got } = yield* collect(ws)
      yield* ws.send({ n: 1 })
      yield* until(() => got.length === 1)
      lastOpen(server).terminate()
      yield* until(() => events.some((e) => e._tag === "Reconnected"))
      yield* ws.send({ n: 2 })
      yield* until(() => got.length === 2)
      expect(got).toEqual([{ n: 1 }, { n: 2 }])
      expect(server.sockets).toHaveLength(2)
      const downtime = events.find((e) => e._tag === "Reconnected") as Extract<JetSocketEvent, { _tag: "Reconnected" }>
      console.log(`[figure] ws server terminate → reconnected, downtime ${Duration.toMillis(downtime.downtime)} ms`)
    }))

  live("server close 1001 → reconnect", () =>
    Effect.gen(function*() {
      const server = yield* wsServer()
      const ws = yield* JetSocket.connect<string>(server.url, { codec: "text", reconnect: fast, heartbeat: false })
      const events = yield* recordEvents(ws)
      lastOpen(server).close(1001, "restart")
      yield* until(() => events.some((e) => e._tag === "Reconnected"))
      expect(events.find((e) => e._tag === "Disconnected")).toMatchObject({ code: 1001, reason: "restart" })
      yield* ws.sendText("x")
      expect(yield* ws.recv({ timeout: "10 seconds" })).toBe("x")
    }))

  live("401 → failure after exactly one attempt; 503 → retried", () =>
    Effect.gen(function*() {
      const refused = yield* wsServer({ status: () => 401 })
      const ws = yield* JetSocket.make(refused.url, { reconnect: fast, heartbeat: false })
      const error = yield* Effect.flip(ws.ready)
      expect(error).toMatchObject({ _tag: "ConnectionRefusedError", status: 401, fatal: true })
      expect(yield* statesUntilEnd(ws)).toEqual(["Failed"])
      expect(refused.upgrades).toBe(1)

      const flaky = yield* wsServer({ status: (i) => (i < 2 ? 503 : undefined) })
      const ok = yield* JetSocket.connect<string>(flaky.url, { codec: "text", reconnect: fast, heartbeat: false })
      expect(flaky.upgrades).toBe(3)
      yield* ok.sendText("up")
      expect(yield* ok.recv({ timeout: "10 seconds" })).toBe("up")
    }))

  live("a header Effect yields a new token per attempt (server sees each)", () =>
    Effect.gen(function*() {
      let token = 0
      const server = yield* wsServer({ status: (i) => (i === 1 ? 503 : undefined) })
      const ws = yield* JetSocket.connect(server.url, {
        reconnect: fast,
        heartbeat: false,
        headers: Effect.sync(() => ({ "x-token": `t${++token}` }))
      })
      const events = yield* recordEvents(ws)
      lastOpen(server).terminate()
      yield* until(() => events.some((e) => e._tag === "Reconnected"))
      // Attempt 2 was refused by verifyClient (no connection), attempt 3 connected.
      expect(server.upgrades).toBe(3)
      expect(server.requests.map((r) => r.headers["x-token"])).toEqual(["t1", "t3"])
      expect(token).toBe(3)
    }))
})
