import { describe, expect, it } from "@effect/vitest"
import { Clock, Context, Effect, Logger, LogLevel, Option, Runtime, Scope, Supervisor } from "effect"
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
})
