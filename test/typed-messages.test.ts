import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import { Chunk, Duration, Effect, ParseResult, Schema, Stream } from "effect"
import * as JetSocket from "../src/JetSocket.js"
import type { InvalidMessageError, JetSocketError } from "../src/JetSocketError.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as Presets from "../src/Presets.js"
import * as TestServer from "../src/TestServer.js"

/** A Binance trade, with the wire's one-letter fields renamed. */
const Trade = Schema.Struct({
  event: Schema.propertySignature(Schema.Literal("trade")).pipe(Schema.fromKey("e")),
  symbol: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("s")),
  price: Schema.propertySignature(Schema.NumberFromString).pipe(Schema.fromKey("p")),
  quantity: Schema.propertySignature(Schema.NumberFromString).pipe(Schema.fromKey("q")),
  time: Schema.propertySignature(Schema.Number).pipe(Schema.fromKey("T"))
})
const wireTrade = { e: "trade", s: "BTCUSDT", p: "42000.5", q: "0.1", T: 1700000000000 }

const live = <A, E>(effect: Effect.Effect<A, E, any>) => effect.pipe(Effect.provide(NodeTransport.layer))

describe("typed messages (Schema)", () => {
  it.scopedLive("decodes incoming JSON with the schema, renamed fields included; encodes outgoing", () =>
    live(Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.feed([wireTrade]) })
      const ws = yield* JetSocket.connect(server.url, { schema: Trade, heartbeat: false })
      const trade = yield* ws.recv({ timeout: "5 seconds" })
      expect(trade).toEqual({ event: "trade", symbol: "BTCUSDT", price: 42000.5, quantity: 0.1, time: 1700000000000 })
      // Outgoing values are encoded back to the wire form.
      yield* ws.send({ event: "trade", symbol: "ETHUSDT", price: 2000, quantity: 1, time: 1 })
      yield* server.waitUntil(() => server.received().length === 1)
      expect(server.receivedJson()[0]).toEqual({ e: "trade", s: "ETHUSDT", p: "2000", q: "1", T: 1 })
    })))

  it.scopedLive("strict (default): an invalid message fails messages with InvalidMessageError carrying the ParseError; the next run continues", () =>
    live(Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.feed([{ ...wireTrade, p: "abc" }, wireTrade]) })
      const ws = yield* JetSocket.connect(server.url, { schema: Trade, heartbeat: false })
      const error = yield* Effect.flip(Stream.runCollect(ws.messages))
      expect(error._tag).toBe("InvalidMessageError")
      const invalid = error as InvalidMessageError
      expect(ParseResult.isParseError(invalid.cause)).toBe(true)
      expect(invalid.preview).toContain("abc")
      expect(invalid.reason).toContain("schema")
      const next = yield* ws.messages.pipe(Stream.take(1), Stream.runCollect)
      expect(Chunk.unsafeHead(next).price).toBe(42000.5)
      expect(yield* ws.state).toBe("Connected")
    })))

  it.scopedLive("strict: false skips invalid messages, counts them exactly and emits ValidationError events", () =>
    live(Effect.gen(function*() {
      const feed = [wireTrade, { nope: 1 }, "not json", { ...wireTrade, T: "x" }, wireTrade]
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const ws = yield* JetSocket.connect(server.url, { schema: Trade, strict: false, heartbeat: false })
      const events = yield* ws.subscribeEvents
      const validation = yield* events.pipe(
        Stream.filter((event) => event._tag === "ValidationError"),
        Stream.take(3),
        Stream.runCollect,
        Effect.fork
      )
      for (const message of feed) server.broadcast(message)
      const trades = yield* ws.messages.pipe(Stream.take(2), Stream.runCollect, Effect.timeout("5 seconds"))
      expect(Chunk.size(trades)).toBe(2)
      expect((yield* ws.stats).validationErrors).toBe(3)
      expect(Chunk.size(yield* validation.await.pipe(Effect.flatten))).toBe(3)
    })))

  it("types: messages/recv carry the schema's type; catchTag narrows the error union", () => {
    const program = Effect.gen(function*() {
      const ws = yield* JetSocket.connect("ws://127.0.0.1:1", { schema: Trade })
      expectTypeOf(ws.messages).toEqualTypeOf<Stream.Stream<typeof Trade.Type, JetSocketError>>()
      const trade = yield* ws.recv()
      expectTypeOf(trade.price).toEqualTypeOf<number>()
      const untyped = yield* JetSocket.connect("ws://127.0.0.1:1")
      expectTypeOf(yield* untyped.recv()).toEqualTypeOf<unknown>()
      return trade
    })
    const handled = program.pipe(
      Effect.catchTag("ConnectionTimeoutError", (e) => Effect.succeed(Duration.toMillis(e.timeout))),
      Effect.catchTag("ConnectionRefusedError", (e) => Effect.succeed(e.status ?? 0))
    )
    type Remaining = Effect.Effect.Error<typeof handled>
    expectTypeOf<Remaining>().not.toHaveProperty("status")
    expectTypeOf<Extract<Remaining, { _tag: "ConnectionTimeoutError" }>>().toBeNever()
    expectTypeOf<Extract<Remaining, { _tag: "ConnectionRefusedError" }>>().toBeNever()
    expectTypeOf<Extract<Remaining, { _tag: "InvalidFrameError" }>>().not.toBeNever()
    expect(Effect.isEffect(handled)).toBe(true)
  })
})

describe("codecs", () => {
  it.scopedLive("text passes strings through; binary turns text into bytes; json keeps Uint8Array for binary frames", () =>
    live(Effect.gen(function*() {
      const server = yield* TestServer.make()
      const text = yield* JetSocket.connect(server.url, { codec: "text", heartbeat: false })
      yield* text.sendText("{not json")
      expect(yield* text.recv({ timeout: "5 seconds" })).toBe("{not json")
      const binary = yield* JetSocket.connect(server.url, { codec: "binary", heartbeat: false })
      yield* binary.sendText("hi")
      expect([...(yield* binary.recv({ timeout: "5 seconds" })) as Uint8Array]).toEqual([104, 105])
      const json = yield* JetSocket.connect(server.url, { heartbeat: false })
      yield* json.sendBinary(new Uint8Array([1, 2]))
      const bytes = yield* json.recv({ timeout: "5 seconds" })
      expect(bytes).toBeInstanceOf(Uint8Array)
    })))

  it.scopedLive("a custom codec (a pair of Effects) decodes and encodes; its failures are InvalidMessageError", () =>
    live(Effect.gen(function*() {
      const server = yield* TestServer.make()
      const ws = yield* JetSocket.connect<{ n: number }>(server.url, {
        heartbeat: false,
        codec: {
          decode: (frame) =>
            typeof frame === "string" && /^n=\d+$/.test(frame)
              ? Effect.succeed({ n: Number(frame.slice(2)) })
              : Effect.fail(new Error(`bad frame ${String(frame)}`)),
          encode: (message) => Effect.succeed(`n=${message.n}`)
        }
      })
      yield* ws.send({ n: 42 })
      expect(yield* ws.recv({ timeout: "5 seconds" })).toEqual({ n: 42 })
      yield* ws.sendText("garbage")
      const error = yield* Effect.flip(ws.recv({ timeout: "5 seconds" }))
      expect(error._tag).toBe("InvalidMessageError")
      expect(error.message).toContain("garbage")
    })))

  it.scopedLive("a message that cannot be encoded fails send with InvalidMessageError, nothing is sent", () =>
    live(Effect.gen(function*() {
      const server = yield* TestServer.make()
      const ws = yield* JetSocket.connect(server.url, { heartbeat: false })
      const cyclic: Record<string, unknown> = {}
      cyclic.self = cyclic
      const error = yield* Effect.flip(ws.send(cyclic))
      expect(error._tag).toBe("InvalidMessageError")
      const bigint = yield* Effect.flip(ws.send({ n: 1n }))
      expect(bigint._tag).toBe("InvalidMessageError")
      yield* ws.send({ ok: true })
      expect(yield* ws.recv({ timeout: "5 seconds" })).toEqual({ ok: true })
      expect(server.received().length).toBe(1)
    })))
})

/** Answers `{ id }` requests in reverse order once `batch` have arrived. */
const reversingServer = (batch: number): TestServer.Handler => (connection) => {
  const waiting: Array<{ id: number }> = []
  connection.onMessage((data) => {
    waiting.push(JSON.parse(String(data)))
    if (waiting.length === batch) {
      for (const request of waiting.reverse()) connection.send({ id: request.id, answer: request.id * 2 })
      waiting.length = 0
    }
  })
}

describe("request / reply", () => {
  it.scopedLive("100 concurrent requests answered out of order each get their own reply; replies are not delivered to messages", () =>
    live(Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: reversingServer(100) })
      const ws = yield* JetSocket.connect<{ id: number; answer?: number }>(server.url, { heartbeat: false })
      const ids = Array.from({ length: 100 }, (_, i) => i + 1)
      const replies = yield* Effect.forEach(
        ids,
        (id) => ws.request({ id }, { match: (m) => m.id === id && m.answer !== undefined, timeout: "10 seconds" }),
        { concurrency: "unbounded" }
      )
      expect(replies.map((r) => r.answer)).toEqual(ids.map((id) => id * 2))
      server.broadcast({ id: 0, other: true })
      expect(yield* ws.recv({ timeout: "5 seconds" })).toEqual({ id: 0, other: true })
    })))

  it.scopedLive("times out with ConnectionTimeoutError { operation: request }", () =>
    live(Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const ws = yield* JetSocket.connect(server.url, { heartbeat: false })
      const error = yield* Effect.flip(ws.request({ id: 1 }, { match: () => true, timeout: "50 millis" }))
      expect(error._tag).toBe("ConnectionTimeoutError")
      if (error._tag === "ConnectionTimeoutError") expect(error.operation).toBe("request")
    })))

  it.scopedLive("a pending request fails with the connection's error when it dies for good", () =>
    live(Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const ws = yield* JetSocket.connect(server.url, { heartbeat: false, reconnect: false })
      const pending = yield* Effect.fork(ws.request({ id: 1 }, { match: () => true, timeout: "10 seconds" }))
      yield* server.waitUntil(() => server.received().length === 1)
      server.closeAll(4403, "forbidden")
      const error = yield* Effect.flip(pending.await.pipe(Effect.flatten))
      expect(error._tag).toBe("ConnectionClosedError")
      if (error._tag === "ConnectionClosedError") expect(error.code).toBe(4403)
    })))
})

describe("Presets", () => {
  it("carry the original library's values", () => {
    expect(Presets.trading.reconnect).toMatchObject({ base: "500 millis", cap: "30 seconds", maxAttempts: 0 })
    expect(Presets.trading.heartbeat).toEqual({ interval: "20 seconds", timeout: "10 seconds" })
    expect(Presets.trading.buffer).toMatchObject({ capacity: 10_000, overflowPolicy: "drop_oldest", dedup: { window: 1_000 } })
    expect(Duration.toMillis(Duration.decode(Presets.trading.maxConnectionAge!))).toBe((23 * 60 + 50) * 60_000)
    expect(Presets.trading.compression).toBe(true)
    expect(Presets.llmStream.reconnect).toMatchObject({ base: "1 second", cap: "10 seconds", maxAttempts: 5 })
    expect(Presets.llmStream.heartbeat).toEqual({ interval: "30 seconds", timeout: "15 seconds" })
    expect(Presets.llmStream.buffer).toEqual({ capacity: 500 })
    expect(Presets.llmStream.maxMessageSize).toBe(128 * 1024 * 1024)
    expect(Presets.llmStream.compression).toBe(false)
    expect(Presets.dashboard.reconnect).toMatchObject({ base: "2 seconds", cap: "60 seconds", maxAttempts: 0 })
    expect(Presets.dashboard.buffer).toEqual({ capacity: 100, overflowPolicy: "drop_oldest" })
    expect(Presets.minimal).toEqual({ reconnect: true, heartbeat: "30 seconds", buffer: { capacity: 100 } })
  })

  it("Presets.with overrides field by field, merging nested configs", () => {
    const custom = Presets.with(Presets.trading, { buffer: { capacity: 50_000 }, connectTimeout: "5 seconds" })
    expect(custom.buffer).toMatchObject({ capacity: 50_000, overflowPolicy: "drop_oldest" })
    expect(custom.connectTimeout).toBe("5 seconds")
    expect(custom.heartbeat).toEqual(Presets.trading.heartbeat)
    expect(Presets.trading.buffer).toMatchObject({ capacity: 10_000 }) // the preset itself is untouched
    const spread = { ...Presets.dashboard, heartbeat: false as const }
    expect(spread.heartbeat).toBe(false)
  })

  it("the trading dedup key reads the usual sequence fields", () => {
    const key = (Presets.trading.buffer as { dedup: { key: (m: unknown) => unknown } }).dedup.key
    expect(key({ seq: 7 })).toBe(7)
    expect(key({ u: 9 })).toBe(9)
  })
})
