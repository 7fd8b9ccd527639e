import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Fiber, FiberStatus, Schema, Scope, Stream } from "effect"
import * as Multiplex from "../src/Multiplex.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"
import { binanceOptions, exchange } from "./fixtures/exchange.js"
import { sendMarker } from "./fixtures/helpers.js"

const binance = () => exchange("binance")
const options = binanceOptions

const realSleep = (ms: number) => Effect.promise(() => new Promise((r) => setTimeout(r, ms)))

/** Polls `check` every 10 ms (real time) until it holds; fails after `ms`. */
const until = <E, R>(check: Effect.Effect<boolean, E, R>, ms = 10_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + ms
    while (!(yield* check)) {
      if (Date.now() > deadline) return yield* Effect.die(new Error("condition not met in time"))
      yield* realSleep(10)
    }
  })

/** Waits until `fiber` is suspended: it has run up to its first wait (a `recv` waiting, a stream subscribed). */
const suspended = <A, E>(fiber: Fiber.RuntimeFiber<A, E>) =>
  until(Effect.map(Fiber.status(fiber), FiberStatus.isSuspended))

const take = <A>(stream: Stream.Stream<A, unknown>, n: number) =>
  stream.pipe(Stream.take(n), Stream.runCollect, Effect.map(Chunk.toReadonlyArray), Effect.timeout("10 seconds"))

describe("Multiplex (policies, unsubscribe, events)", () => {
  it.scopedLive("backpressure: a full subscription holds routing, nothing is lost, order kept", () =>
    Effect.gen(function*() {
      const server = binance()
      const ts = yield* TestServer.make({ handler: server.handler })
      const mux = yield* Multiplex.make(ts.url, options)
      const slow = yield* mux.subscribe("slow@trade", { queueSize: 5, overflowPolicy: "backpressure" })
      const other = yield* mux.subscribe("other@trade", { queueSize: 1000 })
      const probe = yield* mux.subscribe("probe@trade", { queueSize: 1000 })
      yield* ts.waitUntil(() => ["slow@trade", "other@trade", "probe@trade"].every(server.isSubscribed))
      for (let i = 1; i <= 50; i++) server.publish("slow@trade", { i })
      server.publish("other@trade", { i: 1 })
      // `slow` is full and nobody reads it: routing holds right after the 5th message (the router
      // routes a chunk in one synchronous loop, so it is seen at 5 only if it stopped there).
      yield* until(Effect.map(slow.stats, (s) => s.queued >= 5))
      yield* until(Effect.map(mux.stats, (s) => s.totalMessagesRouted >= 5))
      // The event that proves the hold lasts: a probe the server sends after it was seen reaches the
      // client (a full round trip later) and still nothing more has been routed, `other`'s message
      // (published before the probe) included. A router that did not hold would have routed all 51
      // messages in the same turn as the 5th.
      server.publish("probe@trade", { i: 1 })
      yield* until(Effect.map(mux.client.stats, (s) => s.messagesReceived === 52))
      expect((yield* mux.stats).totalMessagesRouted).toBe(5)
      expect((yield* slow.stats).queued).toBe(5)
      expect((yield* other.stats).received).toBe(0)
      expect((yield* probe.stats).received).toBe(0)
      expect((yield* slow.stats).dropped).toBe(0)
      // Reading `slow` resumes routing: every message arrives in order, then `other` gets its own.
      const all = yield* take(slow.messages, 50)
      expect(all.map((m: any) => m.data.i)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
      expect((yield* other.recv({ timeout: "5 seconds" })) as unknown).toEqual({ stream: "other@trade", data: { i: 1 } })
      expect((yield* probe.recv({ timeout: "5 seconds" })) as unknown).toEqual({ stream: "probe@trade", data: { i: 1 } })
      expect((yield* mux.stats).totalMessagesRouted).toBe(52)
    }).pipe(Effect.provide(NodeTransport.layer)))

  it.scopedLive("backpressure: routing holds right after the message that fills a subscription, within a routed batch", () =>
    Effect.gen(function*() {
      const server = binance()
      const ts = yield* TestServer.make({ handler: server.handler })
      const mux = yield* Multiplex.make(ts.url, options)
      const slow = yield* mux.subscribe("slow@trade", { queueSize: 4, overflowPolicy: "backpressure" })
      const other = yield* mux.subscribe("other@trade", { queueSize: 1000 })
      const probe = yield* mux.subscribe("probe@trade", { queueSize: 1000 })
      yield* ts.waitUntil(() => ["slow@trade", "other@trade", "probe@trade"].every(server.isSubscribed))
      // `slow` full: routing holds, so what follows waits in the client's buffer and reaches the
      // router as one batch (deterministic, whatever the socket reads: the router takes nothing meanwhile).
      for (let i = 1; i <= 4; i++) server.publish("slow@trade", { i })
      yield* until(Effect.map(slow.stats, (s) => s.queued >= 4))
      for (let i = 5; i <= 12; i++) server.publish("slow@trade", { i })
      server.publish("other@trade", { i: 1 })
      // All 13 at the client: the 9 after the 4th wait in its buffer, untaken.
      yield* until(Effect.map(mux.client.stats, (s) => s.messagesReceived === 13))
      expect((yield* mux.client.stats).bufferSize).toBe(9)
      expect((yield* mux.stats).totalMessagesRouted).toBe(4)
      // Two taken: `slow` is at half (2 of 4), routing resumes with that batch (the client's buffer
      // empties into the router); messages 5 and 6 fill `slow` again and routing holds there, before
      // the batch's 7 other messages.
      expect((yield* slow.recv()) as unknown).toEqual({ stream: "slow@trade", data: { i: 1 } })
      expect((yield* slow.recv()) as unknown).toEqual({ stream: "slow@trade", data: { i: 2 } })
      yield* until(Effect.map(mux.stats, (s) => s.totalMessagesRouted >= 6))
      yield* until(Effect.map(mux.client.stats, (s) => s.bufferSize === 0))
      // The event that proves the hold lasts: a probe the server sends now reaches the client and
      // waits in its buffer, untaken; the batch's rest is still unrouted.
      server.publish("probe@trade", { i: 1 })
      yield* until(Effect.map(mux.client.stats, (s) => s.messagesReceived === 14))
      expect((yield* mux.client.stats).bufferSize).toBe(1)
      expect((yield* mux.stats).totalMessagesRouted).toBe(6)
      expect((yield* slow.stats).queued).toBe(4)
      expect((yield* other.stats).received).toBe(0)
      expect((yield* probe.stats).received).toBe(0)
      const rest = yield* take(slow.messages, 10)
      expect(rest.map((m: any) => m.data.i)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
      expect((yield* other.recv({ timeout: "5 seconds" })) as unknown).toEqual({ stream: "other@trade", data: { i: 1 } })
      expect((yield* probe.recv({ timeout: "5 seconds" })) as unknown).toEqual({ stream: "probe@trade", data: { i: 1 } })
      expect((yield* slow.stats).dropped).toBe(0)
    }).pipe(Effect.provide(NodeTransport.layer)))

  it.scopedLive("messages routed in batches reach a waiting recv first, then the rest in order, interleaved with another channel's", () =>
    Effect.gen(function*() {
      const server = binance()
      const ts = yield* TestServer.make({ handler: server.handler })
      const mux = yield* Multiplex.make(ts.url, options)
      const sub = yield* mux.subscribe("b@trade", { queueSize: 1000 })
      const noise = yield* mux.subscribe("n@trade", { queueSize: 1000 })
      yield* ts.waitUntil(() => server.isSubscribed("b@trade") && server.isSubscribed("n@trade"))
      // A recv waits on the empty subscription; the bursts below reach the router as chunks of
      // several messages each, interleaved with another channel's.
      const waiting = yield* Effect.fork(sub.recv())
      yield* suspended(waiting)
      let i = 0
      for (let burst = 0; burst < 5; burst++) {
        for (let k = 0; k < 40; k++) {
          i++
          server.publish("b@trade", { i })
          server.publish("n@trade", { i })
        }
        yield* realSleep(10)
      }
      expect((yield* Fiber.join(waiting).pipe(Effect.timeout("5 seconds"))) as unknown).toEqual({ stream: "b@trade", data: { i: 1 } })
      const got: Array<number> = []
      for (let k = 2; k <= 200; k++) got.push(((yield* sub.recv({ timeout: "5 seconds" })) as any).data.i)
      expect(got).toEqual(Array.from({ length: 199 }, (_, k) => k + 2))
      const others = yield* take(noise.messages, 200)
      expect(others.map((m: any) => m.data.i)).toEqual(Array.from({ length: 200 }, (_, k) => k + 1))
      expect((yield* sub.stats).received).toBe(200)
    }).pipe(Effect.provide(NodeTransport.layer)))

  it.scopedLive("error policy: a full subscription fails with BufferOverflowError and unsubscribes", () =>
    Effect.gen(function*() {
      const server = binance()
      const ts = yield* TestServer.make({ handler: server.handler })
      const mux = yield* Multiplex.make(ts.url, options)
      const sub = yield* mux.subscribe("e@trade", { queueSize: 3, overflowPolicy: "error" })
      yield* ts.waitUntil(() => server.isSubscribed("e@trade"))
      for (let i = 1; i <= 10; i++) server.publish("e@trade", { i })
      yield* until(Effect.map(sub.isActive, (active) => !active))
      yield* ts.waitUntil(() => server.unsubscribes.get("e@trade") === 1)
      const exit = yield* Effect.exit(Stream.runCollect(sub.messages))
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) {
        const error = yield* Effect.flip(Effect.failCause(exit.cause))
        // the subscription's own queue overflowed (not the client's receive buffer)
        expect(error).toMatchObject({ _tag: "BufferOverflowError", buffer: "subscription", capacity: 3 })
      }
      expect(yield* mux.subscriptions).toEqual([])
    }).pipe(Effect.provide(NodeTransport.layer)))

  it.scopedLive("mux.unsubscribe ends every subscriber of a channel and the server sees one unsubscribe", () =>
    Effect.gen(function*() {
      const server = binance()
      const ts = yield* TestServer.make({ handler: server.handler })
      const mux = yield* Multiplex.make(ts.url, options)
      const a = yield* mux.subscribe("u@trade")
      const b = yield* mux.subscribe("u@trade")
      yield* ts.waitUntil(() => server.isSubscribed("u@trade"))
      expect(server.subscribes.get("u@trade")).toBe(1)
      const drained = yield* Effect.fork(Stream.runCollect(a.messages))
      yield* mux.unsubscribe("u@trade")
      yield* ts.waitUntil(() => server.unsubscribes.get("u@trade") === 1)
      expect(Chunk.size(yield* Fiber.join(drained).pipe(Effect.timeout("5 seconds")))).toBe(0)
      expect(yield* a.isActive).toBe(false)
      expect(yield* b.isActive).toBe(false)
      const error = yield* Effect.flip(b.recv({ timeout: "1 second" }))
      expect(error._tag).toBe("InvalidStateError")
      const stats = yield* mux.stats
      expect(stats.totalSubscriptions).toBe(2)
      expect(stats.activeSubscriptions).toBe(0)
      // a marker sent after: when the server has it, any second unsubscribe would have arrived
      yield* sendMarker(mux.client.send, () => server.raw)
      expect(server.unsubscribes.get("u@trade")).toBe(1)
    }).pipe(Effect.provide(NodeTransport.layer)))

  it.scopedLive("string subscribe messages are sent as text; events report the reconnect", () =>
    Effect.gen(function*() {
      const server = binance()
      const ts = yield* TestServer.make({ handler: server.handler })
      const mux = yield* Multiplex.make(ts.url, {
        ...options,
        subscribeMessage: (channel) => `{"method":"SUBSCRIBE","params":["${channel}"],"id":7}`
      })
      const events = yield* Effect.fork(
        mux.events.pipe(Stream.filter((e) => e._tag === "Reconnected"), Stream.take(1), Stream.runCollect)
      )
      yield* suspended(events)
      yield* mux.subscribe("t@trade")
      yield* ts.waitUntil(() => server.isSubscribed("t@trade"))
      expect(server.raw).toContain(`{"method":"SUBSCRIBE","params":["t@trade"],"id":7}`)
      ts.dropAll()
      yield* ts.waitUntil(() => ts.connectionCount() === 2 && server.isSubscribed("t@trade"))
      expect(Chunk.size(yield* Fiber.join(events).pipe(Effect.timeout("10 seconds")))).toBe(1)
      expect(server.subscribes.get("t@trade")).toBe(2)
      expect((yield* mux.stats).subscribeMessagesSent).toBe(2)
    }).pipe(Effect.provide(NodeTransport.layer)))

  it.scopedLive("a typed channel with strict: false skips and counts invalid messages", () =>
    Effect.gen(function*() {
      const server = binance()
      const ts = yield* TestServer.make({ handler: server.handler })
      const mux = yield* Multiplex.make(ts.url, options)
      const Trade = Schema.Struct({ stream: Schema.String, data: Schema.Struct({ p: Schema.Number }) })
      const sub = yield* mux.subscribe("v@trade", { schema: Trade, strict: false })
      yield* ts.waitUntil(() => server.isSubscribed("v@trade"))
      server.publish("v@trade", { p: 1 })
      server.publish("v@trade", { p: "bad" })
      server.publish("v@trade", { p: 3 })
      const got = yield* take(sub.messages, 2)
      expect(got.map((m) => m.data.p)).toEqual([1, 3])
      expect((yield* sub.stats).invalid).toBe(1)
    }).pipe(Effect.provide(NodeTransport.layer)))

  it.scopedLive("subscriptions scoped to a closed scope are never re-subscribed after drops", () =>
    Effect.gen(function*() {
      const server = binance()
      const ts = yield* TestServer.make({ handler: server.handler })
      const mux = yield* Multiplex.make(ts.url, options)
      const scope = yield* Scope.make()
      yield* Scope.extend(mux.subscribe("tmp@trade"), scope)
      yield* mux.subscribe("keep@trade")
      yield* ts.waitUntil(() => server.isSubscribed("tmp@trade") && server.isSubscribed("keep@trade"))
      yield* Scope.close(scope, Exit.void)
      for (let drop = 1; drop <= 3; drop++) {
        ts.dropAll()
        yield* ts.waitUntil(() => ts.connectionCount() === drop + 1 && server.isSubscribed("keep@trade"), "10 seconds")
      }
      // a marker sent after: when the server has it, the last connection's re-subscribes have arrived
      yield* sendMarker(mux.client.send, () => server.raw)
      expect(server.subscribes.get("tmp@trade")).toBe(1)
      expect(server.subscribes.get("keep@trade")).toBe(4)
    }).pipe(Effect.provide(NodeTransport.layer)))

  it.scopedLive("mux.runForEach runs its handler on each message of its channel in order; unsubscribing ends the run", () =>
    Effect.gen(function*() {
      const server = binance()
      const ts = yield* TestServer.make({ handler: server.handler })
      const mux = yield* Multiplex.make(ts.url, options)
      const other = yield* mux.subscribe("o@trade")
      const seen: Array<number> = []
      const run = yield* mux.runForEach("h@trade", (m) => Effect.sync(() => seen.push((m as { data: { p: number } }).data.p))).pipe(
        Effect.fork
      )
      yield* ts.waitUntil(() => server.isSubscribed("h@trade") && server.isSubscribed("o@trade"))
      for (const p of [1, 2, 3, 4, 5]) server.publish("h@trade", { p })
      server.publish("o@trade", { p: 9 })
      yield* until(Effect.sync(() => seen.length === 5))
      expect(seen).toEqual([1, 2, 3, 4, 5])
      expect((yield* take(other.messages, 1)).map((m) => (m as { data: { p: number } }).data.p)).toEqual([9])
      yield* mux.unsubscribe("h@trade")
      expect(yield* Fiber.await(run).pipe(Effect.timeout("5 seconds"))).toEqual(Exit.void)
      yield* ts.waitUntil(() => server.unsubscribes.get("h@trade") === 1)
      // interrupting a run unsubscribes its channel
      const again = yield* mux.runForEach("i@trade", () => Effect.void).pipe(Effect.fork)
      yield* ts.waitUntil(() => server.isSubscribed("i@trade"))
      yield* Fiber.interrupt(again)
      yield* ts.waitUntil(() => server.unsubscribes.get("i@trade") === 1)
    }).pipe(Effect.provide(NodeTransport.layer)))

  it.scopedLive("a failing mux.runForEach handler fails its run with its error and unsubscribes; routing goes on", () =>
    Effect.gen(function*() {
      const server = binance()
      const ts = yield* TestServer.make({ handler: server.handler })
      const mux = yield* Multiplex.make(ts.url, options)
      const other = yield* mux.subscribe("o@trade")
      const seen: Array<number> = []
      const run = yield* mux.runForEach("f@trade", (m) => {
        const p = (m as { data: { p: number } }).data.p
        return p === 2 ? Effect.fail("boom" as const) : Effect.sync(() => seen.push(p))
      }).pipe(Effect.fork)
      yield* ts.waitUntil(() => server.isSubscribed("f@trade") && server.isSubscribed("o@trade"))
      for (const p of [1, 2, 3]) server.publish("f@trade", { p })
      server.publish("o@trade", { p: 7 })
      expect(yield* Fiber.await(run).pipe(Effect.timeout("5 seconds"))).toEqual(Exit.fail("boom"))
      expect(seen).toEqual([1])
      yield* ts.waitUntil(() => server.unsubscribes.get("f@trade") === 1)
      expect((yield* take(other.messages, 1)).map((m) => (m as { data: { p: number } }).data.p)).toEqual([7])
    }).pipe(Effect.provide(NodeTransport.layer)))
})
