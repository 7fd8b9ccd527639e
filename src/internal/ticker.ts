import type * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import * as Runtime from "effect/Runtime"

/**
 * A timer entry: `run` is called once the clock reaches `due`. Schedule it
 * again from `run` (or anywhere) to make it periodic. Either give the
 * callback, or extend the class and override `run` (a client's connection is
 * its own heartbeat entry: no closure per connection).
 *
 * @internal
 */
export class TimerEntry {
  /** When it is due, in {@link Ticker.elapsed} milliseconds. */
  due = 0
  scheduled = false
  /** Only on entries made with a callback: a subclass's entries hold no such field. */
  declare private readonly callback: (() => void) | undefined
  constructor(callback?: () => void) {
    if (callback !== undefined) this.callback = callback
  }
  run(): void {
    this.callback?.()
  }
}

/**
 * Many timers on one fiber. A heartbeat per connection as its own sleeping
 * fiber costs ~5 KiB of heap per idle connection (more than the socket
 * itself); here an idle connection holds one small entry, and one fiber per
 * `Clock` sleeps until the earliest entry is due. Using the `Clock` (never
 * `setTimeout`) keeps heartbeats deterministic under `TestClock`.
 *
 * The fiber exists only while entries do, so it never keeps a process alive
 * or a test clock busy after the last connection closed.
 *
 * @internal
 */
export class Ticker {
  private readonly entries = new Set<TimerEntry>()
  private running = false
  /** When the fiber's current sleep ends (`Infinity` when it is not sleeping). */
  private sleepingUntil = Number.POSITIVE_INFINITY
  /** Completing it wakes the fiber early (an entry became due sooner, or none is left). */
  private wake: Deferred.Deferred<void> | undefined
  private defects: Array<unknown> = []
  /** When the ticker was made, on its clock. */
  private readonly epoch: number

  constructor(private readonly clock: Clock.Clock) {
    this.epoch = clock.unsafeCurrentTimeMillis()
  }

  /**
   * Milliseconds on this ticker's clock since it was made. Times kept per
   * connection are kept in this measure: a small integer is stored in its
   * field, while epoch milliseconds (over 2^31) need a 16-byte heap number
   * per field and object.
   */
  elapsed(): number {
    // Math.floor: the difference of two heap numbers is a heap number even when integral.
    return Math.floor(this.clock.unsafeCurrentTimeMillis() - this.epoch)
  }

  /** Runs `entry` after `delay` milliseconds (replacing an earlier schedule of it). */
  schedule(entry: TimerEntry, delay: number): void {
    entry.due = Math.ceil(this.elapsed() + delay) // an integer (see `elapsed`), never early
    entry.scheduled = true
    this.entries.add(entry)
    if (!this.running) {
      this.running = true
      // The default runtime: the loop sleeps on `this.clock` itself, and must not keep (or run
      // under) the context, logger or supervisor of whichever client happened to start it.
      Runtime.runFork(Runtime.defaultRuntime)(this.loop, { immediate: false })
    } else if (entry.due < this.sleepingUntil) {
      this.interruptSleep()
    }
  }

  cancel(entry: TimerEntry): void {
    entry.scheduled = false
    if (this.entries.delete(entry) && this.entries.size === 0) this.interruptSleep()
  }

  private interruptSleep(): void {
    const wake = this.wake
    this.wake = undefined
    if (wake !== undefined) Deferred.unsafeDone(wake, Effect.void)
  }

  /** Runs what is due; the delay until the next entry, or `undefined` when none is left. */
  private runDue(): number | undefined {
    const now = this.elapsed()
    const due: Array<TimerEntry> = []
    for (const entry of this.entries) if (entry.due <= now) due.push(entry)
    for (const entry of due) {
      this.entries.delete(entry)
      entry.scheduled = false
    }
    // Entries run after the scan: they may schedule themselves (or others) again.
    for (const entry of due) {
      try {
        entry.run()
      } catch (error) {
        // A defect in one entry must not stop the others' timers: report it and go on.
        this.defects.push(error)
      }
    }
    if (this.entries.size === 0) return undefined
    let next = Number.POSITIVE_INFINITY
    for (const entry of this.entries) if (entry.due < next) next = entry.due
    return Math.max(0, next - this.elapsed())
  }

  private readonly loop: Effect.Effect<void> = Effect.suspend(() => {
    const delay = this.runDue()
    if (this.defects.length > 0) {
      const defects = this.defects
      this.defects = []
      return Effect.zipRight(Effect.logError("jetsocket: a timer callback threw", ...defects), this.loop)
    }
    if (delay === undefined) {
      this.running = false
      this.sleepingUntil = Number.POSITIVE_INFINITY
      return Effect.void
    }
    const wake = Deferred.unsafeMake<void>(FiberId.none)
    this.wake = wake
    this.sleepingUntil = this.elapsed() + delay
    return Effect.raceFirst(this.clock.sleep(Duration.millis(delay)), Deferred.await(wake)).pipe(
      Effect.zipRight(Effect.suspend(() => {
        this.sleepingUntil = Number.POSITIVE_INFINITY
        return this.loop
      }))
    )
  })
}

const tickers = new WeakMap<Clock.Clock, Ticker>()

/**
 * The ticker of the current `Clock` (one per clock: the live one, or each
 * test's `TestClock`).
 *
 * @internal
 */
export const get: Effect.Effect<Ticker> = Effect.gen(function*() {
  const clock = yield* Effect.clock
  let ticker = tickers.get(clock)
  if (ticker === undefined) {
    ticker = new Ticker(clock)
    tickers.set(clock, ticker)
  }
  return ticker
})
