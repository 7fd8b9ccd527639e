import type * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Runtime from "effect/Runtime"
import * as SharedRuntime from "./sharedRuntime.js"

/**
 * A timer entry: `run` is called once the clock reaches `due`. Schedule it
 * again from `run` (or anywhere) to make it periodic. Either give the
 * callback, or extend the class and override `run` (a client's connection is
 * its own heartbeat entry: no closure per connection).
 *
 * @internal
 */
export class TimerEntry {
  /** When it is due, in the ticker's clock's epoch milliseconds. */
  due = 0
  /** Its place in the ticker's heap; -1 while not scheduled. */
  index = -1
  /** What it runs (a subclass overrides `run` instead). */
  constructor(private readonly callback?: () => void) {}
  run(): void {
    this.callback?.()
  }
  get scheduled(): boolean {
    return this.index >= 0
  }
}

/**
 * Many timers on one fiber. A heartbeat per connection as its own sleeping
 * fiber would cost more heap than the socket itself (docs/performance.md);
 * here an idle connection holds one small entry, and one fiber per
 * Runtime sleeps until the earliest entry is due. Using the `Clock` (never
 * `setTimeout`) keeps heartbeats deterministic under `TestClock`.
 *
 * One ticker per Runtime its clients were made in (see {@link of}): clients
 * made in a row by one fiber share a Runtime (internal/sharedRuntime.ts), so
 * they share one fiber, and that fiber runs in their runtime — their
 * supervisor sees it, their logger reports a timer callback's defect, their
 * `Clock` times it. Runtimes alike in all but their context (a pool's
 * clients) share one too. A client made with another supervisor, logger,
 * tracer, clock or log annotations gets another ticker: nothing of one
 * user runs in another's context.
 *
 * The fiber exists only while entries do: it is started by the first entry
 * scheduled, ends when the last is cancelled or has run, so it never keeps a
 * process alive or a test clock busy after the last connection closed. If it
 * is stopped from outside (a user interrupting the fibers their supervisor
 * saw) while entries remain, it starts again at once in the same runtime: a
 * live connection's heartbeat never silently stops. The entries are a
 * binary min-heap on `due` (an array slot per entry, the next due at its
 * root): scheduling is O(log n), finding the next due O(1), where a set
 * scanned at every wake-up would cost O(n) per beat.
 *
 * @internal
 */
export class Ticker {
  private readonly heap: Array<TimerEntry> = []
  /** The timer fiber, while it runs (entries are scheduled, or it is about to see that none is left). */
  private fiber: Fiber.RuntimeFiber<void> | undefined = undefined
  /** When the fiber's current sleep ends (`Infinity` when it is not sleeping). */
  private sleepingUntil = Number.POSITIVE_INFINITY
  /** Completing it wakes the fiber early (an entry became due sooner, or none is left). */
  private wake: Deferred.Deferred<void> | undefined
  private defects: Array<unknown> = []

  constructor(
    /** Where the timer fiber runs: the Runtime of the clients whose entries it holds. */
    readonly runtime: Runtime.Runtime<never>,
    readonly clock: Clock.Clock
  ) {}

  /** Epoch milliseconds on the ticker's clock (the live clock, or a test's `TestClock`). */
  now(): number {
    return this.clock.unsafeCurrentTimeMillis()
  }

  /** Runs `entry` after `delay` milliseconds (replacing an earlier schedule of it). */
  schedule(entry: TimerEntry, delay: number): void {
    entry.due = this.now() + delay
    if (entry.index < 0) {
      entry.index = this.heap.length
      this.heap.push(entry)
    }
    this.restore(entry.index)
    if (this.fiber === undefined) {
      this.start()
    } else if (entry.due < this.sleepingUntil) {
      this.interruptSleep()
    }
  }

  cancel(entry: TimerEntry): void {
    if (entry.index < 0) return
    this.remove(entry.index)
    if (this.heap.length === 0) this.interruptSleep()
  }

  /** The timer fiber, when one runs (for tests: a user's supervisor must see it). */
  get currentFiber(): Fiber.RuntimeFiber<void> | undefined {
    return this.fiber
  }

  /** Starts the timer fiber in the clients' runtime. */
  private start(): void {
    const fiber = Runtime.runFork(this.runtime)(this.loop, { immediate: false })
    this.fiber = fiber
    fiber.addObserver(() => this.stopped(fiber))
  }

  /**
   * The timer fiber ended. When the loop ended it (no entry left) it is no
   * longer `this.fiber`; otherwise it was stopped from outside, and is started
   * again if entries remain.
   */
  private stopped(fiber: Fiber.RuntimeFiber<void>): void {
    if (this.fiber !== fiber) return
    this.fiber = undefined
    this.wake = undefined
    this.sleepingUntil = Number.POSITIVE_INFINITY
    if (this.heap.length > 0) this.start()
  }

  private interruptSleep(): void {
    const wake = this.wake
    this.wake = undefined
    if (wake !== undefined) Deferred.unsafeDone(wake, Effect.void)
  }

  /** Runs what is due; the delay until the next entry, or `undefined` when none is left. */
  private runDue(): number | undefined {
    const now = this.now()
    const due: Array<TimerEntry> = []
    while (this.heap.length > 0 && this.heap[0]!.due <= now) due.push(this.remove(0))
    // Entries run once all due ones are taken: they may schedule themselves (or others) again.
    for (const entry of due) {
      try {
        entry.run()
      } catch (error) {
        // A defect in one entry must not stop the others' timers: report it and go on.
        this.defects.push(error)
      }
    }
    if (this.heap.length === 0) return undefined
    return Math.max(0, this.heap[0]!.due - this.now())
  }

  /** Takes the entry at `index` out of the heap. */
  private remove(index: number): TimerEntry {
    const heap = this.heap
    const entry = heap[index]!
    const last = heap.pop()!
    if (last !== entry) {
      heap[index] = last
      last.index = index
      this.restore(index)
    }
    entry.index = -1
    return entry
  }

  /** Moves the entry at `index` up or down to where its `due` belongs. */
  private restore(index: number): void {
    const heap = this.heap
    const entry = heap[index]!
    let i = index
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (heap[parent]!.due <= entry.due) break
      this.place(heap[parent]!, i)
      i = parent
    }
    if (i === index) {
      while (true) {
        const left = 2 * i + 1
        if (left >= heap.length) break
        const right = left + 1
        const child = right < heap.length && heap[right]!.due < heap[left]!.due ? right : left
        if (heap[child]!.due >= entry.due) break
        this.place(heap[child]!, i)
        i = child
      }
    }
    this.place(entry, i)
  }

  private place(entry: TimerEntry, index: number): void {
    this.heap[index] = entry
    entry.index = index
  }

  private readonly loop: Effect.Effect<void> = Effect.suspend(() => {
    const delay = this.runDue()
    if (this.defects.length > 0) {
      const defects = this.defects
      this.defects = []
      return Effect.zipRight(Effect.logError("jetsocket: a timer callback threw", ...defects), this.loop)
    }
    if (delay === undefined) {
      this.fiber = undefined
      this.sleepingUntil = Number.POSITIVE_INFINITY
      return Effect.void
    }
    const wake = Deferred.unsafeMake<void>(FiberId.none)
    this.wake = wake
    this.sleepingUntil = this.now() + delay
    return Effect.raceFirst(this.clock.sleep(Duration.millis(delay)), Deferred.await(wake)).pipe(
      Effect.zipRight(Effect.suspend(() => {
        this.sleepingUntil = Number.POSITIVE_INFINITY
        return this.loop
      }))
    )
  })
}

const byRuntime = new WeakMap<Runtime.Runtime<never>, Ticker>()
/** The last ticker made or shared per `Clock`: clients made in a row in alike runtimes share it. */
const lastByClock = new WeakMap<Clock.Clock, Ticker>()

/**
 * The ticker of the clients made in `runtime` (a Runtime from
 * `SharedRuntime.share`), timing with `clock` (that runtime's `Clock`: the
 * live one, or a test's `TestClock`). Runtimes that differ in their context
 * only (each client of a pool is made with its own scope and transport in
 * its context) share the last ticker made: its fiber runs in the first of
 * them, which reports to the same supervisor, loggers and tracer as the
 * others (see `SharedRuntime.sameButContext`). A runtime that differs in
 * anything else (another user's supervisor, logger, tracer, clock, log
 * annotations) gets a ticker of its own.
 *
 * @internal
 */
export const of = (runtime: Runtime.Runtime<never>, clock: Clock.Clock): Ticker => {
  let ticker = byRuntime.get(runtime)
  if (ticker === undefined || ticker.clock !== clock) {
    const last = lastByClock.get(clock)
    ticker = last !== undefined && SharedRuntime.sameButContext(last.runtime, runtime) ? last : new Ticker(runtime, clock)
    byRuntime.set(runtime, ticker)
  }
  lastByClock.set(clock, ticker)
  return ticker
}

/**
 * The ticker of the calling fiber's runtime and `Clock`.
 *
 * @internal
 */
export const get: Effect.Effect<Ticker> = Effect.gen(function*() {
  const runtime = SharedRuntime.share(yield* Effect.runtime<never>())
  return of(runtime, yield* Effect.clock)
})
