import { describe, expect, it } from "@effect/vitest"
import { Clock, Context, Effect, Logger, LogLevel } from "effect"
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
})
