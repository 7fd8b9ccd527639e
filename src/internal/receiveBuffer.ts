import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import type { OverflowPolicy } from "../MessageBuffer.js"
import { END, endChunk, Failure, queueStrategy, ReceiveBacking } from "./receiveQueue.js"

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
 * The receive buffer: an Effect `Queue` (`Queue.make` over our
 * {@link ReceiveBacking}, with the strategy the overflow policy maps to, see
 * {@link queueStrategy}), filled synchronously by the transport callback with
 * `unsafeOffer` and drained by Effect consumers with `Queue.take` (`recv`)
 * and `Queue.takeAll` (the stream, woken by the backing once per event-loop
 * turn: see `ReceiveBacking.awaitItems`).
 *
 * Effect's Queue hands an offer straight to a waiting taker, else to the
 * backing, whose `offer` applies the policy (evict, refuse and count, or, for
 * `"backpressure"`, pause the socket at capacity). Per-message failures and
 * the end travel in the queue, in line with the messages: a take that reaches
 * a failure fails; the end is sticky, so every taker sees it once the
 * messages before it are taken.
 *
 * Not a `Mailbox`: a mailbox wakes its takers through a scheduler task per
 * offer burst, which costs a one-at-a-time reader (`recv`, request/reply) a
 * few microseconds per message (measured, docs/performance.md).
 */
class ReceiveBufferImpl<A, E> implements ReceiveBuffer<A, E> {
  readonly capacity: number
  readonly policy: OverflowPolicy
  readonly backing: ReceiveBacking<E>
  readonly queue: Queue.Queue<unknown>
  /** No more offers are accepted. */
  private done = false

  constructor(private readonly options: ReceiveBufferOptions<E>) {
    this.capacity = options.capacity
    this.policy = options.policy
    this.backing = new ReceiveBacking<E>(options)
    // Synchronous (a Deferred and a few refs): the buffer is made from the socket callback too.
    this.queue = Effect.runSync(Queue.make<unknown>(this.backing, queueStrategy(options.policy)))
  }

  /** Offers a message or a failure marker under the policy. */
  private put(item: unknown): boolean {
    if (this.done) return false
    // Backpressure, at capacity: the socket is paused (see ReceiveBacking.push); what it had
    // already parsed is kept, in order, past the bound. Nothing is ever lost.
    if (this.policy === "backpressure" && this.backing.size() >= this.capacity) {
      this.backing.spill(item)
      return true
    }
    // While the backing holds items no taker waits: Effect's Queue registers a taker only on
    // an empty queue, and completes it in the same step if items arrived meanwhile. So the item
    // goes straight into our backing (its policy applies the same way) without `unsafeOffer`'s
    // per-offer taker poll and closure (~6-8 % of a 120 B JSON feed, docs/performance.md); on
    // an empty backing `unsafeOffer` hands it to a waiting taker.
    if (this.backing.size() > 0 ? this.backing.offer(item) : this.queue.unsafeOffer(item)) return true
    if (this.policy === "error") this.options.onOverflow?.()
    return false
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
    this.finish(Option.none())
  }

  fail(error: E): void {
    this.finish(Option.some(error))
  }

  /** Ends the buffer after what it holds: the first end wins. */
  private finish(end: Option.Option<E>): void {
    if (this.done) return
    this.done = true
    this.backing.ended = end
    // The backing keeps the end (sticky, after every message); offering it completes every waiting taker.
    this.queue.unsafeOffer(END)
  }

  size(): number {
    return this.backing.size()
  }

  dropped(): number {
    return this.backing.droppedCount
  }

  isDone(): boolean {
    return this.done
  }

  /** How a take that reached the end fails. */
  private endedWith(onEnd: () => E): E {
    const ended = this.backing.ended!
    return Option.isSome(ended) ? ended.value : onEnd()
  }

  recv(onEnd: () => E): Effect.Effect<A, E> {
    // One description, run as often as the caller likes: `Queue.take` polls the backing
    // synchronously and suspends only when it is empty.
    const options = this.options
    const take: Effect.Effect<A, E> = Effect.flatMap(Queue.take(this.queue), (item): Effect.Effect<A, E> => {
      if (item === END) return Effect.fail(this.endedWith(onEnd))
      if (item instanceof Failure) return Effect.fail(item.error as E)
      if (options.decodes) {
        const value = options.decode!(item)
        if (value === skip) return take // it decoded to nothing (skipped): take the next one
        if (value instanceof Failure) return Effect.fail(value.error as E)
        item = value
      }
      options.onTake?.(1)
      return Effect.succeed(item as A)
    })
    return take
  }

  /** The chunk take, its wait and the stream's channel, made for the first stream. */
  private chunkTake: Effect.Effect<Chunk.Chunk<A> | typeof endOfStream, E> | undefined
  private chunkWait: Effect.Effect<Chunk.Chunk<A> | typeof endOfStream, E> | undefined
  private chunks: Channel.Channel<Chunk.Chunk<A>, unknown, E, unknown, void, unknown> | undefined

  /** The next batch: everything queued (up to a failure), or {@link endOfStream} once ended and drained. */
  private get takeChunk(): Effect.Effect<Chunk.Chunk<A> | typeof endOfStream, E> {
    return this.chunkTake ??= Effect.flatMap(Queue.takeAll(this.queue), (items) => this.deliver(items))
  }

  /**
   * Waits for the next message (or the end), then takes again: woken once
   * the event-loop turn's I/O is processed, the consumer takes every read of
   * the turn as one chunk (see `ReceiveBacking.awaitItems`).
   */
  private get waitChunk(): Effect.Effect<Chunk.Chunk<A> | typeof endOfStream, E> {
    return this.chunkWait ??= this.backing.awaitItems(this.takeChunk)
  }

  /**
   * Delivers a taken batch: decoded when `decodes` is on (one tight loop over
   * the batch, cheaper than decoding in the socket callback, see
   * docs/performance.md), cut at its first failure. The failure and what
   * follows it (not yet decoded) go back in front for the next take.
   */
  private deliver(items: Chunk.Chunk<unknown>): Effect.Effect<Chunk.Chunk<A> | typeof endOfStream, E> {
    const n = items.length
    if (n === 0) return this.waitChunk
    if (items === endChunk) {
      const ended = this.backing.ended!
      return Option.isSome(ended) ? Effect.fail(ended.value) : endOfStreamEffect
    }
    const options = this.options
    if (!this.backing.batchHadFailure && !options.decodes) {
      options.onTake?.(n)
      return Effect.succeed(items as Chunk.Chunk<A>)
    }
    const taken = Chunk.toReadonlyArray(items)
    const out: Array<A> = []
    for (let i = 0; i < n; i++) {
      const item = taken[i]
      const value = item instanceof Failure || !options.decodes ? item : options.decode!(item)
      if (value === skip) continue
      if (value instanceof Failure) {
        if (out.length === 0) {
          this.backing.unshiftAll(taken.slice(i + 1))
          return Effect.fail(value.error as E)
        }
        this.backing.unshiftAll([value, ...taken.slice(i + 1)])
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
 * The Effect `Queue` under a receive buffer (tests: it is a real `Queue` with
 * the mapped strategy). Its items are internal (raw frames, failure markers,
 * the end): consumers read through `recv` and `stream`.
 *
 * @internal
 */
export const queueOf = (buffer: ReceiveBuffer<any, any>): Queue.Queue<unknown> => (buffer as ReceiveBufferImpl<any, any>).queue

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
