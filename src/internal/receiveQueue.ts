import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type { OverflowPolicy } from "../MessageBuffer.js"
import { Deque } from "./deque.js"

/**
 * A per-message failure (e.g. a message that did not decode), queued in line
 * with the messages. It fails the take that reaches it; the next take
 * continues after it, so one bad message does not end the connection.
 *
 * @internal
 */
export class Failure<E> {
  constructor(readonly error: E) {}
}

/**
 * What the backing gives once the buffer has ended and everything before the
 * end was taken. Sticky: never removed, so every taker (and every later take)
 * sees the end.
 *
 * @internal
 */
export const END: unique symbol = Symbol.for("jetsocket/ReceiveBuffer/end")

/** What `pollUpTo` gives once the buffer has ended and is drained (the same chunk every time). @internal */
export const endChunk: Chunk.Chunk<unknown> = Chunk.of(END)

/**
 * Runs `f` once the current event-loop turn's I/O is processed: a consumer
 * woken this way takes everything the turn's socket reads delivered in one
 * chunk (with large messages, one per read, a wake-up per read would cost a
 * consumer step per message). `setImmediate` on Node (the check phase, still
 * in the same turn); a microtask where there is none (browsers, where
 * `setTimeout(0)` is clamped).
 *
 * @internal
 */
export const afterTurn: (f: () => void) => void = (() => {
  // One timer for every buffer that needs waking this turn (a multiplexer has one buffer per subscription).
  let pending: Array<() => void> = []
  const run = () => {
    const batch = pending
    pending = []
    for (const f of batch) f()
  }
  const schedule = typeof globalThis.setImmediate === "function"
    ? () => void globalThis.setImmediate(run)
    : () => queueMicrotask(run)
  return (f) => {
    if (pending.push(f) === 1) schedule()
  }
})()

/**
 * A stream consumer suspended in `Effect.async` until the backing receives
 * a message (woken after the turn's I/O, see {@link afterTurn}) or the end.
 * The wait registers no interruption canceler: in Effect 3 a canceler wraps
 * every wait in `onInterrupt` (measured in docs/performance.md). An
 * interrupted wait instead leaves a dead `resume` (Effect ignores it),
 * forgotten at the next wake-up or once its fiber is done, so repeatedly
 * interrupted waits do not pile up.
 */
class ChunkWaiter {
  /** The waiting fiber: read from the runtime while it runs the registration, no extra step. */
  readonly fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined = Option.getOrUndefined(Fiber.getCurrentFiber())
  constructor(
    readonly resume: (effect: Effect.Effect<any, any>) => void,
    readonly retry: Effect.Effect<any, any>
  ) {}
}

/** The callbacks the backing reports to (a subset of the receive buffer's options). */
interface Hooks {
  readonly capacity: number
  readonly policy: OverflowPolicy
  /** Messages were dropped by a dropping policy. */
  readonly onDrop?: (count: number) => void
  /** Backpressure: the buffer reached capacity; stop reading. */
  readonly onPause?: () => void
  /** Backpressure: the consumer made room; read again. */
  readonly onResume?: () => void
}

/**
 * The Effect `Queue` strategy each overflow policy maps to. The strategy
 * governs Effectful `Queue.offer`/`offerAll` (a `"backpressure"` buffer
 * suspends such an offerer until there is room); the synchronous socket
 * callback offers with `unsafeOffer`, which Effect hands to a waiting taker
 * or to {@link ReceiveBacking.offer} without consulting the strategy, so the
 * backing applies the same policy itself.
 *
 * @internal
 */
export const queueStrategy = <A>(policy: OverflowPolicy): Queue.Strategy<A> => {
  switch (policy) {
    case "backpressure":
      return Queue.backPressureStrategy()
    case "drop_oldest":
      return Queue.slidingStrategy()
    case "drop_newest":
    case "error":
      return Queue.droppingStrategy()
  }
}

/**
 * The storage of a receive buffer's Effect `Queue` (`Queue.make(backing,
 * strategy)`): a bounded FIFO (an array with a moving head, made on the first
 * message) that applies the overflow policy in `offer`, counts drops, signals
 * pause/resume under `"backpressure"`, and keeps the buffer's end after the
 * last message.
 *
 * Invariants:
 * - `size() <= capacity`, except under `"backpressure"`, where {@link spill}
 *   adds what the socket had already parsed when the buffer filled up (one
 *   socket read at most: reading is paused at capacity).
 * - `failuresQueued` is the number of {@link Failure}s in `items` (while it is
 *   0, a taken batch needs no scan).
 * - `length()` counts the sticky end (1 once ended and drained), so that
 *   Effect's `unsafeOffer`/`unsafeCompleteTakers` hand it to every waiting
 *   taker.
 *
 * @internal
 */
export class ReceiveBacking<E> implements Queue.BackingQueue<unknown> {
  declare readonly [Queue.BackingQueueTypeId]: Queue.BackingQueue<unknown>[typeof Queue.BackingQueueTypeId]
  private items: Deque<unknown> | undefined
  /** How many {@link Failure}s are in `items`. */
  failuresQueued = 0
  /** The batch the last `pollUpTo` returned held a failure. */
  batchHadFailure = false
  droppedCount = 0
  /** Backpressure: reading is paused (the buffer reached capacity, not yet drained to half). */
  paused = false
  /** How the buffer ended (none: cleanly); `undefined` while open. */
  ended: Option.Option<E> | undefined
  /** Stream consumers waiting for a message (see {@link awaitItems}). */
  private waiters: Array<ChunkWaiter> | undefined
  private wakeScheduled = false

  constructor(private readonly hooks: Hooks) {}

  capacity(): number {
    return this.hooks.capacity
  }

  /** The messages (and failure markers) held, without the end. */
  size(): number {
    return this.items === undefined ? 0 : this.items.length
  }

  length(): number {
    const n = this.size()
    return n === 0 && this.ended !== undefined ? 1 : n
  }

  /**
   * Under the bound, queues the item; at capacity applies the policy:
   * `"drop_oldest"` evicts the oldest (counted) and queues it, `"drop_newest"`
   * refuses it (counted), `"error"` and `"backpressure"` refuse it (the
   * buffer reports the overflow; an Effectful offerer is suspended by the
   * back-pressure strategy).
   */
  offer(item: unknown): boolean {
    if (item === END) {
      // the end is `ended`, kept after everything; a waiting stream consumer takes it now
      this.wakeWaiters()
      return true
    }
    const items = this.items ??= new Deque()
    if (items.length >= this.hooks.capacity) {
      const policy = this.hooks.policy
      if (policy !== "drop_oldest") {
        if (policy === "drop_newest") this.drop()
        return false
      }
      if (items.shift() instanceof Failure) this.failuresQueued--
      this.drop()
    }
    this.push(items, item)
    return true
  }

  /** Backpressure only: keeps an item the socket delivered past capacity (reading is paused; nothing is lost). */
  spill(item: unknown): void {
    this.push(this.items ??= new Deque(), item)
  }

  offerAll(elements: Iterable<unknown>): Chunk.Chunk<unknown> {
    const refused: Array<unknown> = []
    for (const element of elements) if (!this.offer(element)) refused.push(element)
    return Chunk.unsafeFromArray(refused)
  }

  poll<Def>(def: Def): unknown {
    const items = this.items
    if (items !== undefined && items.length > 0) {
      const item = items.shift()
      if (item instanceof Failure) this.failuresQueued--
      if (this.paused) this.drained()
      return item
    }
    return this.ended !== undefined ? END : def
  }

  pollUpTo(limit: number): Chunk.Chunk<unknown> {
    const items = this.items
    if (items === undefined || items.length === 0) return this.ended !== undefined ? endChunk : Chunk.empty()
    this.batchHadFailure = this.failuresQueued > 0
    let out: Array<unknown>
    if (limit >= items.length) {
      out = items.drain()
      this.failuresQueued = 0
    } else {
      out = []
      while (out.length < limit) {
        const item = items.shift()
        if (item instanceof Failure) this.failuresQueued--
        out.push(item)
      }
    }
    if (this.paused) this.drained()
    return Chunk.unsafeFromArray(out)
  }

  /**
   * Puts taken items back in front, in their order: what a batch holds past a
   * failure (delivered by the next take), or the item that woke a chunk taker
   * (taken with the rest of the turn's messages).
   */
  unshiftAll(taken: ReadonlyArray<unknown>): void {
    if (taken.length === 0) return
    for (const item of taken) if (item instanceof Failure) this.failuresQueued++
    ;(this.items ??= new Deque()).unshiftAll(taken)
  }

  /**
   * Suspends a stream consumer until a message arrives (woken once the
   * turn's I/O is processed, so that it takes the turn's reads as one chunk
   * with `Queue.takeAll`) or the end, then runs `retry` in its fiber.
   *
   * Why not `Queue.take`: its wait makes a `Deferred` and two interruption
   * regions per wake-up, which a stream pays per chunk, i.e. per message on a
   * feed slower than the event loop (~5× this wait's CPU, measured in
   * bench/probes). `recv` does wait with `Queue.take`.
   */
  awaitItems<X, Y>(retry: Effect.Effect<X, Y>): Effect.Effect<X, Y> {
    return Effect.async<X, Y>((resume) => {
      // Something arrived between the take and this registration (the fiber yielded): take it now.
      if (this.length() > 0) return resume(retry)
      this.waiters = addWaiter(this.waiters, new ChunkWaiter(resume, retry))
    })
  }

  private readonly wakeAfterTurn = (): void => {
    this.wakeScheduled = false
    this.wakeWaiters()
  }

  private wakeWaiters(): void {
    const waiters = this.waiters
    if (waiters === undefined) return
    this.waiters = undefined
    for (const waiter of waiters) waiter.resume(waiter.retry)
  }

  private push(items: Deque<unknown>, item: unknown): void {
    items.push(item)
    if (this.waiters !== undefined && !this.wakeScheduled) {
      this.wakeScheduled = true
      afterTurn(this.wakeAfterTurn)
    }
    if (item instanceof Failure) this.failuresQueued++
    if (!this.paused && this.hooks.policy === "backpressure" && items.length >= this.hooks.capacity) {
      this.paused = true
      this.hooks.onPause?.()
    }
  }

  private drop(): void {
    this.droppedCount++
    this.hooks.onDrop?.(1)
  }

  /** Backpressure: resume reading once the consumer has drained half the buffer. */
  private drained(): void {
    if (this.size() <= this.hooks.capacity >>> 1) {
      this.paused = false
      this.hooks.onResume?.()
    }
  }
}

/** Adds a waiter, dropping those whose fiber has ended meanwhile (interrupted waits). */
const addWaiter = (waiters: Array<ChunkWaiter> | undefined, waiter: ChunkWaiter): Array<ChunkWaiter> => {
  if (waiters === undefined) return [waiter]
  const live = waiters.filter((w) => w.fiber === undefined || w.fiber.unsafePoll() === null)
  live.push(waiter)
  return live
}

Object.defineProperty(ReceiveBacking.prototype, Queue.BackingQueueTypeId, {
  value: { _A: (_: never) => _ }
})
