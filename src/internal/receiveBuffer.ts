import * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"
import * as Mailbox from "effect/Mailbox"
import * as Runtime from "effect/Runtime"
import * as Scheduler from "effect/Scheduler"
import * as Stream from "effect/Stream"
import type { OverflowPolicy } from "../MessageBuffer.js"

/**
 * The receive buffer, in one module: the overflow policy and the Effect
 * `Mailbox` strategy it maps to, the bound, per-message failures, the end and
 * the failure of the stream, and the dedup window. The client and every
 * multiplexed subscription use it.
 */

/**
 * The Effect `Mailbox` strategy each overflow policy is made with: the one
 * definition of the mapping.
 *
 * @internal
 */
export const strategyOf = (policy: OverflowPolicy): "sliding" | "dropping" | "suspend" => {
  switch (policy) {
    case "drop_oldest":
      return "sliding"
    case "drop_newest":
    case "error":
      return "dropping"
    case "backpressure":
      return "suspend"
  }
}

/**
 * Once per event-loop turn, on Node: one batch, run with `setImmediate` once
 * the turn's I/O is processed, shared by every buffer. A stream consumer so
 * takes every socket read of the turn as one chunk, and a multiplexer's
 * subscriptions are woken once per turn, not once per read (libuv hands a
 * busy socket's data over in several reads per turn: with a wake-up per
 * read, 100 subscriptions took chunks of a few messages each, half the
 * throughput, docs/performance.md). Where there is no `setImmediate`
 * (browsers, whose `setTimeout(0)` is clamped) the runtime's own scheduler
 * (microtasks) is kept.
 */
const perTurn: Scheduler.Scheduler | undefined = typeof globalThis.setImmediate === "function"
  ? Scheduler.makeBatched((runBatch) => void globalThis.setImmediate(runBatch))
  : undefined

/**
 * The scheduler a receive buffer's Mailbox wakes its waiting consumer with
 * (the Mailbox's only use of one: its `releaseTaker` task after an offer),
 * chosen by how the consumer takes:
 * - a stream takes everything buffered as one chunk (`takeAll`): woken
 *   {@link perTurn}, so that the chunk holds the whole turn's reads;
 * - `recv` takes one message: woken at once, from the offer in the socket
 *   callback. Its fiber then resumes in the microtask after that callback,
 *   as when the offer itself resumed it (before the Mailbox): a per-turn
 *   wake-up would only move its resume to the end of the turn, a scheduler
 *   hop on every request/reply round trip (docs/performance.md, "Issue 29:
 *   the echo wake-up").
 *
 * The consumer that waited last decides (one consumer per buffer is the
 * rule; with both kinds at once either choice only moves a wake-up).
 */
class Wake implements Scheduler.Scheduler {
  /** The last consumer to take was `recv`. */
  oneAtATime = false
  constructor(private readonly later: Scheduler.Scheduler) {}
  scheduleTask(task: Scheduler.Task, priority: number): void {
    if (this.oneAtATime) task()
    else this.later.scheduleTask(task, priority)
  }
  shouldYield(fiber: Fiber.RuntimeFiber<unknown, unknown>): number | false {
    return this.later.shouldYield(fiber)
  }
}

/** @internal */
export interface ReceiveBufferOptions<E> {
  readonly capacity: number
  readonly policy: OverflowPolicy
  /**
   * The runtime the backpressure offer runs in, and whose scheduler wakes
   * consumers where there is no per-turn batch: the user's (the client's and
   * the multiplexer's, or the caller's of the public `MessageBuffer.make`).
   */
  readonly runtime: Runtime.Runtime<never>
  /** A message was dropped by the `"drop_oldest"` or `"drop_newest"` policy. */
  readonly onDrop?: (count: number) => void
  /** The Mailbox refused a message under the `"error"` policy. */
  readonly onOverflow?: () => void
  /** Backpressure: the Mailbox is full (an offer may wait); stop reading. */
  readonly onPause?: () => void
  /** Backpressure: the waiting offer completed and the buffer is down to half; read again. */
  readonly onResume?: () => void
  /** Called after each chunk the consumer takes (metrics, bookkeeping). */
  readonly onTake?: (count: number) => void
  /**
   * Turns what was offered into what consumers get, as they take it (see
   * `decodeTaken` in the client): the value, a {@link failure}, or
   * {@link skip} to leave the item out.
   */
  readonly decode?: (item: unknown) => unknown
  /** `decode` is set and turned on (an options object with a prototype `decode` may leave it off). */
  readonly decodes?: boolean
  readonly _E?: (e: E) => void
}

/** @internal What `decode` returns to leave an item out. */
export const skip: unique symbol = Symbol.for("jetsocket/ReceiveBuffer/skip")

/**
 * A per-message failure (e.g. a message that did not decode), queued in line
 * with the messages. It fails the take that reaches it; the next take
 * continues after it, so one bad message does not end the connection.
 */
class Failure<E> {
  constructor(readonly error: E) {}
}

/** @internal What `decode` returns for an item that fails the stream run reaching it. */
export const failure = <E>(error: E): unknown => new Failure(error)

/** @internal */
export interface ReceiveBuffer<A, E> {
  readonly capacity: number
  readonly policy: OverflowPolicy
  /** Offers a message; `false` when it was not accepted (dropped, refused, or the buffer ended). */
  readonly offer: (message: A) => boolean
  /** Queues a per-message failure, delivered in order. */
  readonly offerFailure: (error: E) => void
  /** Ends the buffer: consumers drain what is left, then end. */
  readonly end: () => void
  /** Ends the buffer with an error: consumers drain what is left, then fail. */
  readonly fail: (error: E) => void
  /** Messages held: in the Mailbox, in the waiting backpressure offer, and put back after a failure. */
  readonly size: () => number
  readonly dropped: () => number
  /** Backpressure holds reading paused: from `onPause` until `onResume`. */
  readonly isPaused: () => boolean
  /**
   * The next message. Once the buffer has ended and is drained, fails with
   * the error it ended with, or with `onEnd()` when it ended cleanly.
   */
  readonly recv: (onEnd: () => E) => Effect.Effect<A, E>
  /** A stream of the messages, pulled in chunks. */
  readonly stream: Stream.Stream<A, E>
}

/**
 * The receive buffer: an Effect `Mailbox` made with the strategy the
 * overflow policy maps to ({@link strategyOf}), filled synchronously by the
 * transport callback with `unsafeOffer`, which applies the strategy itself:
 * `"sliding"` evicts the oldest, `"dropping"` refuses (`"drop_newest"` counts
 * it, `"error"` reports the overflow, which the owner answers with `fail`),
 * and `"suspend"` refuses at capacity: backpressure. Reading is paused once
 * the Mailbox is full; what the socket had already parsed is offered with the
 * Mailbox's own suspending `offerAll`, in a fiber of the user's runtime, and
 * reading resumes once that offer has completed and consumers have taken the
 * buffer down to half (hysteresis: not a pause and a resume per socket read).
 *
 * Consumers take with `Mailbox.take` (`recv`) and `Mailbox.takeAll` (the
 * stream); the Mailbox wakes them (one task of its scheduler, {@link Wake},
 * per burst of offers) and delivers its end or failure after every message
 * offered before it.
 *
 * Invariants:
 * - `held` is the number of items offered and accepted and not yet taken by
 *   a consumer: the Mailbox's, the waiting offer's (`spill`), and `carry`.
 * - `spill` is defined exactly while a backpressure offer runs; while it is,
 *   new items join it (in order, behind the waiting ones) and an end waits in
 *   `ending`, so that it comes after them.
 * - `carry` holds what a taken batch had after a per-message failure: the
 *   next take delivers it before the Mailbox's (the Mailbox has no way to
 *   put items back in front).
 */
class ReceiveBufferImpl<A, E> implements ReceiveBuffer<A, E> {
  readonly capacity: number
  readonly policy: OverflowPolicy
  readonly mailbox: Mailbox.Mailbox<unknown, E>
  /** The Mailbox's scheduler: how a waiting consumer is woken. */
  private readonly wake: Wake
  private held = 0
  private droppedCount = 0
  /** No more offers are accepted (the buffer ended or failed). */
  private done = false
  /** The end, once asked for while a backpressure offer runs (applied when it completes). */
  private ending: Exit.Exit<void, E> | undefined
  /** Backpressure: items waiting to be offered behind the running offer; defined while it runs. */
  private spill: Array<unknown> | undefined
  /** Backpressure: reading is paused. */
  private paused = false
  private carry: Array<unknown> = []

  constructor(private readonly options: ReceiveBufferOptions<E>) {
    this.capacity = options.capacity
    this.policy = options.policy
    this.wake = new Wake(perTurn ?? FiberRefs.getOrDefault(options.runtime.fiberRefs, FiberRef.currentScheduler))
    // Synchronous: the buffer is made from the socket callback too.
    this.mailbox = Runtime.runSync(options.runtime)(Effect.withScheduler(
      Mailbox.make<unknown, E>({ capacity: options.capacity, strategy: strategyOf(options.policy) }),
      this.wake
    ))
  }

  /** Offers a message or a failure marker; the Mailbox's strategy decides. */
  private put(item: unknown): boolean {
    if (this.done) return false
    if (this.spill !== undefined) {
      // A backpressure offer waits (reading is paused): what the socket had already parsed queues behind it.
      this.spill.push(item)
      this.held++
      return true
    }
    // Sliding never refuses: it evicts the oldest when full (counted here; `held` does not change).
    const evicts = this.policy === "drop_oldest" && this.held - this.carry.length >= this.capacity
    if (this.mailbox.unsafeOffer(item)) {
      if (evicts) this.drop()
      else if (++this.held >= this.capacity && this.policy === "backpressure") this.pause()
      return true
    }
    switch (this.policy) {
      case "backpressure":
        this.startBackpressure(item)
        return true
      case "drop_newest":
        this.drop()
        return false
      case "error":
        this.options.onOverflow?.()
        return false
      case "drop_oldest":
        return false
    }
  }

  private drop(): void {
    this.droppedCount++
    this.options.onDrop?.(1)
  }

  /** The Mailbox refused `item` (full): pause reading and offer it, and what follows, with a suspending offer. */
  private startBackpressure(item: unknown): void {
    this.spill = [item]
    this.held++
    this.pause()
    // Starts at once (registers its offer with the Mailbox before returning); runs in the user's runtime.
    Runtime.runFork(this.options.runtime)(this.offerSpill)
  }

  /** Offers the waiting items with the Mailbox's suspending `offerAll`, again while more arrived, then ends the spill. */
  private readonly offerSpill: Effect.Effect<void> = Effect.suspend(() => {
    const batch = this.spill!
    if (batch.length === 0) return Effect.sync(() => this.spilled())
    this.spill = []
    return Effect.zipRight(this.mailbox.offerAll(batch), this.offerSpill)
  })

  private spilled(): void {
    this.spill = undefined
    if (this.ending !== undefined) this.mailbox.unsafeDone(this.ending)
    this.maybeResume()
  }

  /** Backpressure: the Mailbox is full; stop reading (what the socket already parsed will wait in a suspending offer). */
  private pause(): void {
    if (this.paused) return
    this.paused = true
    this.options.onPause?.()
  }

  /** Backpressure: resume reading once every waiting item is in the Mailbox and the buffer is down to half. */
  private maybeResume(): void {
    if (this.paused && (this.spill === undefined || this.spill.length === 0) && this.held <= this.capacity >>> 1) {
      this.paused = false
      this.options.onResume?.()
    }
  }

  offer(message: A): boolean {
    return this.put(message)
  }

  offerFailure(error: E): void {
    // A failure marker takes its place in line like any message, under the
    // same policy (a full "drop_newest" buffer discards it and counts it).
    this.put(new Failure(error))
  }

  end(): void {
    this.finish(Exit.void)
  }

  fail(error: E): void {
    this.finish(Exit.fail(error))
  }

  /** Ends the buffer after what it holds: the first end wins. */
  private finish(exit: Exit.Exit<void, E>): void {
    if (this.done) return
    this.done = true
    if (this.spill !== undefined) this.ending = exit
    else this.mailbox.unsafeDone(exit)
  }

  size(): number {
    return this.held
  }

  dropped(): number {
    return this.droppedCount
  }

  isPaused(): boolean {
    return this.paused
  }

  /** `count` items were taken from the Mailbox or the carry. */
  private taken(count: number): void {
    this.held -= count
    if (this.paused) this.maybeResume()
  }

  recv(onEnd: () => E): Effect.Effect<A, E> {
    // One description, run as often as the caller likes.
    const options = this.options
    const fromMailbox = Effect.catchIf(
      this.mailbox.take,
      Cause.isNoSuchElementException,
      () => Effect.fail(onEnd())
    ) as Effect.Effect<unknown, E>
    const take: Effect.Effect<A, E> = Effect.flatMap(
      Effect.suspend(() => {
        if (this.carry.length > 0) return Effect.succeed(this.carry.shift())
        this.wake.oneAtATime = true
        return fromMailbox
      }),
      (item): Effect.Effect<A, E> => {
        this.taken(1)
        if (item instanceof Failure) return Effect.fail(item.error as E)
        if (options.decodes) {
          const value = options.decode!(item)
          if (value === skip) return take // it decoded to nothing (skipped): take the next one
          if (value instanceof Failure) return Effect.fail(value.error as E)
          item = value
        }
        options.onTake?.(1)
        return Effect.succeed(item as A)
      }
    )
    return take
  }

  /** The chunk take and the stream's channel, made for the first stream. */
  private chunkTake: Effect.Effect<Chunk.Chunk<A> | typeof endOfStream, E> | undefined
  private chunks: Channel.Channel<Chunk.Chunk<A>, unknown, E, unknown, void, unknown> | undefined

  /** The next batch: what was put back after a failure, else everything in the Mailbox; {@link endOfStream} once ended and drained. */
  private get takeChunk(): Effect.Effect<Chunk.Chunk<A> | typeof endOfStream, E> {
    return this.chunkTake ??= Effect.suspend(() => {
      if (this.carry.length > 0) {
        const carried = this.carry
        this.carry = []
        return this.deliver(carried)
      }
      this.wake.oneAtATime = false
      return Effect.flatMap(this.mailbox.takeAll, ([items]) =>
        // The Mailbox gives an empty batch only once it is done (cleanly: a failure fails the take).
        items.length === 0 ? endOfStreamEffect : this.deliver(Chunk.toReadonlyArray(items), items))
    })
  }

  /**
   * Delivers a taken batch: decoded when `decodes` is on (one tight loop over
   * the batch, cheaper than decoding in the socket callback, see
   * docs/performance.md), cut at its first failure. What follows the failure
   * (not yet decoded) is carried to the next take.
   */
  private deliver(
    taken: ReadonlyArray<unknown>,
    chunk?: Chunk.Chunk<unknown>
  ): Effect.Effect<Chunk.Chunk<A> | typeof endOfStream, E> {
    const n = taken.length
    const options = this.options
    this.taken(n)
    if (!options.decodes) {
      let i = 0
      while (i < n && !(taken[i] instanceof Failure)) i++
      if (i === n) {
        options.onTake?.(n)
        return Effect.succeed((chunk ?? Chunk.unsafeFromArray(taken)) as Chunk.Chunk<A>)
      }
    }
    const out: Array<A> = []
    for (let i = 0; i < n; i++) {
      const item = taken[i]
      const value = item instanceof Failure || !options.decodes ? item : options.decode!(item)
      if (value === skip) continue
      if (value instanceof Failure) {
        const rest = taken.slice(i + 1)
        this.carry = rest
        this.held += rest.length
        if (out.length === 0) return Effect.fail(value.error as E)
        this.carry.unshift(value)
        this.held++
        break
      }
      out.push(value as A)
    }
    if (out.length === 0) return this.takeChunk // all decoded to nothing (skipped): look again
    options.onTake?.(out.length)
    return Effect.succeed(Chunk.unsafeFromArray(out))
  }

  get stream(): Stream.Stream<A, E> {
    // A channel that loops take → write, made once. `Stream.repeatEffectChunkOption` unwraps a new
    // channel from an Effect at every chunk: a consumer step cost ~12 µs with it, ~7.5 µs with this
    // (in process, docs/performance.md), paid per message by a feed slower than the event loop.
    if (this.chunks === undefined) {
      const take = Channel.fromEffect(this.takeChunk)
      const loop: Channel.Channel<Chunk.Chunk<A>, unknown, E, unknown, void, unknown> = Channel.flatMap(
        take,
        (chunk) => chunk === endOfStream ? Channel.void : Channel.flatMap(Channel.write(chunk), () => loop)
      )
      this.chunks = loop
    }
    return Stream.fromChannel(this.chunks)
  }
}

/** What the chunk take gives once the buffer has ended cleanly and is drained. */
const endOfStream: unique symbol = Symbol.for("jetsocket/ReceiveBuffer/endOfStream")
const endOfStreamEffect = Effect.succeed(endOfStream)

/** @internal */
export const make = <A, E>(options: ReceiveBufferOptions<E>): ReceiveBuffer<A, E> => new ReceiveBufferImpl<A, E>(options)

/**
 * The Effect `Mailbox` under a receive buffer (tests: it is a real `Mailbox`
 * with the mapped strategy). Its items are internal (raw frames, failure
 * markers): consumers read through `recv` and `stream`.
 *
 * @internal
 */
export const mailboxOf = (buffer: ReceiveBuffer<any, any>): Mailbox.Mailbox<unknown, any> =>
  (buffer as ReceiveBufferImpl<any, any>).mailbox

/** @internal */
export interface DedupWindow {
  /** Records `key`; `true` when it was already among the last `size` keys. */
  readonly seen: (key: unknown) => boolean
}

/** @internal */
export const makeDedupWindow = (size: number): DedupWindow => {
  const keys = new Set<unknown>()
  const ring: Array<unknown> = new Array(Math.max(1, size))
  let next = 0
  let filled = 0
  return {
    seen: (key) => {
      if (keys.has(key)) return true
      if (filled === ring.length) keys.delete(ring[next])
      else filled++
      ring[next] = key
      next = (next + 1) % ring.length
      keys.add(key)
      return false
    }
  }
}
