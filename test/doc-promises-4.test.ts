/**
 * Documented defaults of the connection pool (docs/connection-pool.md's configuration table), the
 * multiplexer (docs/multiplexing.md: `queueSize` 1000, `overflowPolicy` "backpressure") and the
 * presets (docs/presets.md's table), checked black-box through the public API against a real server
 * on 127.0.0.1, on the TestClock where the promise is about time: one millisecond early nothing
 * happens, at the default it does.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber } from "effect"
import * as ConnectionPool from "../src/ConnectionPool.js"
import * as Multiplex from "../src/Multiplex.js"
import * as Presets from "../src/Presets.js"
import * as TestServer from "../src/TestServer.js"
import { binanceOptions, exchange } from "./fixtures/exchange.js"
import { advance, clock, live, until } from "./fixtures/clock.js"

/** Pongs a client has seen (its latency histogram counts each round trip once). */
const pongs = (ws: { readonly stats: Effect.Effect<{ readonly latencyHistogram: ReadonlyArray<{ readonly count: number }> }> }) =>
  Effect.runSync(ws.stats).latencyHistogram.reduce((sum, bucket) => sum + bucket.count, 0)

/** An echo server that counts the ping frames it gets. */
const pingCounting = Effect.gen(function*() {
  const counter = { pings: 0 }
  const server = yield* TestServer.make({
    handler: (connection) => {
      connection.socket.on("ping", () => counter.pings++)
      TestServer.echo(connection)
    }
  })
  return { server, counter }
})

// The client's own heartbeat is off so that only the pool's health check pings; every pool option
// under test is left out.
const connectOptions = { heartbeat: false } as const

describe("documented defaults of the connection pool", () => {
  // "maxConnections | 10 | the most connections open at once"; "acquireTimeout | 30 seconds | how long
  // acquire may wait (PoolExhaustedError ...)".
  clock("maxConnections 10: the 11th acquire waits, and fails after exactly 30 seconds", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const pool = yield* ConnectionPool.make({ baseUrl: server.url, connectOptions })
      for (let i = 0; i < 10; i++) yield* pool.acquire("/a")
      expect(yield* pool.stats).toMatchObject({ active: 10, total: 10, waiting: 0 })
      const waiter = yield* Effect.fork(Effect.scoped(pool.acquire("/a")))
      yield* until(() => Effect.runSync(pool.stats).waiting === 1, "the 11th to queue")
      expect(server.connectionCount()).toBe(10)
      yield* advance(30_000 - 1)
      expect(waiter.unsafePoll()).toBeNull()
      yield* advance(1)
      yield* until(() => waiter.unsafePoll() !== null, "the acquire timeout", 2_000)
      const error = yield* Effect.flip(Fiber.join(waiter))
      expect(error).toMatchObject({ _tag: "PoolExhaustedError", maxConnections: 10 })
      expect(error._tag === "PoolExhaustedError" && Duration.toMillis(error.timeout)).toBe(30_000)
      expect(server.peakConnections()).toBe(10)
    }))

  // "healthCheckInterval | 30 seconds | idle connections are pinged this often"; "maxIdleTime |
  // 5 minutes | an idle connection unused for this long is closed".
  clock("an idle connection is pinged every 30 seconds and closed after 5 minutes unused", () =>
    Effect.gen(function*() {
      const { counter, server } = yield* pingCounting
      const pool = yield* ConnectionPool.make({ baseUrl: server.url, connectOptions })
      const ws = yield* Effect.scoped(pool.acquire("/a"))
      expect(yield* pool.stats).toMatchObject({ idle: 1, total: 1 })
      for (let i = 1; i <= 9; i++) {
        yield* advance(30_000 - 1)
        expect(counter.pings).toBe(i - 1)
        yield* advance(1)
        yield* until(() => counter.pings === i && pongs(ws) === i, `health check ${i}`)
      }
      // 4 min 30 s idle: 30 s more, one millisecond short of 5 minutes, it is still there.
      yield* advance(30_000 - 1)
      expect(server.closes()).toEqual([])
      expect(yield* pool.stats).toMatchObject({ idle: 1, total: 1, closed: 0 })
      yield* advance(1)
      yield* until(() => server.closes().length === 1, "the idle close")
      expect(server.closes()).toEqual([{ connection: 0, code: 1000, reason: "" }])
      yield* until(() => Effect.runSync(pool.stats).total === 0, "the close to finish")
      expect(yield* pool.stats).toMatchObject({ idle: 0, closed: 1 })
    }))

  // "healthCheckTimeout | 5 seconds | how long a health-check ping waits for its pong".
  clock("a health-check ping unanswered for 5 seconds closes the connection", () =>
    Effect.gen(function*() {
      const { counter, server } = yield* pingCounting
      server.setAutoPong(false)
      const pool = yield* ConnectionPool.make({ baseUrl: server.url, connectOptions })
      yield* Effect.scoped(pool.acquire("/a"))
      yield* advance(30_000)
      yield* until(() => counter.pings === 1, "the health check")
      yield* advance(5000 - 1)
      expect(server.closes()).toEqual([])
      expect(yield* pool.stats).toMatchObject({ idle: 1, total: 1 })
      yield* advance(1)
      yield* until(() => server.closes().length === 1, "the eviction")
      expect(server.closes()[0]!.code).toBe(1000)
      yield* until(() => Effect.runSync(pool.stats).total === 0, "the close to finish")
    }))
})

describe("documented defaults of the multiplexer", () => {
  // multiplexing.md: "queueSize | per-subscription queue size (default 1000)", "overflowPolicy |
  // "backpressure" (default)": a full subscription pauses routing, nothing is lost.
  live("a subscription holds 1000 messages, then routing holds until it is read; nothing lost", () =>
    Effect.gen(function*() {
      const server = exchange("binance")
      const ts = yield* TestServer.make({ handler: server.handler })
      // binanceOptions sets neither queueSize nor overflowPolicy: the defaults apply
      const mux = yield* Multiplex.make(ts.url, binanceOptions)
      const slow = yield* mux.subscribe("slow@trade")
      const probe = yield* mux.subscribe("probe@trade")
      yield* ts.waitUntil(() => server.isSubscribed("slow@trade") && server.isSubscribed("probe@trade"))
      for (let i = 1; i <= 1200; i++) server.publish("slow@trade", { i })
      yield* until(() => Effect.runSync(mux.client.stats).messagesReceived === 1200, "all 1200 at the client")
      yield* until(() => Effect.runSync(mux.stats).totalMessagesRouted >= 1000, "1000 routed")
      // A probe sent now reaches the client a round trip later, and still nothing more is routed
      // (the router routes a chunk in one synchronous loop: it is seen at 1000 only if it held there).
      server.publish("probe@trade", { i: 1 })
      yield* until(() => Effect.runSync(mux.client.stats).messagesReceived === 1201, "the probe at the client")
      expect((yield* mux.stats).totalMessagesRouted).toBe(1000)
      expect(yield* slow.stats).toMatchObject({ received: 1000, queued: 1000, dropped: 0 })
      expect((yield* probe.stats).received).toBe(0)
      let next = 1
      while (next <= 1200) {
        const m = (yield* slow.recv({ timeout: "5 seconds" })) as { data: { i: number } }
        expect(m.data.i).toBe(next++)
      }
      expect((yield* probe.recv({ timeout: "5 seconds" })) as unknown).toEqual({ stream: "probe@trade", data: { i: 1 } })
      expect((yield* slow.stats).dropped).toBe(0)
    }))
})

describe("the presets' documented values", () => {
  // presets.md's table: "0.5 s → 30 s, ×2, jitter, forever", "1 s → 10 s, ×2, jitter, 5 attempts",
  // "2 s → 60 s, ×2, jitter, forever"; dashboard's heartbeat "30 s" (the default 10 s timeout).
  // test/Presets.test.ts checks the rest of each row.
  it("each preset's backoff: the documented base, cap, ×2, jitter and attempts", () => {
    expect(Presets.trading.reconnect).toEqual({ base: "500 millis", multiplier: 2, cap: "30 seconds", jitter: true, maxAttempts: 0 })
    expect(Presets.llmStream.reconnect).toEqual({ base: "1 second", multiplier: 2, cap: "10 seconds", jitter: true, maxAttempts: 5 })
    expect(Presets.dashboard.reconnect).toEqual({ base: "2 seconds", multiplier: 2, cap: "60 seconds", jitter: true, maxAttempts: 0 })
    expect(Presets.dashboard.heartbeat).toEqual({ interval: "30 seconds" })
    expect(Presets.minimal.reconnect).toBe(true)
  })
})
