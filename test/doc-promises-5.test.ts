/**
 * Documented promises that had no test, or only one that could not fail (round four): each test
 * names the page and quotes the promise. Black-box through the public API against a real server on
 * 127.0.0.1, on the TestClock where the promise is about time.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Schema, Stream, TestClock } from "effect"
import * as JetSocket from "../src/JetSocket.js"
import type { JetSocketEvent } from "../src/JetSocketEvent.js"
import * as Multiplex from "../src/Multiplex.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"
import { binanceOptions, exchange } from "./fixtures/exchange.js"
import { recordEvents, sendMarker } from "./fixtures/helpers.js"
import { makeSdk, points } from "./observability-sdk.js"
import { advance, clock, live, ofTag, until } from "./fixtures/clock.js"

describe("documented promises, round four", () => {
  // heartbeat.md's HeartbeatConfig table: interval default "30 seconds", timeout default "10 seconds".
  clock("a HeartbeatConfig without interval pings every 30 s; one without timeout waits 10 s for the pong", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent, autoPong: false })
      const a = yield* JetSocket.connect(server.url, { reconnect: false, heartbeat: { timeout: "3 seconds" } })
      const b = yield* JetSocket.connect(server.url, { reconnect: false, heartbeat: { interval: "5 seconds" } })
      const eventsA = yield* recordEvents(a)
      const eventsB = yield* recordEvents(b)
      const tags = (events: ReadonlyArray<JetSocketEvent>) => events.map((e) => e._tag)
      yield* advance(5000)
      expect(tags(eventsB)).toEqual(["Ping"])
      // b's pong deadline: 10 s after its ping (it pings again at 10 s, but a missing pong ends it first)
      yield* advance(10_000 - 1)
      expect(ofTag(eventsB, "Error")).toEqual([])
      expect(tags(eventsA)).toEqual([])
      yield* advance(1)
      yield* until(() => ofTag(eventsB, "Error").length >= 1, "b's pong timeout")
      expect(ofTag(eventsB, "Error")[0]!.error).toMatchObject({ _tag: "ConnectionTimeoutError", operation: "pong" })
      // a: its first ping at 30 s
      yield* advance(30_000 - 15_000 - 1)
      expect(tags(eventsA)).toEqual([])
      yield* advance(1)
      expect(tags(eventsA)).toEqual(["Ping"])
    }))

  // heartbeat.md: pongMatcher "Without it any incoming message counts as the pong (and is delivered)".
  clock("an application ping without pongMatcher: any incoming message is the pong, and is delivered", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({
        handler: (connection) => connection.onMessage(() => connection.send({ type: "anything" }))
      })
      const ws = yield* JetSocket.connect(server.url, {
        reconnect: false,
        heartbeat: { interval: "5 seconds", timeout: "2 seconds", payload: { type: "ping" } }
      })
      const events = yield* recordEvents(ws)
      yield* advance(5000)
      yield* until(() => ofTag(events, "Pong").length === 1, "the pong")
      // (the clock is the TestClock: a recv timeout would never fire; bound the wait in real time)
      const received = yield* Effect.fork(ws.recv())
      yield* until(() => received.unsafePoll() !== null, "the message", 2_000)
      expect(yield* Fiber.join(received)).toEqual({ type: "anything" })
      expect(server.receivedJson()).toEqual([{ type: "ping" }])
      // answered: its deadline passes without a timeout
      yield* advance(2000)
      expect(ofTag(events, "Error")).toEqual([])
      expect(yield* ws.state).toBe("Connected")
    }))

  // buffering.md's replay table: `"none"` (default) — "nothing more than the send queue": no replay,
  // so no ReplayStarted/ReplayCompleted events on a reconnect.
  live("replay mode none is the default: a reconnect brings no replay events", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const ws = yield* JetSocket.connect(server.url, { heartbeat: false, reconnect: { base: "5 millis", jitter: false } })
      const events = yield* recordEvents(ws)
      server.dropAll()
      yield* until(() => ofTag(events, "Reconnected").length === 1, "the reconnect")
      // a message echoed on the new connection: its hooks and any replay ran before it was delivered
      yield* ws.send({ after: true })
      expect(yield* ws.recv({ timeout: "5 seconds" })).toEqual({ after: true })
      expect(events.filter((e) => e._tag === "ReplayStarted" || e._tag === "ReplayCompleted")).toEqual([])
    }))

  // buffering.md: "`buffer: 5000` is shorthand for `{ capacity: 5000 }`" (the policy stays "backpressure").
  live("buffer: N is a capacity of N with the default policy", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.sequenced({ to: 50 }) })
      const ws = yield* JetSocket.connect<{ seq: number }>(server.url, { heartbeat: false, buffer: 20 })
      expect((yield* ws.stats).bufferCapacity).toBe(20)
      yield* until(() => Effect.runSync(ws.stats).bufferSize >= 20, "a full buffer")
      const seqs = yield* ws.messages.pipe(Stream.take(50), Stream.map((m) => m.seq), Stream.runCollect, Effect.timeout("5 seconds"))
      expect(Array.from(seqs)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
      expect((yield* ws.stats).dropped).toBe(0)
    }))

  // multiplexing.md: "`channelExtractor(message)` (a function ...; it wins over `channelKey`)".
  live("Multiplex: channelExtractor wins over channelKey", () =>
    Effect.gen(function*() {
      const server = exchange("binance")
      const ts = yield* TestServer.make({ handler: server.handler })
      // routes by the data's `to` field, not by `stream`
      const mux = yield* Multiplex.make(ts.url, {
        ...binanceOptions,
        channelExtractor: (m) => (m as { data?: { to?: string } }).data?.to
      })
      const a = yield* mux.subscribe("a@trade")
      const b = yield* mux.subscribe("b@trade")
      yield* ts.waitUntil(() => server.isSubscribed("a@trade") && server.isSubscribed("b@trade"))
      server.publish("a@trade", { to: "b@trade", n: 1 })
      server.publish("b@trade", { to: "a@trade", n: 2 })
      expect(((yield* b.recv({ timeout: "5 seconds" })) as { data: { n: number } }).data.n).toBe(1)
      expect(((yield* a.recv({ timeout: "5 seconds" })) as { data: { n: number } }).data.n).toBe(2)
      expect((yield* mux.stats).unroutableMessages).toBe(0)
    }))

  // multiplexing.md: "A full subscription pauses the single router fiber until its consumer has taken
  // half of its queue": one message short of half, routing stays held.
  live("Multiplex backpressure: routing resumes when half the queue is taken, not one message before", () =>
    Effect.gen(function*() {
      const server = exchange("binance")
      const ts = yield* TestServer.make({ handler: server.handler })
      const mux = yield* Multiplex.make(ts.url, binanceOptions)
      const slow = yield* mux.subscribe("slow@trade", { queueSize: 6 })
      const probe = yield* mux.subscribe("probe@trade")
      yield* ts.waitUntil(() => server.isSubscribed("slow@trade") && server.isSubscribed("probe@trade"))
      for (let i = 1; i <= 6; i++) server.publish("slow@trade", { i })
      yield* until(() => Effect.runSync(mux.stats).totalMessagesRouted >= 6, "slow full")
      // two of six taken (one short of half): still held — a probe sent now waits in the client's buffer
      yield* slow.recv()
      yield* slow.recv()
      server.publish("probe@trade", { i: 1 })
      yield* until(() => Effect.runSync(mux.client.stats).messagesReceived === 7, "the probe at the client")
      yield* sendMarker(mux.client.send, () => server.raw)
      expect((yield* mux.stats).totalMessagesRouted).toBe(6)
      expect((yield* probe.stats).received).toBe(0)
      // the third: half taken, routing resumes
      yield* slow.recv()
      expect((yield* probe.recv({ timeout: "5 seconds" })) as unknown).toEqual({ stream: "probe@trade", data: { i: 1 } })
    }))

  // errors.md / typed-messages.md: InvalidMessageError's `preview` is "a bounded excerpt of the frame
  // (at most 200 characters, or the first 32 bytes of a binary frame)".
  live("InvalidMessageError's preview: the first 200 characters of a text frame, the first 32 bytes of a binary one", () =>
    Effect.gen(function*() {
      const text = "ab".repeat(5000)
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const Message = Schema.Struct({ n: Schema.Number })
      const ws = yield* JetSocket.connect(server.url, { heartbeat: false, reconnect: false, schema: Message, strict: false })
      const events = yield* recordEvents(ws)
      server.connections()[0]!.send(new TextEncoder().encode(text))
      server.broadcast(text)
      server.broadcast({ n: 1 })
      // messages are decoded as they are read: the two invalid ones are skipped on the way to the third
      expect(yield* ws.recv({ timeout: "5 seconds" })).toEqual({ n: 1 })
      yield* until(() => ofTag(events, "ValidationError").length === 2, "two invalid messages")
      const [binary, textual] = ofTag(events, "ValidationError").map((e) => (e.error._tag === "InvalidMessageError" ? e.error.preview : ""))
      expect(textual!.startsWith(text.slice(0, 200))).toBe(true)
      expect(textual!.includes(text.slice(0, 201))).toBe(false)
      const hex = (n: number) => Array.from(new TextEncoder().encode(text).slice(0, n), (b) => b.toString(16).padStart(2, "0")).join("")
      expect(binary).toContain(hex(32))
      expect(binary).not.toContain(hex(33))
    }))

  // errors.md: ConnectionRefusedError's `body?` is "(first 1 KiB)" of a refused upgrade's body.
  live("a refused upgrade's body on the error: its first 1 KiB, exactly", () =>
    Effect.gen(function*() {
      const body = Array.from({ length: 4000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join("")
      const server = yield* TestServer.make({ upgrade: TestServer.refuse(403, { body }) })
      const error = yield* Effect.flip(JetSocket.connect(server.url, { heartbeat: false }))
      expect(error).toMatchObject({ _tag: "ConnectionRefusedError", status: 403, fatal: true })
      expect(error._tag === "ConnectionRefusedError" && error.body).toBe(body.slice(0, 1024))
    }))

  // concepts.md: "Every event has a `timestamp` from Effect's `Clock`, so tests under `TestClock` are
  // deterministic."
  clock("events are stamped with Effect's Clock (the TestClock here), not the wall clock", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      yield* TestClock.adjust(12_345)
      const ws = yield* JetSocket.make(server.url, { heartbeat: false, reconnect: { base: "1 second", jitter: false } })
      const events = yield* recordEvents(ws)
      yield* ws.ready
      yield* until(() => ofTag(events, "Connected").length === 1, "Connected")
      yield* advance(1000)
      server.dropAll()
      yield* until(() => ofTag(events, "Reconnecting").length === 1, "Reconnecting")
      expect(events.map((e) => [e._tag, e.timestamp])).toEqual([
        ["Connecting", 12_345],
        ["Connected", 12_345],
        ["Disconnected", 13_345],
        ["Error", 13_345],
        ["Reconnecting", 13_345]
      ])
    }))

  // getting-started.md: the metrics are "flushed at most once a second while messages flow";
  // observability.md: "after a chunk the consumer takes, once a second has passed since the last one".
  it.scoped("metrics: a message taken 999 ms after the last flush is not flushed yet; one taken at 1 s is", () => {
    const { exported, layer } = makeSdk()
    return Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const name = "flush-once-a-second"
      const labels = { "jetsocket.name": name, "server.address": "127.0.0.1", "server.port": String(server.port) }
      // connected: a state change, so a flush at 0 ms
      const ws = yield* JetSocket.connect(server.url, { name, heartbeat: false, reconnect: false })
      const received = () =>
        Effect.map(exported.metrics, (metrics) => points(metrics, "jetsocket_messages_received_total", labels).map((p) => p.value))
      const take = (n: number) =>
        Effect.gen(function*() {
          server.broadcast({ n })
          const fiber = yield* Effect.fork(ws.recv())
          yield* until(() => fiber.unsafePoll() !== null, `message ${n}`, 5_000)
          expect(yield* Fiber.join(fiber)).toEqual({ n })
        })
      const before = yield* received()
      yield* take(1)
      yield* advance(999)
      yield* take(2)
      expect(yield* received()).toEqual(before)
      yield* advance(1)
      yield* take(3)
      expect(yield* received()).toEqual([3])
    }).pipe(Effect.provide(NodeTransport.layer), Effect.provide(layer))
  }, 30_000)

  // JetSocket.ts: events — "a slow subscriber only loses its own oldest events";
  // getting-started.md: `subscribeEvents` "sees every event from here on", as long as it keeps up
  // within the last 128 (each subscriber has its own window of the latest 128).
  live("a subscriber that falls behind loses only its own oldest events: it keeps the latest 128", () =>
    Effect.gen(function*() {
      const total = 300
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const ws = yield* JetSocket.connect(server.url, { heartbeat: false, reconnect: false, schema: Schema.Struct({ n: Schema.Number }), strict: false })
      const slow = yield* ws.subscribeEvents // subscribed, not read until the end
      const fast = yield* recordEvents(ws)
      // In rounds of 50 (a burst of more than 128 at once would outrun any subscriber): reading
      // decodes, each invalid message is one ValidationError event; the reader keeps up.
      for (let round = 0; round < total / 50; round++) {
        for (let i = 1; i <= 50; i++) server.broadcast({ n: String(round * 50 + i) })
        server.broadcast({ n: round })
        expect(yield* ws.recv({ timeout: "10 seconds" })).toEqual({ n: round })
        yield* until(() => ofTag(fast, "ValidationError").length === (round + 1) * 50, `round ${round}`)
      }
      const previews = (events: ReadonlyArray<JetSocketEvent>) =>
        ofTag(events, "ValidationError").map((e) => (e.error._tag === "InvalidMessageError" ? e.error.preview : ""))
      const all = previews(fast)
      const kept = yield* slow.pipe(Stream.take(128), Stream.runCollect, Effect.timeout("5 seconds"))
      expect(previews(Array.from(kept))).toEqual(all.slice(total - 128))
    }))
})
