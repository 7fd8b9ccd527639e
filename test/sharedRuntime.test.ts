import { describe, expect, it } from "@effect/vitest"
import { Clock, Context, Effect, Logger, LogLevel, Option, Runtime, Scope } from "effect"
import * as SharedRuntime from "../src/internal/sharedRuntime.js"

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
