import { describe, expect, it } from "@effect/vitest"
import { Clock, Context, Effect, Exit, Fiber, FiberRef, HashMap, Logger, LogLevel, Option, Runtime, Scope, Supervisor } from "effect"
import * as JetSocket from "../src/JetSocket.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"
import type { Client } from "../src/internal/client.js"
import * as SharedRuntime from "../src/internal/sharedRuntime.js"
import * as Ticker from "../src/internal/ticker.js"

const shared = Effect.map(Effect.runtime<never>(), SharedRuntime.share)

class Setting extends Context.Tag("test/Setting")<Setting, number>() {}

describe("SharedRuntime", () => {
  it.effect("clients made by one fiber share one Runtime; any other FiberRef value or context gets its own", () =>
    Effect.gen(function*() {
      const first = yield* shared
      expect(yield* shared).toBe(first)
      expect(yield* shared).toBe(first)

      const debug = yield* shared.pipe(Logger.withMinimumLogLevel(LogLevel.Debug))
      expect(debug).not.toBe(first)
      expect(debug.fiberRefs).not.toBe(first.fiberRefs)

      const annotated = yield* shared.pipe(Effect.annotateLogs("client", "a"))
      expect(annotated).not.toBe(first)

      const clocked = yield* shared.pipe(Effect.withClock(Clock.make()))
      expect(clocked).not.toBe(first)

      const otherContext = yield* shared.pipe(Effect.provideService(Setting, 1))
      expect(otherContext).not.toBe(first)

      // the last Runtime per context is kept: clients made in a loop share it
      const again = yield* shared
      expect(yield* shared).toBe(again)
    }))

  it.effect("a client made under another user's Supervisor or logger never shares a Runtime, nor the heartbeat ticker that runs in it", () =>
    Effect.gen(function*() {
      const first = yield* shared
      const firstTicker = yield* Ticker.get
      expect(yield* Ticker.get).toBe(firstTicker)
      const supervisor = yield* Supervisor.track
      const supervised = yield* shared.pipe(Effect.supervised(supervisor))
      expect(supervised).not.toBe(first)
      const supervisedTicker = yield* Ticker.get.pipe(Effect.supervised(supervisor))
      expect(supervisedTicker).not.toBe(firstTicker)
      // two users, each with a supervisor of their own (the same FiberRefs set, other values)
      const other = yield* Supervisor.track
      expect(yield* shared.pipe(Effect.supervised(other))).not.toBe(supervised)
      const otherTicker = yield* Ticker.get.pipe(Effect.supervised(other))
      expect(otherTicker).not.toBe(supervisedTicker)
      expect(otherTicker).not.toBe(firstTicker)
      const logged = yield* shared.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, Logger.none)))
      expect(logged).not.toBe(first)
      expect(yield* Ticker.get.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, Logger.none)))).not.toBe(firstTicker)
    }))

  it.effect("clients made in a row in contexts that differ only in their services (a pool's clients) share the heartbeat ticker", () =>
    Effect.gen(function*() {
      const first = yield* Ticker.get.pipe(Effect.provideService(Setting, 1))
      expect(yield* Ticker.get.pipe(Effect.provideService(Setting, 2))).toBe(first)
      expect(yield* Ticker.get).toBe(first)
      // anything a fiber reports to differs: a ticker of its own
      expect(yield* Ticker.get.pipe(Effect.annotateLogs("client", "a"))).not.toBe(first)
    }))

  it("clients opened each by its own run, with its own scope and the same services, share one Runtime that holds no Scope", async () => {
    // as a service opening connections on demand (or the Promise API) does: runPromise + a scope + the layer
    const independent = (setting: number) =>
      Effect.runPromise(Effect.scoped(shared.pipe(Effect.provideService(Setting, setting))))
    const first = await independent(1)
    expect(await independent(1)).toBe(first)
    expect(Context.getOption(first.context, Scope.Scope)).toEqual(Option.none())
    // what runs in it sees the services, and no Scope (the context's FiberRef agrees with the context)
    expect(Runtime.runSync(first as Runtime.Runtime<Setting>)(Setting)).toBe(1)
    expect(Runtime.runSync(first)(Effect.serviceOption(Scope.Scope))).toEqual(Option.none())
    // another service value is another Runtime
    expect(await independent(2)).not.toBe(first)
  })

  it("independent runs that differ in a FiberRef value or a Supervisor each keep their own Runtime, with that value", async () => {
    const independent = (around: (self: Effect.Effect<Runtime.Runtime<never>>) => Effect.Effect<Runtime.Runtime<never>>) =>
      Effect.runPromise(Effect.scoped(around(shared.pipe(Effect.provideService(Setting, 1)))))
    const first = await independent((self) => self)
    expect(await independent((self) => self)).toBe(first)
    // a Supervisor (the last Runtime kept is the one compared): its own Runtime, whose fibers it sees
    const supervisor = Effect.runSync(Supervisor.track)
    const supervised = await independent(Effect.supervised(supervisor))
    expect(supervised).not.toBe(first)
    const forked = Runtime.runFork(supervised)(Effect.never)
    expect(Effect.runSync(supervisor.value)).toContain(forked)
    await Effect.runPromise(Fiber.interrupt(forked))
    // a log annotation (a FiberRef value) of the caller's: a Runtime of its own, which keeps it
    const annotated = await independent(Effect.annotateLogs("client", "a"))
    expect(annotated).not.toBe(first)
    const annotations = Runtime.runSync(annotated)(FiberRef.get(FiberRef.currentLogAnnotations))
    expect(HashMap.get(annotations, "client")).toEqual(Option.some("a"))
    // the same annotation set by another run (a new HashMap, an equal one): the same Runtime
    expect(await independent(Effect.annotateLogs("client", "a"))).toBe(annotated)
    expect(await independent(Effect.annotateLogs("client", "b"))).not.toBe(annotated)
  })

  it("clients connected each by its own runPromise share the Runtime their fibers run in, unless the caller's differs", async () => {
    const server = await Effect.runPromise(Scope.make().pipe(
      Effect.flatMap((scope) => Effect.map(Scope.extend(TestServer.make({ handler: TestServer.silent }), scope), (s) => ({ s, scope })))
    ))
    const scopes: Array<Scope.CloseableScope> = []
    const open = (around: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R> = (self) => self) => {
      const scope = Effect.runSync(Scope.make())
      scopes.push(scope)
      return Effect.runPromise(around(JetSocket.connect(server.s.url)).pipe(Scope.extend(scope), Effect.provide(NodeTransport.layer)))
        .then((ws) => (ws as unknown as Client<unknown>).env.runtime)
    }
    try {
      const [a, b] = await Promise.all([open(), open()])
      expect(b).toBe(a)
      const annotated = await open(Effect.annotateLogs("client", "c"))
      expect(annotated).not.toBe(a)
      expect(await open(Effect.annotateLogs("client", "c"))).toBe(annotated)
      expect(HashMap.get(Runtime.runSync(annotated)(FiberRef.get(FiberRef.currentLogAnnotations)), "client"))
        .toEqual(Option.some("c"))
    } finally {
      for (const scope of scopes) await Effect.runPromise(Scope.close(scope, Exit.void))
      await Effect.runPromise(Scope.close(server.scope, Exit.void))
    }
  }, 20_000)
})
