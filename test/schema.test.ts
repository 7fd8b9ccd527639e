import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import { Chunk, Effect, ParseResult, Schema, Stream } from "effect"
import { JetSocket, JetSocketError } from "../src/index.js"
import { NodeTransport } from "../src/node.js"
import { TestServer } from "../src/testing.js"

const Trade = Schema.Struct({
  event: Schema.propertySignature(Schema.Literal("trade")).pipe(Schema.fromKey("e")),
  symbol: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("s")),
  price: Schema.propertySignature(Schema.NumberFromString).pipe(Schema.fromKey("p")),
  quantity: Schema.propertySignature(Schema.NumberFromString).pipe(Schema.fromKey("q")),
  time: Schema.propertySignature(Schema.Number).pipe(Schema.fromKey("T"))
})
type Trade = typeof Trade.Type

const wire = (i: number) => ({ e: "trade", s: "BTCUSDT", p: `4200${i}.5`, q: "0.1", T: 1700000000000 + i })

const feed = (frames: ReadonlyArray<unknown>): TestServer.Handler => (connection) => {
  for (const frame of frames) connection.send(typeof frame === "string" ? frame : JSON.stringify(frame))
}

describe("typed messages (Schema)", () => {
  it("types: recv/request/send follow the Schema; catchTag narrows the error union", () => {
    const typed = (ws: JetSocket.JetSocket<Trade>) => {
      expectTypeOf(ws.recv()).toEqualTypeOf<Effect.Effect<Trade, JetSocketError.JetSocketError>>()
      expectTypeOf(ws.request).parameter(0).toEqualTypeOf<Trade>()
      // @ts-expect-error price must be a number (the decoded type), not the wire string
      ws.send({ event: "trade", symbol: "X", price: "1", quantity: 1, time: 1 })
      const handled = ws.recv().pipe(
        Effect.catchTag("ConnectionTimeoutError", (e) => Effect.succeed(e.operation))
      )
      const parts = <A, E>(_: Effect.Effect<A, E>) => ({ a: undefined as unknown as A, e: undefined as unknown as E })
      const { a, e } = parts(handled)
      expectTypeOf(a).toEqualTypeOf<Trade | JetSocketError.ConnectionTimeoutError["operation"]>()
      expectTypeOf<JetSocketError.ConnectionTimeoutError>().not.toMatchTypeOf<typeof e>()
      expectTypeOf<JetSocketError.InvalidMessageError>().toMatchTypeOf<typeof e>()
    }
    const connect = JetSocket.connect("ws://127.0.0.1:1", { schema: Trade })
    expectTypeOf(connect).toMatchTypeOf<Effect.Effect<JetSocket.JetSocket<Trade>, JetSocketError.JetSocketError, any>>()
    expect(typeof typed).toBe("function")
  })

  it.scopedLive("decodes renamed fields into the Schema's type", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: feed([wire(0), wire(1)]) })
      const ws = yield* JetSocket.connect(server.url, { schema: Trade, heartbeat: false, reconnect: false })
      expectTypeOf(ws.messages).toEqualTypeOf<Stream.Stream<Trade, JetSocketError.JetSocketError>>()
      const got = yield* Stream.runCollect(Stream.take(ws.messages, 2))
      expect(Chunk.toReadonlyArray(got)).toEqual([
        { event: "trade", symbol: "BTCUSDT", price: 42000.5, quantity: 0.1, time: 1700000000000 },
        { event: "trade", symbol: "BTCUSDT", price: 42001.5, quantity: 0.1, time: 1700000000001 }
      ])
      const first = yield* Effect.succeed(Chunk.unsafeHead(got))
      expectTypeOf(first.price).toEqualTypeOf<number>()
    }).pipe(Effect.provide(NodeTransport.layer)), 20_000)

  it.scopedLive("encodes outgoing values with the Schema (renames back to the wire keys)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const ws = yield* JetSocket.connect(server.url, { schema: Trade, heartbeat: false, reconnect: false })
      yield* ws.send({ event: "trade", symbol: "ETHUSDT", price: 2000.25, quantity: 3, time: 5 })
      yield* server.waitUntil(() => server.received().length >= 1, 10_000)
      expect(server.receivedJson()[0]).toEqual({ e: "trade", s: "ETHUSDT", p: "2000.25", q: "3", T: 5 })
    }).pipe(Effect.provide(NodeTransport.layer)), 20_000)

  it.scopedLive("strict (default): an invalid message fails messages with InvalidMessageError carrying the ParseError", () =>
    Effect.gen(function*() {
      const bad = { e: "trade", s: "BTCUSDT", p: "not a number", q: "0.1", T: 1, pad: "x".repeat(5_000) }
      const server = yield* TestServer.make({ handler: feed([wire(0), bad]) })
      const ws = yield* JetSocket.connect(server.url, { schema: Trade, heartbeat: false, reconnect: false })
      const first = yield* ws.recv({ timeout: "10 seconds" })
      expect(first.symbol).toBe("BTCUSDT")
      const error = yield* Stream.runCollect(ws.messages).pipe(Effect.flip)
      expect(error._tag).toBe("InvalidMessageError")
      if (error._tag !== "InvalidMessageError") return
      expect(ParseResult.isParseError(error.cause)).toBe(true)
      expect(error.reason).toContain("schema")
      expect(error.preview.length).toBeLessThan(300)
      // catchTag narrows to InvalidMessageError
      const recovered = yield* Effect.fail(error).pipe(
        Effect.catchTag("InvalidMessageError", (e) => {
          expectTypeOf(e).toEqualTypeOf<JetSocketError.InvalidMessageError>()
          return Effect.succeed(e.preview)
        })
      )
      expectTypeOf(recovered).toEqualTypeOf<string>()
    }).pipe(Effect.provide(NodeTransport.layer)), 20_000)

  it.scopedLive("strict: false skips invalid messages, counts them exactly and emits ValidationError events", () =>
    Effect.gen(function*() {
      const frames = [wire(0), { e: "trade" }, wire(1), "not json", { e: "quote", s: "X", p: "1", q: "1", T: 1 }, wire(2)]
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const ws = yield* JetSocket.connect(server.url, { schema: Trade, strict: false, heartbeat: false, reconnect: false })
      const events = yield* ws.subscribeEvents
      for (const frame of frames) server.broadcast(typeof frame === "string" ? frame : JSON.stringify(frame))
      const got = yield* Stream.runCollect(Stream.take(ws.messages, 3))
      expect(Chunk.toReadonlyArray(got).map((t) => t.time)).toEqual([1700000000000, 1700000000001, 1700000000002])
      const stats = yield* ws.stats
      expect(stats.validationErrors).toBe(3)
      const validation = yield* Stream.runCollect(
        events.pipe(Stream.filter((e) => e._tag === "ValidationError"), Stream.take(3))
      )
      for (const e of validation) {
        if (e._tag === "ValidationError") expect(e.error._tag).toBe("InvalidMessageError")
      }
      expect(Chunk.size(validation)).toBe(3)
    }).pipe(Effect.provide(NodeTransport.layer)), 20_000)
})
