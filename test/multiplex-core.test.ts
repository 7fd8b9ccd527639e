import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Fiber, Schedule, Schema, Scope, Stream } from "effect"
import * as Multiplex from "../src/Multiplex.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"
import { binanceOptions, exchange } from "./fixtures/exchange.js"
import { sendMarker } from "./fixtures/helpers.js"

/** A marker through the multiplexer's client: what it sent before has reached the server. */
const marker = (mux: Multiplex.Multiplex, server: ReturnType<typeof exchange>) => sendMarker(mux.client.send, () => server.raw)

const take = <A>(stream: Stream.Stream<A, unknown>, n: number) =>
  stream.pipe(Stream.take(n), Stream.runCollect, Effect.map(Chunk.toReadonlyArray), Effect.timeout("10 seconds"))

describe("Multiplex", () => {
  it.scopedLive("routes by channelKey (Binance-like) and counts unroutable messages", () =>
    Effect.gen(function*() {
      const server = exchange("binance")
      const ts = yield* TestServer.make({ handler: server.handler })
      const mux = yield* Multiplex.make(ts.url, binanceOptions)
      const btc = yield* mux.subscribe("btcusdt@trade")
      const eth = yield* mux.subscribe("ethusdt@trade")
      yield* ts.waitUntil(() => server.isSubscribed("btcusdt@trade") && server.isSubscribed("ethusdt@trade"))
      // The unrouted stream subscribes when it starts running: send unroutable probes (bounded) until
      // the subscriber has seen one, so it is attached before the messages under test (no sleep decides it).
      const unrouted: Array<unknown> = []
      yield* Effect.forkScoped(Stream.runForEach(mux.unrouted, (m) => Effect.sync(() => unrouted.push(m))))
      let probes = 0
      while (unrouted.length === 0 && probes < 50) {
        ts.broadcast({ probe: ++probes })
        yield* TestServer.waitUntil(() => unrouted.length > 0, "200 millis").pipe(Effect.ignore)
      }
      expect(unrouted.length).toBeGreaterThan(0)
      const isProbe = (m: unknown) => typeof m === "object" && m !== null && "probe" in m
      for (let i = 1; i <= 5; i++) {
        server.publish("btcusdt@trade", { i })
        server.publish("ethusdt@trade", { i: i * 10 })
      }
      server.publish("xrpusdt@trade", { i: 1 }, true)
      ts.broadcast({ result: null, id: 1 })
      expect((yield* take(btc.messages, 5)).map((m: any) => m.data.i)).toEqual([1, 2, 3, 4, 5])
      expect((yield* take(eth.messages, 5)).map((m: any) => m.data.i)).toEqual([10, 20, 30, 40, 50])
      yield* TestServer.waitUntil(() => unrouted.filter((m) => !isProbe(m)).length >= 2, "10 seconds")
      expect(unrouted.filter((m) => !isProbe(m))).toEqual([{ stream: "xrpusdt@trade", data: { i: 1 } }, { result: null, id: 1 }])
      const stats = yield* mux.stats
      expect(stats.totalMessagesRouted).toBe(10)
      expect(stats.unroutableMessages).toBe(2 + probes)
      expect(stats.activeSubscriptions).toBe(2)
      expect(yield* mux.subscriptions).toEqual(["btcusdt@trade", "ethusdt@trade"])
      expect((yield* btc.stats).received).toBe(5)
    }).pipe(Effect.provide(NodeTransport.layer)))

  it.scopedLive("routes by channelExtractor (Bybit-like), with a typed channel", () =>
    Effect.gen(function*() {
      const server = exchange("bybit")
      const ts = yield* TestServer.make({ handler: server.handler })
      const mux = yield* Multiplex.make(ts.url, {
        channelExtractor: (m) => (m as { topic?: string }).topic,
        subscribeMessage: (topic) => ({ op: "subscribe", args: [topic] }),
        unsubscribeMessage: (topic) => ({ op: "unsubscribe", args: [topic] }),
        heartbeat: false
      })
      const Trade = Schema.Struct({ topic: Schema.String, data: Schema.Struct({ p: Schema.NumberFromString }) })
      const trades = yield* mux.subscribe("publicTrade.BTCUSDT", { schema: Trade })
      yield* ts.waitUntil(() => server.isSubscribed("publicTrade.BTCUSDT"))
      server.publish("publicTrade.BTCUSDT", { p: "42000.5" })
      server.publish("publicTrade.BTCUSDT", { p: "not a number" })
      server.publish("publicTrade.BTCUSDT", { p: "7" })
      const first = yield* trades.recv({ timeout: "5 seconds" })
      expect(first.data.p).toBe(42000.5)
      const invalid = yield* Effect.flip(trades.recv({ timeout: "5 seconds" }))
      expect(invalid._tag).toBe("InvalidMessageError")
      expect((yield* trades.recv({ timeout: "5 seconds" })).data.p).toBe(7)
    }).pipe(Effect.provide(NodeTransport.layer)))

  it.scopedLive("leaving a subscription's scope unsubscribes; shared channels are reference counted", () =>
    Effect.gen(function*() {
      const server = exchange("binance")
      const ts = yield* TestServer.make({ handler: server.handler })
      const mux = yield* Multiplex.make(ts.url, binanceOptions)
      const scopeA = yield* Scope.make()
      const scopeB = yield* Scope.make()
      const a = yield* Scope.extend(mux.subscribe("btcusdt@trade"), scopeA)
      const b = yield* Scope.extend(mux.subscribe("btcusdt@trade"), scopeB)
      yield* ts.waitUntil(() => server.isSubscribed("btcusdt@trade"))
      server.publish("btcusdt@trade", { i: 1 })
      // Both subscribers of the shared channel get every message.
      expect((yield* a.recv({ timeout: "5 seconds" })) as unknown).toEqual({ stream: "btcusdt@trade", data: { i: 1 } })
      expect((yield* b.recv({ timeout: "5 seconds" })) as unknown).toEqual({ stream: "btcusdt@trade", data: { i: 1 } })
      expect(server.subscribes.get("btcusdt@trade")).toBe(1)

      yield* Scope.close(scopeA, Exit.void)
      expect(yield* a.isActive).toBe(false)
      expect(yield* b.isActive).toBe(true)
      yield* marker(mux, server)
      expect(server.unsubscribes.get("btcusdt@trade")).toBeUndefined()

      yield* Scope.close(scopeB, Exit.void)
      yield* ts.waitUntil(() => server.unsubscribes.get("btcusdt@trade") === 1)
      expect(yield* mux.subscriptions).toEqual([])
      // A message for it now is unroutable, not lost silently.
      server.publish("btcusdt@trade", { i: 2 }, true)
      yield* Effect.gen(function*() {
        while ((yield* mux.stats).unroutableMessages === 0) yield* Effect.sleep("5 millis")
      }).pipe(Effect.timeout("10 seconds"), Effect.orDie)
      expect((yield* mux.stats).unroutableMessages).toBe(1)
    }).pipe(Effect.provide(NodeTransport.layer)))

  it.scopedLive("10 drops: each active channel re-subscribed exactly once per reconnect, an unsubscribed one never", () =>
    Effect.gen(function*() {
      const server = exchange("binance")
      const ts = yield* TestServer.make({ handler: server.handler })
      const mux = yield* Multiplex.make(ts.url, binanceOptions)
      yield* mux.subscribe("a@trade")
      yield* mux.subscribe("b@trade")
      const goneScope = yield* Scope.make()
      yield* Scope.extend(mux.subscribe("gone@trade"), goneScope)
      yield* ts.waitUntil(() => server.isSubscribed("gone@trade"))
      yield* Scope.close(goneScope, Exit.void)
      yield* ts.waitUntil(() => server.unsubscribes.get("gone@trade") === 1)
      for (let drop = 1; drop <= 10; drop++) {
        ts.dropAll()
        yield* ts.waitUntil(() => ts.connectionCount() === drop + 1 && server.isSubscribed("a@trade") && server.isSubscribed("b@trade"), "10 seconds")
      }
      yield* marker(mux, server)
      expect(server.subscribes.get("a@trade")).toBe(11)
      expect(server.subscribes.get("b@trade")).toBe(11)
      expect(server.subscribes.get("gone@trade")).toBe(1)
      expect((yield* mux.client.stats).reconnects).toBe(10)
    }).pipe(Effect.provide(NodeTransport.layer)))

  it.scopedLive("a channel subscribed while disconnected is subscribed once, on the next connection", () =>
    Effect.gen(function*() {
      const server = exchange("binance")
      const ts = yield* TestServer.make({ handler: server.handler })
      const mux = yield* Multiplex.make(ts.url, { ...binanceOptions, reconnect: { base: "300 millis", jitter: false } })
      // Refuse the next upgrade so the client is still away while we subscribe.
      ts.setUpgrade((request) => (request.index === 1 ? { status: 503 } : "accept"))
      ts.dropAll()
      yield* ts.waitUntil(() => ts.upgradeCount() === 2)
      const sub = yield* mux.subscribe("late@trade")
      yield* ts.waitUntil(() => server.isSubscribed("late@trade"), "10 seconds")
      server.publish("late@trade", { i: 1 })
      expect((yield* sub.recv({ timeout: "5 seconds" })) as unknown).toEqual({ stream: "late@trade", data: { i: 1 } })
      yield* marker(mux, server)
      expect(server.subscribes.get("late@trade")).toBe(1)
    }).pipe(Effect.provide(NodeTransport.layer)))

  it.scopedLive("per-subscription overflow policies: drop_oldest keeps the newest, drop_newest the oldest", () =>
    Effect.gen(function*() {
      const server = exchange("binance")
      const ts = yield* TestServer.make({ handler: server.handler })
      const mux = yield* Multiplex.make(ts.url, binanceOptions)
      const newest = yield* mux.subscribe("x@trade", { queueSize: 10, overflowPolicy: "drop_oldest" })
      const oldest = yield* mux.subscribe("y@trade", { queueSize: 10, overflowPolicy: "drop_newest" })
      yield* ts.waitUntil(() => server.isSubscribed("x@trade") && server.isSubscribed("y@trade"))
      for (let i = 1; i <= 100; i++) {
        server.publish("x@trade", { i })
        server.publish("y@trade", { i })
      }
      yield* Effect.repeat(mux.stats, { until: (s) => s.totalMessagesRouted === 200, schedule: Schedule.spaced("10 millis") }).pipe(
        Effect.timeout("10 seconds")
      )
      expect((yield* take(newest.messages, 10)).map((m: any) => m.data.i)).toEqual([91, 92, 93, 94, 95, 96, 97, 98, 99, 100])
      expect((yield* take(oldest.messages, 10)).map((m: any) => m.data.i)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
      expect((yield* newest.stats).dropped).toBe(90)
      expect((yield* oldest.stats).dropped).toBe(90)
    }).pipe(Effect.provide(NodeTransport.layer)))

  it.scopedLive("100 channels × 1 000 messages each reach the right subscriber, in order", () =>
    Effect.gen(function*() {
      const server = exchange("binance")
      const ts = yield* TestServer.make({ handler: server.handler })
      const mux = yield* Multiplex.make(ts.url, binanceOptions)
      const channels = Array.from({ length: 100 }, (_, i) => `s${i}@trade`)
      const subs = yield* Effect.forEach(channels, (channel) => mux.subscribe(channel))
      yield* ts.waitUntil(() => channels.every(server.isSubscribed))
      const consumers = yield* Effect.forEach(subs, (sub) => Effect.fork(take(sub.messages, 1000)))
      const started = Date.now()
      for (let i = 1; i <= 1000; i++) for (const channel of channels) server.publish(channel, { i })
      const results = yield* Effect.forEach(consumers, Fiber.join)
      const elapsed = Date.now() - started
      results.forEach((messages, index) => {
        expect(messages.length).toBe(1000)
        expect(messages.every((m: any, i) => m.stream === channels[index] && m.data.i === i + 1)).toBe(true)
      })
      expect((yield* mux.stats).totalMessagesRouted).toBe(100_000)
      console.log(`multiplex: 100 channels × 1000 messages routed in ${elapsed} ms (${Math.round(100_000 / (elapsed / 1000))} msgs/s, server-side publishing included)`)
    }).pipe(Effect.provide(NodeTransport.layer)), { timeout: 60_000 })
})
