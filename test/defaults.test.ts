/**
 * Documented defaults are promises too (JetSocket.Options' doc comments, docs/getting-started.md,
 * docs/heartbeat.md): each one exact under TestClock (the timers run on the Effect Clock), against a
 * real TestServer on 127.0.0.1 — one millisecond early nothing happens, at the default it does.
 */
import { describe, expect } from "@effect/vitest"
import { Duration, Effect, Fiber } from "effect"
import * as JetSocket from "../src/JetSocket.js"
import * as TestServer from "../src/TestServer.js"
import { advance, clock, ofTag, until } from "./fixtures/clock.js"
import { recordEvents } from "./fixtures/helpers.js"
import { wsServer } from "./fixtures/wsServer.js"

/**
 * Against a server that never answers pings: the first ping exactly `intervalMs` after connecting,
 * the pong timeout exactly 10 s (the default) after it.
 */
const pingsThenTimesOut = (heartbeat: JetSocket.JetSocket.Options["heartbeat"], intervalMs: number) =>
  Effect.gen(function*() {
    const server = yield* TestServer.make({ handler: TestServer.silent, autoPong: false })
    const ws = yield* JetSocket.connect(server.url, { reconnect: false, ...(heartbeat === undefined ? {} : { heartbeat }) })
    const events = yield* recordEvents(ws)
    const tags = () => events.map((e) => e._tag)
    yield* advance(intervalMs - 1)
    expect(tags()).toEqual([])
    yield* advance(1)
    expect(tags()).toEqual(["Ping"])
    yield* advance(10_000 - 1)
    expect(tags()).toEqual(["Ping"])
    yield* advance(1)
    yield* until(() => ofTag(events, "Error").length >= 1, "the pong timeout", 5_000)
    const error = ofTag(events, "Error")[0]!.error
    expect(error).toMatchObject({ _tag: "ConnectionTimeoutError", operation: "pong" })
    expect(error._tag === "ConnectionTimeoutError" && Duration.toMillis(error.timeout)).toBe(10_000)
  })

describe("documented defaults", () => {
  clock("request timeout: 30 seconds", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const ws = yield* JetSocket.connect<{ id: number }>(server.url, { heartbeat: false })
      const request = yield* Effect.fork(Effect.flip(ws.request({ id: 1 }, { match: (m) => m.id === 1 })))
      yield* server.waitUntil(() => server.receivedJson().length === 1)
      yield* advance(30_000 - 1)
      expect(request.unsafePoll()).toBeNull()
      yield* advance(1)
      const error = yield* Fiber.join(request)
      expect(error).toMatchObject({ _tag: "ConnectionTimeoutError", operation: "request" })
      expect(error._tag === "ConnectionTimeoutError" && Duration.toMillis(error.timeout)).toBe(30_000)
    }))

  clock("heartbeat: ping frames every 30 seconds, a 10-second pong timeout", () => pingsThenTimesOut(undefined, 30_000))

  // docs/heartbeat.md: "a duration | ping frames at that interval, 10 s timeout".
  clock("heartbeat given as a duration: pings at that interval, the default 10 s pong timeout", () =>
    pingsThenTimesOut("20 seconds", 20_000))

  clock("sendQueue: 1000 messages while disconnected; the 1001st is a BufferOverflowError", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const ws = yield* JetSocket.connect(server.url, { heartbeat: false })
      yield* server.stop
      // the clock does not move: the client stays away (backing off) as long as we need
      yield* TestServer.waitUntil(() => Effect.runSync(ws.state) === "BackingOff", 10_000).pipe(Effect.orDie)
      for (let n = 0; n < 1000; n++) yield* ws.send({ n })
      expect(yield* Effect.flip(ws.send({ n: 1000 }))).toMatchObject({ _tag: "BufferOverflowError", buffer: "send", capacity: 1000 })
      expect((yield* ws.stats).sendQueueSize).toBe(1000)
    }))

  clock("receive buffer: capacity 1000; compression: off (no permessage-deflate offered)", () =>
    Effect.gen(function*() {
      const server = yield* wsServer({ perMessageDeflate: true })
      const ws = yield* JetSocket.connect(server.url, { heartbeat: false })
      expect((yield* ws.stats).bufferCapacity).toBe(1000)
      yield* TestServer.waitUntil(() => server.sockets.length === 1, 5_000).pipe(Effect.orDie)
      expect(server.requests[0]!.headers["sec-websocket-extensions"]).toBeUndefined()
      expect(server.sockets[0]!.extensions).toBe("")
    }))
})
