/**
 * The shared timer under TestClock (deterministic): entries run when the
 * clock reaches them, in order; an earlier entry wakes a long sleep; a
 * cancelled entry never runs. (The heartbeat built on it is tested under
 * TestClock in heartbeat.test.ts.)
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import * as Ticker from "../src/internal/ticker.js"

/** Lets forked fibers run (no real I/O is involved). */
const settle = Effect.repeatN(Effect.yieldNow(), 50)

describe("Ticker under TestClock", () => {
  it.effect("runs entries when due, in order, periodically when they reschedule", () =>
    Effect.gen(function*() {
      const ticker = yield* Ticker.get
      const runs: Array<string> = []
      const clock = yield* Effect.clock
      const at = () => `${clock.unsafeCurrentTimeMillis()}`
      const periodic: Ticker.TimerEntry = new Ticker.TimerEntry(() => {
        runs.push(`p@${at()}`)
        if (runs.filter((r) => r.startsWith("p")).length < 3) ticker.schedule(periodic, 100)
      })
      ticker.schedule(periodic, 100)
      ticker.schedule(new Ticker.TimerEntry(() => runs.push(`once@${at()}`)), 250)
      yield* settle
      yield* TestClock.adjust(99)
      yield* settle
      expect(runs).toEqual([])
      yield* TestClock.adjust(1)
      yield* settle
      expect(runs).toEqual(["p@100"])
      yield* TestClock.adjust(200)
      yield* settle
      expect(runs).toEqual(["p@100", "p@200", "once@250", "p@300"])
      yield* TestClock.adjust(1000)
      yield* settle
      expect(runs).toHaveLength(4)
    }))

  it.effect("an entry due sooner than the current sleep wakes it; a cancelled one never runs", () =>
    Effect.gen(function*() {
      const ticker = yield* Ticker.get
      const runs: Array<string> = []
      const late = new Ticker.TimerEntry(() => runs.push("late"))
      const cancelled = new Ticker.TimerEntry(() => runs.push("cancelled"))
      ticker.schedule(late, 10_000)
      ticker.schedule(cancelled, 50)
      yield* settle
      ticker.cancel(cancelled)
      ticker.schedule(new Ticker.TimerEntry(() => runs.push("soon")), 20)
      yield* settle
      yield* TestClock.adjust(20)
      yield* settle
      expect(runs).toEqual(["soon"])
      yield* TestClock.adjust(100)
      yield* settle
      expect(runs).toEqual(["soon"])
      yield* TestClock.adjust(10_000)
      yield* settle
      expect(runs).toEqual(["soon", "late"])
      expect(late.scheduled).toBe(false)
    }))
})
