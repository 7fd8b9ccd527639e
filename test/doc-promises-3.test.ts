/**
 * Documented defaults of the client (docs/getting-started.md "What you get without asking",
 * docs/reconnection.md's `BackoffConfig` table, docs/heartbeat.md, docs/buffering.md, and
 * `JetSocket.Options`' doc comments), each checked black-box through the public API against a real
 * server on 127.0.0.1, on the TestClock where the promise is about time: one millisecond early
 * nothing happens, at the default it does. test/defaults.test.ts has the request timeout, the
 * heartbeat's 30 s / 10 s (omitted or given as a duration), the send queue's 1000, the buffer's
 * capacity and compression off.
 */
import { describe, expect } from "@effect/vitest"
import { Duration, Effect, Fiber, Random, Stream } from "effect"
import * as JetSocket from "../src/JetSocket.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"
import * as Transport from "../src/Transport.js"
import { closedPort, recordEvents } from "./fixtures/helpers.js"
import { advance, clock, live, ofTag, until } from "./fixtures/clock.js"

/**
 * The Node transport, recording every request the client makes and the timeout of every close; with
 * `enforcesConnectTimeout: false` and an hour for the handshake, so that the client times it itself
 * (on the Effect Clock).
 */
const recording = (options: { readonly clientTimesHandshake: boolean }) => {
  const requests: Array<Transport.ConnectRequest> = []
  const closeTimeouts: Array<Duration.Duration> = []
  const transport = Transport.make("recording", (request) => {
    requests.push(request)
    const forwarded = options.clientTimesHandshake ? { ...request, connectTimeout: Duration.hours(1) } : request
    return Effect.map(NodeTransport.transport.connect(forwarded), (connection): Transport.Connection => ({
      protocol: connection.protocol,
      extensions: connection.extensions,
      canPing: connection.canPing,
      isOpen: () => connection.isOpen(),
      send: (data, onWritten) => connection.send(data, onWritten),
      ping: (data) => connection.ping(data),
      pause: () => connection.pause(),
      resume: () => connection.resume(),
      close: (code, reason, timeout) => {
        closeTimeouts.push(timeout)
        return connection.close(code, reason, timeout)
      }
    }))
  }, { enforcesConnectTimeout: !options.clientTimesHandshake })
  return { transport, requests, closeTimeouts }
}

describe("documented defaults of the client", () => {
  // JetSocket.Options: connectTimeout "Default 10 seconds", closeTimeout "Default 5 seconds",
  // maxMessageSize "default 64 MiB", compression "`true` (threshold 1024 bytes), `false` (default)";
  // getting-started.md: close "bounded by `closeTimeout`, 5 s". The Node transport times the
  // handshake and the close with its own (real) timers: what the client hands it is checked here, the
  // timers themselves in test/NodeTransport.test.ts; the client's own timing of the handshake below.
  live("the transport is asked for connectTimeout 10 s, maxMessageSize 64 MiB, no compression; close waits 5 s", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const { closeTimeouts, requests, transport } = recording({ clientTimesHandshake: false })
      const ws = yield* JetSocket.connect(server.url, { heartbeat: false }).pipe(Effect.provideService(Transport.Transport, transport))
      expect(requests).toHaveLength(1)
      expect(Duration.toMillis(requests[0]!.connectTimeout)).toBe(10_000)
      expect(requests[0]!.maxMessageSize).toBe(64 * 1024 * 1024)
      expect(requests[0]!.compression).toBe(false)
      yield* ws.close()
      expect(closeTimeouts.map(Duration.toMillis)).toEqual([5000])
      // compression: true means a threshold of 1024 bytes
      yield* JetSocket.connect(server.url, { heartbeat: false, compression: true }).pipe(Effect.provideService(Transport.Transport, transport))
      expect(requests[1]!.compression).toEqual({ threshold: 1024 })
    }))

  // reconnection.md's table: "connect timeout | ConnectionTimeoutError { operation: "connect" }"; the
  // default 10 s, exact on the TestClock where the client times the handshake.
  clock("connectTimeout: a handshake never answered fails after exactly 10 seconds", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ upgrade: TestServer.hang })
      const { transport } = recording({ clientTimesHandshake: true })
      const connecting = yield* Effect.fork(
        Effect.flip(JetSocket.connect(server.url, { heartbeat: false, reconnect: false })).pipe(
          Effect.provideService(Transport.Transport, transport)
        )
      )
      yield* until(() => server.upgradeCount() === 1, "the upgrade request")
      yield* advance(10_000 - 1)
      expect(connecting.unsafePoll()).toBeNull()
      yield* advance(1)
      yield* until(() => connecting.unsafePoll() !== null, "the connect timeout", 2_000)
      const error = yield* Fiber.join(connecting)
      expect(error).toMatchObject({ _tag: "ConnectionTimeoutError", operation: "connect" })
      expect(error._tag === "ConnectionTimeoutError" && Duration.toMillis(error.timeout)).toBe(10_000)
    }))

  // getting-started.md: "reconnect — 1 s × 2 up to 60 s, full jitter, forever"; reconnection.md's
  // table: base 1 s, multiplier 2, cap 60 s, jitter true (each delay uniform in [0, capped delay]),
  // maxAttempts 0 = forever. With Random fixed at 0.5, full jitter halves each capped delay exactly.
  clock("reconnect: 1 s × 2 capped at 60 s, full jitter, never giving up", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const ws = yield* JetSocket.make(`ws://127.0.0.1:${port}`, { heartbeat: false })
      const events = yield* recordEvents(ws)
      const expected = [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000, 30_000, 30_000]
      for (let k = 0; k < expected.length; k++) {
        yield* until(() => ofTag(events, "Reconnecting").length === k + 1, `Reconnecting ${k + 1}`)
        const reconnecting = ofTag(events, "Reconnecting")[k]!
        expect(reconnecting.attempt).toBe(k + 2)
        expect(Duration.toMillis(reconnecting.delay)).toBe(expected[k])
        yield* advance(expected[k]! - 1)
        expect(ofTag(events, "Connecting")).toHaveLength(k + 1)
        yield* advance(1)
        yield* until(() => ofTag(events, "Connecting").length === k + 2, `attempt ${k + 2}`)
      }
      expect(ofTag(events, "Error").every((e) => !e.fatal)).toBe(true)
      expect(yield* ws.state).not.toBe("Failed")
    }).pipe(Effect.withRandom(Random.fixed([0.5]))))

  // getting-started.md: "a connection that stayed up 60 s starts the next outage afresh";
  // reconnection.md: resetAfter "60 seconds": up that long → reconnect at once (attempt 1); up less
  // → the schedule continues (a delay first).
  clock("resetAfter: a connection up 59.999 s continues the schedule; one up 60 s reconnects at once", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const ws = yield* JetSocket.connect(server.url, { heartbeat: false })
      const events = yield* recordEvents(ws)
      yield* advance(60_000 - 1)
      server.dropAll()
      yield* until(() => ofTag(events, "Reconnecting").length === 1, "Reconnecting")
      expect(Duration.toMillis(ofTag(events, "Reconnecting")[0]!.delay)).toBe(500)
      expect(server.connectionCount()).toBe(1)
      yield* advance(500)
      yield* until(() => server.connectionCount() === 2 && ofTag(events, "Reconnected").length === 1, "the second connection")
      yield* advance(60_000)
      server.dropAll()
      // no clock movement: the third connection comes at once, as attempt 1
      yield* until(() => server.connectionCount() === 3 && ofTag(events, "Reconnected").length === 2, "the third connection")
      expect(ofTag(events, "Reconnecting")).toHaveLength(1)
      expect(ofTag(events, "Connecting").map((e) => e.attempt)).toEqual([1, 1])
    }).pipe(Effect.withRandom(Random.fixed([0.5]))))

  // getting-started.md: "a bounded receive buffer — 1000 messages with backpressure: when your consumer
  // lags, the socket stops being read; nothing is dropped"; buffering.md: "backpressure" (default).
  live("the default buffer policy is backpressure: a consumer that lags loses nothing, order kept", () =>
    Effect.gen(function*() {
      const total = 3000
      const server = yield* TestServer.make({ handler: TestServer.sequenced({ to: total }) })
      const ws = yield* JetSocket.connect<{ seq: number }>(server.url, { heartbeat: false })
      // Nobody reads: the buffer fills to its capacity and reading stops.
      yield* until(() => Effect.runSync(ws.stats).bufferSize >= 1000, "a full buffer")
      const seqs = yield* ws.messages.pipe(
        Stream.take(total),
        Stream.map((m) => m.seq),
        Stream.runCollect,
        Effect.timeout("5 seconds")
      )
      expect(Array.from(seqs)).toEqual(Array.from({ length: total }, (_, i) => i + 1))
      expect((yield* ws.stats).dropped).toBe(0)
    }))

  // JetSocket.Options: maxConnectionAge "Replace the connection after this long, make-before-break
  // (default: never)": with it unset, a connection up for the longest timer delay there is (2^31 - 1 ms,
  // ~24.8 days) is still the first one.
  clock("maxConnectionAge: by default a connection is never replaced", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const ws = yield* JetSocket.connect(server.url, { heartbeat: false })
      const events = yield* recordEvents(ws)
      for (let day = 1; day <= 24; day++) yield* advance(24 * 60 * 60 * 1000)
      yield* advance(2 ** 31 - 1 - 24 * 24 * 60 * 60 * 1000)
      // a round trip after: a rotation begun by the clock would have opened its socket by now
      yield* ws.send({ still: "here" })
      const echoed = yield* Effect.fork(ws.recv())
      yield* until(() => echoed.unsafePoll() !== null, "the echo", 5_000)
      expect(yield* Fiber.join(echoed)).toEqual({ still: "here" })
      expect(server.connectionCount()).toBe(1)
      expect(ofTag(events, "Connecting")).toEqual([])
    }))
})
