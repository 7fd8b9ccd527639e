import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Schedule, ScheduleDecision, ScheduleIntervals } from "effect"
import * as Backoff from "../src/Backoff.js"

/** Steps a schedule the way the client does (once per failure); the delays until it stops (bounded). */
const delays = (schedule: Schedule.Schedule<unknown, unknown>, options: { max?: number; spentMs?: number } = {}) =>
  Effect.gen(function*() {
    let state = schedule.initial
    let now = 0
    const out: Array<number> = []
    for (let i = 0; i < (options.max ?? 50); i++) {
      const [next, , decision] = yield* schedule.step(now, new Error("boom"), state)
      state = next
      if (ScheduleDecision.isDone(decision)) return { delays: out, done: true }
      const delay = Math.max(0, ScheduleIntervals.start(decision.intervals) - now)
      out.push(delay)
      now += delay + (options.spentMs ?? 0)
    }
    return { delays: out, done: false }
  })

describe("Backoff", () => {
  it.effect("base 100 ms ×2 cap 1 s without jitter: 100, 200, 400, 800, 1000, 1000", () =>
    Effect.gen(function*() {
      const result = yield* delays(Backoff.schedule({ base: 100, multiplier: 2, cap: "1 second", jitter: false }), { max: 6 })
      expect(result.delays).toEqual([100, 200, 400, 800, 1000, 1000])
      expect(result.done).toBe(false)
    }))

  it.effect("multiplier 3, base 50 ms, cap 2 s", () =>
    Effect.gen(function*() {
      const result = yield* delays(Backoff.schedule({ base: 50, multiplier: 3, cap: "2 seconds", jitter: false }), { max: 6 })
      expect(result.delays).toEqual([50, 150, 450, 1350, 2000, 2000])
    }))

  it.effect("full jitter: every delay within [0, capped delay], and they vary", () =>
    Effect.gen(function*() {
      const capped = [100, 200, 400, 800, 1000, 1000, 1000, 1000, 1000, 1000]
      const seen = new Set<number>()
      const ratios: Array<number> = []
      for (let run = 0; run < 30; run++) {
        const result = yield* delays(Backoff.schedule({ base: 100, cap: "1 second", jitter: true }), { max: 10 })
        expect(result.delays).toHaveLength(10)
        result.delays.forEach((d, i) => {
          expect(d).toBeLessThanOrEqual(capped[i]!)
          ratios.push(d / capped[i]!)
          seen.add(d)
        })
      }
      // Uniform on [0, d]: 300 draws are not all the same, and they cover the whole range — the
      // mean of delay/capped is 0.5 ± 0.017 (σ), the lowest and highest tenths are reached
      // (a failure of each is ~1e-14). A jitter on [d/2, d] or [0, d/2] fails these.
      expect(seen.size).toBeGreaterThan(20)
      const mean = ratios.reduce((a, b) => a + b, 0) / ratios.length
      expect(mean).toBeGreaterThan(0.4)
      expect(mean).toBeLessThan(0.6)
      expect(Math.min(...ratios)).toBeLessThan(0.1)
      expect(Math.max(...ratios)).toBeGreaterThan(0.9)
    }))

  it.effect("maxAttempts 3 → 2 retries (3 attempts in all); 1 → no retry; 0 → forever", () =>
    Effect.gen(function*() {
      const three = yield* delays(Backoff.schedule({ base: 10, jitter: false, maxAttempts: 3 }))
      expect(three).toEqual({ delays: [10, 20], done: true })
      const one = yield* delays(Backoff.schedule({ base: 10, jitter: false, maxAttempts: 1 }))
      expect(one).toEqual({ delays: [], done: true })
      const forever = yield* delays(Backoff.schedule({ base: 10, cap: 100, jitter: false, maxAttempts: 0 }), { max: 40 })
      expect(forever.done).toBe(false)
      expect(forever.delays).toHaveLength(40)
    }))

  it.effect("maxElapsed gives up once the outage has lasted that long", () =>
    Effect.gen(function*() {
      // Delays 100, 200, 400, 800…; each attempt itself takes 50 ms.
      const result = yield* delays(Backoff.schedule({ base: 100, jitter: false, maxElapsed: "1 second" }), { spentMs: 50 })
      expect(result.done).toBe(true)
      // 100+50, 200+50, 400+50 = 850 ms elapsed → one more step allowed; then past 1 s.
      expect(result.delays).toEqual([100, 200, 400, 800])
    }))

  it("defaults: 1 s ×2 capped at 60 s, full jitter, forever, resetAfter 60 s", () => {
    expect(Duration.toMillis(Backoff.defaults.base)).toBe(1000)
    expect(Backoff.defaults.multiplier).toBe(2)
    expect(Duration.toMillis(Backoff.defaults.cap)).toBe(60_000)
    expect(Backoff.defaults.jitter).toBe(true)
    expect(Backoff.defaults.maxAttempts).toBe(0)
    expect(Duration.toMillis(Backoff.resetAfter())).toBe(60_000)
    expect(Duration.toMillis(Backoff.resetAfter({ resetAfter: "5 seconds" }))).toBe(5000)
  })

  it.effect("policy: false → stops at once; true / undefined → default; a Schedule is used as is", () =>
    Effect.gen(function*() {
      expect((yield* delays(Backoff.policy(false).schedule)).done).toBe(true)
      expect((yield* delays(Backoff.policy(false).schedule)).delays).toEqual([])
      const user = Schedule.spaced("250 millis").pipe(Schedule.intersect(Schedule.recurs(2)))
      const resolved = Backoff.policy(user)
      expect(yield* delays(resolved.schedule)).toEqual({ delays: [250, 250], done: true })
      const config = Backoff.policy({ base: 5, jitter: false, maxAttempts: 2, resetAfter: 700 })
      expect(yield* delays(config.schedule)).toEqual({ delays: [5], done: true })
      expect(Duration.toMillis(config.resetAfter)).toBe(700)
      const byDefault = yield* delays(Backoff.policy(undefined).schedule, { max: 5 })
      byDefault.delays.forEach((d, i) => expect(d).toBeLessThanOrEqual(1000 * 2 ** i))
    }))
})
