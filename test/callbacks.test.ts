/**
 * Every function a user hands JetSocket is guarded: a throw (or a defect in
 * the Effect it returns) ends the client with a `CallbackError` naming it —
 * the connect fails, or `messages` fails — or fails the one call it ran in.
 * Never a hang, never an uncaught exception (test/setup.ts fails the run on
 * one). Each wait is bounded, so a regression to a hang fails fast.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Stream } from "effect"
import * as JetSocket from "../src/JetSocket.js"
import { CallbackError, type JetSocketError } from "../src/JetSocketError.js"
import * as Multiplex from "../src/Multiplex.js"
import * as NodeTransport from "../src/NodeTransport.js"
import { connect as promiseConnect } from "../src/promise.js"
import * as RawServer from "../src/RawServer.js"
import * as TestServer from "../src/TestServer.js"
import * as Transport from "../src/Transport.js"
import { wsServer } from "./fixtures/wsServer.js"

const live = <A, E>(name: string, body: () => Effect.Effect<A, E, any>) =>
  it.scopedLive(name, () => body().pipe(Effect.provide(NodeTransport.layer)), 30_000)

/** The error `effect` failed with, within `seconds` (a hang fails the test with "hung"). */
const failure = <A>(effect: Effect.Effect<A, JetSocketError, any>, seconds = 5) =>
  effect.pipe(
    Effect.timeoutFail({ duration: `${seconds} seconds`, onTimeout: () => "hung" as const }),
    Effect.flip
  )

const expectCallbackError = (error: unknown, callback: string, message = "boom"): void => {
  expect(error).toBeInstanceOf(CallbackError)
  const e = error as CallbackError
  expect(e.callback).toBe(callback)
  expect(e.fatal).toBe(true)
  expect(e.message).toContain(callback)
  expect(e.message).toContain(message)
}

const boom = (): never => {
  throw new Error("boom")
}

describe("user callbacks that throw", () => {
  live("shouldReconnect that throws fails JetSocket.connect with CallbackError (ws server refusing with 503)", () =>
    Effect.gen(function*() {
      const server = yield* wsServer({ status: () => 503 })
      const error = yield* failure(
        JetSocket.connect(server.url, { heartbeat: false, reconnect: { base: "10 millis", jitter: false }, shouldReconnect: boom })
      )
      expectCallbackError(error, "shouldReconnect")
      expect(server.upgrades).toBe(1)
    }))

  live("after a drop, a throwing shouldReconnect fails messages and ready-waiters with CallbackError; state Failed", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: (c) => c.onMessage(() => c.drop()) })
      const ws = yield* JetSocket.connect(server.url, { heartbeat: false, shouldReconnect: boom })
      yield* ws.sendText("drop")
      expectCallbackError(yield* failure(Stream.runDrain(ws.messages)), "shouldReconnect")
      expect(yield* ws.state).toBe("Failed")
      expectCallbackError(yield* failure(ws.recv()), "shouldReconnect")
      expect(server.upgradeCount()).toBe(1)
    }))

  it("the Promise API's connect rejects with the CallbackError (no hang)", async () => {
    const error = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const server = yield* wsServer({ status: () => 503 })
      return yield* Effect.promise(() =>
        Promise.race([
          promiseConnect(server.url, { heartbeat: false, reconnect: { base: "10 millis" }, shouldReconnect: boom }).then(
            () => "connected",
            (e: unknown) => e
          ),
          new Promise((resolve) => setTimeout(() => resolve("hung"), 5000))
        ])
      )
    })))
    expectCallbackError(error, "shouldReconnect")
  })

  live("a dedup key, a sequence key and a pongMatcher that throw end the client naming each (RawServer echo)", () =>
    Effect.gen(function*() {
      const server = yield* RawServer.make({ handler: RawServer.echo })
      const cases: ReadonlyArray<readonly [string, JetSocket.JetSocket.Options]> = [
        ["buffer.dedup.key", { buffer: { dedup: { window: 10, key: boom } } }],
        ["replay.sequenceKey", { replay: { mode: "sequence_id", sequenceKey: boom } }],
        ["heartbeat.pongMatcher", { heartbeat: { interval: "1 hour", payload: { op: "ping" }, pongMatcher: boom } }]
      ]
      for (const [callback, options] of cases) {
        const ws = yield* JetSocket.connect(server.url, { reconnect: false, heartbeat: false, ...options })
        yield* ws.send({ id: 1 })
        expectCallbackError(yield* failure(Stream.runDrain(ws.messages)), callback)
        expect(yield* ws.state).toBe("Failed")
      }
    }))

  live("a request match that throws fails that request only; the client keeps working (ws echo server)", () =>
    Effect.gen(function*() {
      const server = yield* wsServer()
      const ws = yield* JetSocket.connect(server.url, { heartbeat: false })
      const error = yield* failure(ws.request({ id: 1 }, { match: boom, timeout: "20 seconds" }))
      expectCallbackError(error, "request match")
      // The echo the matcher threw on is still delivered, and the client works on.
      expect(yield* ws.recv({ timeout: "5 seconds" })).toEqual({ id: 1 })
      const reply = yield* ws.request({ id: 2 }, { match: (m: any) => m.id === 2, timeout: "5 seconds" })
      expect(reply).toEqual({ id: 2 })
      expect(yield* ws.state).toBe("Connected")
    }))

  live("a connect hook that throws on reconnect ends the client with CallbackError('onConnect hook')", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: (c) => c.onMessage(() => c.drop()) })
      const ws = yield* JetSocket.connect(server.url, { heartbeat: false, reconnect: { base: "10 millis", jitter: false } })
      yield* ws.onConnect(() => Effect.sync(boom))
      yield* ws.sendText("drop")
      expectCallbackError(yield* failure(Stream.runDrain(ws.messages)), "onConnect hook")
      expect(yield* ws.state).toBe("Failed")
      expect(server.upgradeCount()).toBe(2)
      // The connection the hook failed on is closed with a close frame (1011), not reset.
      yield* TestServer.waitUntil(() => server.closes().some((c) => c.connection === 1), 5_000).pipe(Effect.orDie)
      expect(server.closes().find((c) => c.connection === 1)).toMatchObject({ code: 1011, reason: "connection set-up failed" })
    }))

  live("replay.onReplay that throws, or whose Effect dies, ends the client on reconnect with CallbackError('replay.onReplay')", () =>
    Effect.gen(function*() {
      for (const onReplay of [boom, () => Effect.sync(boom)]) {
        const server = yield* TestServer.make({ handler: (c) => c.onMessage(() => c.drop()) })
        const ws = yield* JetSocket.connect<{ seq: number }>(server.url, {
          heartbeat: false,
          reconnect: { base: "10 millis", jitter: false },
          replay: { mode: "sequence_id", sequenceKey: (m) => m.seq, onReplay }
        })
        yield* ws.sendText("drop")
        expectCallbackError(yield* failure(Stream.runDrain(ws.messages)), "replay.onReplay")
        expect(yield* ws.state).toBe("Failed")
        expect(server.upgradeCount()).toBe(2)
      }
    }))

  live("Multiplex: routing by channelKey over a value whose field throws fails every subscription with CallbackError('channelKey')", () =>
    Effect.gen(function*() {
      const server = yield* wsServer()
      // a custom codec can decode to anything: here an object whose `channel` getter throws
      const mux = yield* Multiplex.make(server.url, {
        heartbeat: false,
        channelKey: "channel",
        codec: {
          encode: (m: unknown) => Effect.succeed(JSON.stringify(m)),
          decode: () =>
            Effect.succeed({
              get channel(): string {
                return boom()
              }
            })
        }
      })
      const sub = yield* mux.subscribe("a")
      yield* mux.client.sendText("{}")
      expectCallbackError(yield* failure(Stream.runDrain(sub.messages)), "channelKey")
    }))

  live("a url, headers or protocols Effect that dies fails the connect with CallbackError naming it", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      expectCallbackError(yield* failure(JetSocket.connect(Effect.sync(boom), { heartbeat: false })), "url")
      expectCallbackError(yield* failure(JetSocket.connect(server.url, { heartbeat: false, headers: Effect.sync(boom) })), "headers")
      expectCallbackError(yield* failure(JetSocket.connect(server.url, { heartbeat: false, protocols: Effect.sync(boom) })), "protocols")
      expect(server.upgradeCount()).toBe(0)
    }))

  live("a custom codec: decode that throws ends the client, encode that throws fails that send (RawServer echo)", () =>
    Effect.gen(function*() {
      const server = yield* RawServer.make({ handler: RawServer.echo })
      const throwingDecode = yield* JetSocket.connect<string>(server.url, {
        heartbeat: false,
        reconnect: false,
        codec: { encode: (s: string) => Effect.succeed(s), decode: boom }
      })
      yield* throwingDecode.send("hello")
      expectCallbackError(yield* failure(Stream.runDrain(throwingDecode.messages)), "codec.decode")
      expect(yield* throwingDecode.state).toBe("Failed")

      const dyingEncode = yield* JetSocket.connect<string>(server.url, {
        heartbeat: false,
        reconnect: false,
        codec: { encode: () => Effect.sync(boom), decode: (f) => Effect.succeed(String(f)) }
      })
      expectCallbackError(yield* failure(dyingEncode.send("x")), "codec.encode")
      yield* dyingEncode.sendText("still works")
      expect(yield* dyingEncode.recv({ timeout: "5 seconds" })).toBe("still works")
    }))

  live("Multiplex: a channelExtractor that throws fails every subscription; a subscribeMessage that throws fails subscribe", () =>
    Effect.gen(function*() {
      const server = yield* wsServer()
      const mux = yield* Multiplex.make(server.url, { heartbeat: false, channelExtractor: boom })
      const sub = yield* mux.subscribe("a")
      yield* mux.client.send({ channel: "a" })
      expectCallbackError(yield* failure(Stream.runDrain(sub.messages)), "channelExtractor")

      const mux2 = yield* Multiplex.make(server.url, { heartbeat: false, channelKey: "channel", subscribeMessage: boom })
      expectCallbackError(yield* failure(Effect.scoped(mux2.subscribe("b"))), "subscribeMessage")
      expect(yield* mux2.subscriptions).toEqual([])
    }))

  live("Multiplex: an unsubscribeMessage that throws fails the other subscriptions, never the scope that unsubscribed", () =>
    Effect.gen(function*() {
      const server = yield* wsServer()
      const mux = yield* Multiplex.make(server.url, { heartbeat: false, channelKey: "channel", unsubscribeMessage: boom })
      const kept = yield* mux.subscribe("kept")
      const left = yield* Effect.exit(Effect.scoped(mux.subscribe("left")))
      expect(Exit.isSuccess(left)).toBe(true)
      expectCallbackError(yield* failure(Stream.runDrain(kept.messages)), "unsubscribeMessage")
    }))

  live("a custom Transport whose connect throws fails the connect with CallbackError('Transport.connect')", () =>
    Effect.gen(function*() {
      const throwing = Transport.make("throwing", boom)
      const error = yield* failure(JetSocket.connect("ws://127.0.0.1:1", { heartbeat: false }).pipe(
        Effect.provideService(Transport.Transport, throwing)
      ))
      expectCallbackError(error, "Transport.connect")
    }))

  live("the connecting fiber dying (a transport's connection that throws) settles ready with a typed error, no hang", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      // A connection whose `protocol` getter throws: read by the connecting fiber after the handshake.
      const node = yield* Transport.Transport.pipe(Effect.provide(NodeTransport.layer))
      const broken = Transport.make("broken", (request) =>
        Effect.map(node.connect(request), (connection) =>
          Object.create(connection, {
            protocol: {
              get: boom
            }
          })))
      const exit = yield* JetSocket.connect(server.url, { heartbeat: false, reconnect: false }).pipe(
        Effect.provideService(Transport.Transport, broken),
        Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => "hung" as const }),
        Effect.exit
      )
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) {
        const error = Cause.failureOption(exit.cause)
        expect(error._tag).toBe("Some")
        if (error._tag === "Some") {
          expect(error.value).toMatchObject({ _tag: "InvalidStateError" })
          expect(String((error.value as { message: string }).message)).toContain("boom")
        }
      }
    }))
})
