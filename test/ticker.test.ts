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

  it.effect("many entries (scheduled, rescheduled, cancelled in any order) run once each, in due order", () =>
    Effect.gen(function*() {
      const ticker = yield* Ticker.get
      const clock = yield* Effect.clock
      const ran: Array<{ readonly id: number; readonly at: number }> = []
      let seed = 42
      const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n
      const expected = new Map<number, number>() // id → when it must run
      const entries = Array.from({ length: 300 }, (_, id) =>
        new Ticker.TimerEntry(() => ran.push({ id, at: clock.unsafeCurrentTimeMillis() })))
      for (const [id, entry] of entries.entries()) {
        const delay = 1 + random(5_000)
        ticker.schedule(entry, delay)
        expected.set(id, delay)
      }
      for (const [id, entry] of entries.entries()) {
        if (id % 7 === 0) {
          ticker.cancel(entry)
          expected.delete(id)
        } else if (id % 11 === 0) {
          const delay = 1 + random(5_000) // earlier or later than before
          ticker.schedule(entry, delay)
          expected.set(id, delay)
        }
      }
      yield* settle
      for (let step = 0; step < 60; step++) {
        yield* TestClock.adjust(100)
        yield* settle
      }
      expect(ran.map((r) => r.id).sort((a, b) => a - b)).toEqual([...expected.keys()].sort((a, b) => a - b))
      for (const { at, id } of ran) expect(at).toBe(expected.get(id)) // TestClock.adjust passes through every wake-up
      expect(ran.map((r) => r.at)).toEqual(ran.map((r) => r.at).sort((a, b) => a - b))
      expect(entries.every((entry) => !entry.scheduled)).toBe(true)
    }))
})
