import { describe, expect, it } from "@effect/vitest"
import { Effect, FiberRef, type Option, ParseResult, Schema, Supervisor } from "effect"
import type * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import type * as Context from "effect/Context"
import * as JetSocket from "../src/JetSocket.js"
import * as Multiplex from "../src/Multiplex.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"

// Issue 28 item 4: what the library runs for the user (codecs, schema transformations, fibers started
// from callbacks) runs in the user's runtime, so their FiberRefs, logger and supervisor see it.

/** Whose runtime an Effect ran in: "user" inside `Effect.locally(who, "user")`, "default" elsewhere. */
const who = FiberRef.unsafeMake("default")

/** A string tagged, when decoded, with the `who` of the runtime that decoded it. */
const Tagged = Schema.transformOrFail(Schema.String, Schema.Struct({ text: Schema.String, decodedBy: Schema.String }), {
  strict: true,
  decode: (text) => Effect.map(FiberRef.get(who), (decodedBy) => ({ text, decodedBy })),
  encode: ({ text }) => ParseResult.succeed(text)
})

/** Counts the fibers started with no parent (from a callback, through a runtime), as the user's supervisor sees them. */
class RootStarts extends Supervisor.AbstractSupervisor<number> {
  count = 0
  get value() {
    return Effect.sync(() => this.count)
  }
  override onStart<A, E, R>(
    _context: Context.Context<R>,
    _effect: Effect.Effect<A, E, R>,
    parent: Option.Option<Fiber.RuntimeFiber<any, any>>,
    _fiber: Fiber.RuntimeFiber<A, E>
  ): void {
    if (parent._tag === "None") this.count++
  }
  override onEnd<A, E>(_value: Exit.Exit<A, E>, _fiber: Fiber.RuntimeFiber<A, E>): void {}
}

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

  it.scopedLive("the fiber a subscription's overflow starts is seen by the user's supervisor", () => {
    const supervisor = new RootStarts()
    return Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const mux = yield* Multiplex.make(server.url, { channelKey: "ch", reconnect: false, heartbeat: false })
      const sub = yield* mux.subscribe("a", { queueSize: 1, overflowPolicy: "error" })
      const before = supervisor.count
      // Three messages into a subscription of one: the second overflows it, which removes it in a fiber of its own.
      for (let i = 0; i < 3; i++) yield* mux.client.send({ ch: "a", i })
      yield* TestServer.waitUntil(() => !Effect.runSync(sub.isActive), "5 seconds")
      expect(supervisor.count - before).toBe(1)
    }).pipe(Effect.supervised(supervisor), Effect.provide(NodeTransport.layer))
  })
})
