import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { OverflowPolicy } from "../MessageBuffer.js"
import { Deque } from "./deque.js"

/**
 * Runs `f` once the current event-loop turn's I/O is processed: a consumer
 * woken this way takes everything the turn's socket reads delivered in one
 * chunk (with large messages, one per read, a wake-up per read would cost a
 * consumer step per message). `setImmediate` on Node (the check phase, still
 * in the same turn); a microtask where there is none (browsers, where
 * `setTimeout(0)` is clamped).
 */
const afterTurn: (f: () => void) => void = (() => {
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

/** @internal */
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
 * A per-message failure (e.g. a message that did not decode). It fails the
 * stream run that reaches it; the next run continues after it, so one bad
 * message does not end the connection.
 */
class Failure<E> {
  constructor(readonly error: E) {}
}

/**
 * A consumer suspended in `Effect.async` until a message arrives. The wait
 * registers no interruption canceler: in Effect 3 a canceler wraps every wait
 * in `onInterrupt` (~1.3 µs per message for a one-at-a-time reader, measured
 * in docs/performance.md). An interrupted wait instead leaves a dead
 * `resume` (Effect ignores it), forgotten at the next wake-up or once its
 * fiber is done (see {@link addWaiter}), so repeatedly interrupted waits
 * (a `recv` timeout polled on a quiet feed) do not pile up.
 */
class Waiter {
  /** The waiting fiber: read from the runtime while it runs the registration, no extra step. */
  readonly fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined = Option.getOrUndefined(Fiber.getCurrentFiber())
  constructor(
    readonly resume: (effect: Effect.Effect<any, any>) => void,
    readonly retry: Effect.Effect<any, any>
  ) {}
}

/** Adds a waiter, dropping those whose fiber has ended meanwhile (interrupted waits). */
const addWaiter = (waiters: Array<Waiter> | undefined, waiter: Waiter): Array<Waiter> => {
  if (waiters === undefined) return [waiter]
  const live = waiters.filter((w) => w.fiber === undefined || w.fiber.unsafePoll() === null)
  live.push(waiter)
  return live
}

const resumeAll = (waiters: ReadonlyArray<Waiter>): void => {
  for (const waiter of waiters) waiter.resume(waiter.retry)
}

/**
 * The empty stash and spill every buffer starts with, shared (most buffers
 * never need either). Frozen: it is replaced, never pushed to.
 */
const none: Array<never> = Object.freeze([]) as unknown as Array<never>

/** @internal */
export interface ReceiveBufferOptions<E> {
  readonly capacity: number
  readonly policy: OverflowPolicy
  /** Messages were dropped by a dropping policy. */
  readonly onDrop?: (count: number) => void
  /** The buffer is full under the `"error"` policy. */
  readonly onOverflow?: () => void
  /** Backpressure: the buffer reached capacity; stop reading. */
  readonly onPause?: () => void
  /** Backpressure: the consumer made room; read again. */
  readonly onResume?: () => void
  /** Called after each chunk the consumer takes (metrics, bookkeeping). */
  readonly onTake?: (count: number) => void
  /**
   * Turns what was offered into what consumers get, as they take it (see
   * `decodeOnTake` in the client): the value, a {@link failure}, or
   * {@link skip} to leave the item out.
   */
  readonly decode?: (item: unknown) => unknown
  /** `decode` is set and turned on (an options object with a prototype `decode` may leave it off). */
  readonly decodes?: boolean
  readonly _E?: (e: E) => void
}

/** @internal What `decode` returns to leave an item out. */
export const skip: unique symbol = Symbol.for("jetsocket/ReceiveBuffer/skip")

/** @internal What `decode` returns for an item that fails the stream run reaching it. */
export const failure = <E>(error: E): unknown => new Failure(error)

/** @internal */
export interface ReceiveBuffer<A, E> {
  readonly capacity: number
  readonly policy: OverflowPolicy
  /** Offers a message; `false` when it was not accepted (dropped or overflow). */
  readonly offer: (message: A) => boolean
  /** Queues a per-message failure, delivered in order. */
  readonly offerFailure: (error: E) => void
  /** Ends the buffer: consumers drain what is left, then end. */
  readonly end: () => void
  /** Ends the buffer with an error: consumers drain what is left, then fail. */
  readonly fail: (error: E) => void
  readonly size: () => number
  readonly dropped: () => number
  readonly isDone: () => boolean
  /**
   * The next message. Once the buffer has ended and is drained, fails with
   * the error it ended with, or with `onEnd()` when it ended cleanly.
   */
  readonly recv: (onEnd: () => E) => Effect.Effect<A, E>
  /** A stream of the messages, pulled in chunks. */
  readonly stream: Stream.Stream<A, E>
}

/**
 * The receive buffer: a bounded FIFO with the overflow policy, filled
 * synchronously by the transport callback and drained by Effect consumers.
 *
 * Not a `Mailbox`: a mailbox wakes its takers through a scheduler task per
 * offer burst, which costs a one-at-a-time reader (`recv`, request/reply) a
 * few microseconds per message (measured, docs/performance.md). Here a
 * single-message taker is resumed by the offer itself, and a chunk taker once
 * per event-loop turn (see {@link afterTurn}).
 */
class ReceiveBufferImpl<A, E> implements ReceiveBuffer<A, E> {
  readonly capacity: number
  readonly policy: OverflowPolicy
  /** The bounded queue (made on the first message: an idle connection holds none). */
  private queue: Deque<A | Failure<E>> | undefined
  /** How many failure markers are queued: while none is, a taken batch needs no scan. */
  private failuresQueued = 0
  /** What a consumer took past a failure, handed to the next take first. */
  private stash: Array<A | Failure<E>> = none
  /**
   * Backpressure only: what the socket had already parsed when the queue
   * filled up (one socket read at most: reading is paused at capacity).
   * Newer than everything in the queue; moved into it as room appears.
   */
  private spill: Array<A | Failure<E>> = none
  private droppedCount = 0
  private paused = false
  /** No more offers are accepted. */
  private done = false
  /** Backpressure: how the buffer ends once the spill has drained. */
  private pendingEnd: Option.Option<E> | undefined
  /** The end consumers see once the queue is empty: none (ended) or some(error). */
  private ended: Option.Option<E> | undefined
  /** Consumers waiting for a message: single takes (woken at once) and chunk takes (woken after the turn). */
  private takers: Array<Waiter> | undefined
  private chunkTakers: Array<Waiter> | undefined
  private chunkWakeScheduled = false

  constructor(private readonly options: ReceiveBufferOptions<E>) {
    this.capacity = options.capacity
    this.policy = options.policy
  }

  /** Queues an item under the queue's bound; `false` when it did not fit. */
  private enqueue(item: A | Failure<E>): boolean {
    const queue = this.queue ??= new Deque()
    if (queue.length >= this.capacity) {
      if (this.policy !== "drop_oldest") return false
      if (queue.shift() instanceof Failure) this.failuresQueued--
      this.drop()
    }
    queue.push(item)
    if (item instanceof Failure) this.failuresQueued++
    this.wake()
    return true
  }

  /** Offers a message or a failure marker under the policy. */
  private put(item: A | Failure<E>): boolean {
    if (this.done) return false
    switch (this.policy) {
      case "backpressure": {
        // Nothing is ever lost: what does not fit waits in the spill, in order,
        // and the socket is paused so that the spill stays small.
        if (this.spill.length > 0 || !this.enqueue(item)) {
          if (this.spill === none) this.spill = []
          this.spill.push(item)
        }
        if (!this.paused && this.size() >= this.capacity) {
          this.paused = true
          this.options.onPause?.()
        }
        return true
      }
      case "drop_oldest":
        return this.enqueue(item)
      case "drop_newest": {
        const ok = this.enqueue(item)
        if (!ok) this.drop()
        return ok
      }
      case "error": {
        const ok = this.enqueue(item)
        if (!ok) this.options.onOverflow?.()
        return ok
      }
    }
  }

  offer(message: A): boolean {
    return this.put(message)
  }

  private drop() {
    this.droppedCount++
    this.options.onDrop?.(1)
  }

  offerFailure(error: E): void {
    // A failure marker takes its place in line like any message, under the
    // same policy (a full "drop_newest" buffer discards it and counts it).
    this.put(new Failure(error))
  }

  end(): void {
    this.finish(Option.none())
  }

  fail(error: E): void {
    this.finish(Option.some(error))
  }

  /** Ends the buffer once the spill is queued, so that nothing accepted is lost. */
  private finish(end: Option.Option<E>): void {
    if (this.done && this.pendingEnd === undefined) return
    this.done = true
    this.flushSpill()
    if (this.spill.length > 0) {
      this.pendingEnd = end
      return
    }
    this.pendingEnd = undefined
    this.ended ??= end
    this.wakeAll()
  }

  /** Moves spilled items into the queue while it has room. */
  private flushSpill(): void {
    if (this.spill.length === 0) return
    let i = 0
    while (i < this.spill.length && this.enqueue(this.spill[i]!)) i++
    if (i > 0) this.spill = this.spill.slice(i)
    if (this.spill.length === 0 && this.pendingEnd !== undefined) {
      this.ended ??= this.pendingEnd
      this.pendingEnd = undefined
      this.wakeAll()
    }
  }

  size(): number {
    return (this.queue?.length ?? 0) + this.stash.length + this.spill.length
  }

  dropped(): number {
    return this.droppedCount
  }

  isDone(): boolean {
    return this.done
  }

  /** A message is queued: single takers now, chunk takers after this turn's I/O. */
  private wake(): void {
    const takers = this.takers
    if (takers !== undefined) {
      this.takers = undefined
      resumeAll(takers)
    }
    if (this.chunkTakers !== undefined && !this.chunkWakeScheduled) {
      this.chunkWakeScheduled = true
      afterTurn(() => {
        this.chunkWakeScheduled = false
        this.wakeChunkTakers()
      })
    }
  }

  private wakeChunkTakers(): void {
    const takers = this.chunkTakers
    if (takers === undefined) return
    this.chunkTakers = undefined
    resumeAll(takers)
  }

  private wakeAll(): void {
    this.wake()
    this.wakeChunkTakers()
  }

  /**
   * Suspends the calling fiber until a message (or the end) arrives, then
   * runs `retry` in it: a woken consumer takes in its own fiber, so one
   * interrupted before it runs leaves the messages queued. Made once per
   * take description: a wait allocates its `Waiter` and nothing else.
   */
  private waitOne<X, Y>(retry: Effect.Effect<X, Y>): Effect.Effect<X, Y> {
    return Effect.async<X, Y>((resume) => {
      this.takers = addWaiter(this.takers, new Waiter(resume, retry))
    })
  }

  private waitChunk<X, Y>(retry: Effect.Effect<X, Y>): Effect.Effect<X, Y> {
    return Effect.async<X, Y>((resume) => {
      this.chunkTakers = addWaiter(this.chunkTakers, new Waiter(resume, retry))
    })
  }

  private afterTake(count: number) {
    this.flushSpill()
    if (this.paused && this.size() <= this.capacity >>> 1) {
      this.paused = false
      this.options.onResume?.()
    }
    if (count > 0) this.options.onTake?.(count)
  }

  /** Takes items off the queue, keeping the failure count in step, decoded when `decodes` is on. */
  private taken(items: ReadonlyArray<A | Failure<E>>): ReadonlyArray<A | Failure<E>> {
    if (this.failuresQueued === 0 && !this.options.decodes) return items
    // One tight loop over the batch: cheaper than decoding in the socket
    // callback (parsed objects are not kept alive across reads, see docs/performance.md).
    const out: Array<A | Failure<E>> = []
    for (const item of items) {
      const value = this.takenOne(item)
      if (value !== skip) out.push(value)
    }
    return out
  }

  /** One item off the queue: the failure count kept in step, decoded when `decodes` is on. */
  private takenOne(item: A | Failure<E>): A | Failure<E> | typeof skip {
    if (item instanceof Failure) {
      this.failuresQueued--
      return item
    }
    return this.options.decodes ? (this.options.decode!(item) as A | Failure<E> | typeof skip) : item
  }

  /**
   * Splits a taken batch at its first failure: the part before it is returned.
   * `mayFail` is false when the batch is known to hold no failure (no scan).
   */
  private deliver(items: ReadonlyArray<A | Failure<E>>, mayFail: boolean): Effect.Effect<Chunk.Chunk<A>, E> {
    let i = 0
    if (!mayFail) i = items.length
    else while (i < items.length && !(items[i] instanceof Failure)) i++
    if (i < items.length) {
      this.stash = items.slice(i).concat(this.stash)
      if (i === 0) {
        const failure = this.stash.shift() as Failure<E>
        this.afterTake(0)
        return Effect.fail(failure.error)
      }
    }
    this.afterTake(i)
    return Effect.succeed(Chunk.unsafeFromArray((i === items.length ? items : items.slice(0, i)) as Array<A>))
  }

  /** The chunk take, its wait and the stream's channel, made for the first stream. */
  private chunkTake: Effect.Effect<Chunk.Chunk<A> | typeof endOfStream, E> | undefined
  private chunkWait: Effect.Effect<Chunk.Chunk<A> | typeof endOfStream, E> | undefined
  private chunks: Channel.Channel<Chunk.Chunk<A>, unknown, E, unknown, void, unknown> | undefined

  /** The next batch: everything queued (up to a failure), or {@link endOfStream} once ended and drained. */
  private get takeChunk(): Effect.Effect<Chunk.Chunk<A> | typeof endOfStream, E> {
    return this.chunkTake ??= Effect.suspend((): Effect.Effect<Chunk.Chunk<A> | typeof endOfStream, E> => {
      if (this.stash.length > 0) {
        const items = this.stash
        this.stash = none
        return this.deliver(items, true)
      }
      const queue = this.queue
      if (queue !== undefined && queue.length > 0) {
        const mayFail = this.failuresQueued > 0 || this.options.decodes === true
        const items = this.taken(queue.drain())
        if (items.length > 0) return this.deliver(items, mayFail)
        this.afterTake(0) // all decoded to nothing (skipped): look again
        return this.takeChunk
      }
      if (this.ended !== undefined) return Option.isSome(this.ended) ? Effect.fail(this.ended.value) : endOfStreamEffect
      return this.chunkWait ??= this.waitChunk(this.takeChunk)
    })
  }

  recv(onEnd: () => E): Effect.Effect<A, E> {
    // One description, run as often as the caller likes: nothing is allocated per take but the wait.
    const take: Effect.Effect<A, E> = Effect.suspend(() => this.takeNow(onEnd) ?? wait)
    const wait = this.waitOne(take)
    return take
  }

  /** The next message or the end, when there is one now. */
  private takeNow(onEnd: () => E): Effect.Effect<A, E> | undefined {
    while (true) {
      let item: A | Failure<E>
      if (this.stash.length > 0) {
        item = this.stash.shift()!
      } else if (this.queue !== undefined && this.queue.length > 0) {
        const taken = this.takenOne(this.queue.shift()!)
        if (taken === skip) {
          this.afterTake(0) // it decoded to nothing (skipped): take the next one
          continue
        }
        item = taken
      } else if (this.ended !== undefined) {
        return Effect.fail(Option.isSome(this.ended) ? this.ended.value : onEnd())
      } else {
        return undefined
      }
      this.afterTake(item instanceof Failure ? 0 : 1)
      return item instanceof Failure ? Effect.fail(item.error) : Effect.succeed(item)
    }
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
