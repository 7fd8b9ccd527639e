import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, FiberRef, Option, ParseResult, Schema, Stream } from "effect"
import * as JetSocket from "../src/JetSocket.js"
import * as Multiplex from "../src/Multiplex.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"
import { Recorder } from "./fixtures/supervisor.js"

// Issue 28 item 4: what the library runs for the user (codecs, schema transformations, fibers started
// from callbacks) runs in the user's runtime, so their FiberRefs, logger, tracer and supervisor see it.

/** Whose runtime an Effect ran in: "user" inside `Effect.locally(who, "user")`, "default" elsewhere. */
const who = FiberRef.unsafeMake("default")

/** A string tagged, when decoded, with the `who` of the runtime that decoded it. */
const Tagged = Schema.transformOrFail(Schema.String, Schema.Struct({ text: Schema.String, decodedBy: Schema.String }), {
  strict: true,
  decode: (text) => Effect.map(FiberRef.get(who), (decodedBy) => ({ text, decodedBy })),
  encode: ({ text }) => ParseResult.succeed(text)
})

describe("user code runs in the user's runtime", () => {
  it.scopedLive("a custom codec's Effects see the caller's FiberRefs", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const seen: Array<string> = []
      const ws = yield* JetSocket.connect<string>(server.url, {
        reconnect: false,
        codec: {
          decode: (frame) => Effect.map(FiberRef.get(who), (by) => (seen.push(`decode:${by}`), String(frame))),
          encode: (message) => Effect.map(FiberRef.get(who), (by) => (seen.push(`encode:${by}`), message))
        }
      })
      yield* ws.send("hello")
      expect(yield* ws.recv({ timeout: "5 seconds" })).toBe("hello")
      expect(seen).toEqual(["encode:user", "decode:user"])
    }).pipe(Effect.locally(who, "user"), Effect.provide(NodeTransport.layer)))

  it.scopedLive("a client schema's Effectful transformation runs in the caller's runtime", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const ws = yield* JetSocket.connect(server.url, { reconnect: false, schema: Tagged })
      yield* ws.send({ text: "hi", decodedBy: "" })
      expect(yield* ws.recv({ timeout: "5 seconds" })).toEqual({ text: "hi", decodedBy: "user" })
    }).pipe(Effect.locally(who, "user"), Effect.provide(NodeTransport.layer)))

  it.scopedLive("a subscription schema's Effectful transformation runs in the caller's runtime", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const mux = yield* Multiplex.make(server.url, { channelKey: "ch", reconnect: false })
      const sub = yield* mux.subscribe("a", { schema: Schema.Struct({ ch: Schema.String, body: Tagged }) })
      yield* mux.client.send({ ch: "a", body: "x" })
      expect(yield* sub.recv({ timeout: "5 seconds" })).toEqual({ ch: "a", body: { text: "x", decodedBy: "user" } })
    }).pipe(Effect.locally(who, "user"), Effect.provide(NodeTransport.layer)))

  it.scopedLive("the fiber a subscription's overflow starts (from the buffer's callback) runs in the caller's runtime", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      // The overflow removes the subscription in a fiber of its own, which sends the unsubscribe message.
      const unsubscribedBy: Array<string> = []
      const mux = yield* Multiplex.make(server.url, {
        channelKey: "ch",
        reconnect: false,
        unsubscribeMessage: (channel) => {
          const fiber = Option.getOrThrow(Fiber.getCurrentFiber())
          unsubscribedBy.push(fiber.getFiberRef(who))
          return { op: "unsubscribe", channel }
        }
      })
      const sub = yield* mux.subscribe("a", { queueSize: 1, overflowPolicy: "error" })
      // Three messages into a subscription of one: the second overflows it.
      for (let i = 0; i < 3; i++) yield* mux.client.send({ ch: "a", i })
      yield* TestServer.waitUntil(() => unsubscribedBy.length > 0, "5 seconds")
      expect(unsubscribedBy).toEqual(["user"])
      expect(yield* sub.isActive).toBe(false)
    }).pipe(Effect.locally(who, "user"), Effect.provide(NodeTransport.layer)))

  it.scopedLive("the events hub publishes in the user's runtime: a ping's Ping and Pong events run in fibers the user's supervisor sees", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const recorder = new Recorder()
      yield* Effect.gen(function*() {
        const ws = yield* JetSocket.connect(server.url, { reconnect: false, heartbeat: false })
        const events = yield* ws.subscribeEvents
        const before = recorder.roots
        yield* ws.ping({ timeout: "5 seconds" })
        // One root fiber per event published from outside a fiber of the caller: the Ping
        // (published from the caller's fiber) and the Pong (from the socket callback).
        expect(recorder.roots - before).toBe(2)
        const tags = yield* events.pipe(Stream.filter((e) => e._tag === "Ping" || e._tag === "Pong"), Stream.take(2), Stream.runCollect)
        expect(Array.from(tags, (e) => e._tag)).toEqual(["Ping", "Pong"])
      }).pipe(Effect.supervised(recorder))
    }).pipe(Effect.locally(who, "user"), Effect.provide(NodeTransport.layer)))
})
