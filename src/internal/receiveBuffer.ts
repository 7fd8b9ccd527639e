import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Scheduler from "effect/Scheduler"
import * as Stream from "effect/Stream"
import type { OverflowPolicy } from "../MessageBuffer.js"

/**
 * The mailbox wakes a waiting consumer through its scheduler. Effect's
 * default one uses a microtask, i.e. right after the socket read that
 * offered the first message: with large messages (one per read) that is one
 * consumer wake-up per message. After I/O (`setImmediate`, the check phase,
 * still in the same event-loop turn) the consumer takes everything the turn's
 * reads delivered in one chunk. Where there is no `setImmediate` (browsers:
 * `setTimeout(0)` is clamped) the default scheduler stays.
 */
const afterIoScheduler: Scheduler.Scheduler | undefined = typeof globalThis.setImmediate === "function"
  ? (() => {
    let tasks: Array<Scheduler.Task> = []
    const run = () => {
      const batch = tasks
      tasks = []
      for (const task of batch) task()
    }
    return Scheduler.make((task) => {
      if (tasks.push(task) === 1) globalThis.setImmediate(run)
    })
  })()
  : undefined

const wakeConsumersAfterIo = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  afterIoScheduler === undefined ? effect : Effect.withScheduler(effect, afterIoScheduler)

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
  readonly decode?: ((item: unknown) => unknown) | undefined
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
  /** The next message; fails with `Option.none()` when the buffer has ended. */
  readonly take: Effect.Effect<A, Option.Option<E>>
  /** A stream of the messages, pulled in chunks. */
  readonly stream: Stream.Stream<A, E>
}

class ReceiveBufferImpl<A, E> implements ReceiveBuffer<A, E> {
  readonly capacity: number
  readonly policy: OverflowPolicy
  /** The bounded queue; its strategy is the policy's (see {@link strategyOf}). Made on first use. */
  private box: Mailbox.Mailbox<A | Failure<E>, E> | undefined
  /** How many items the mailbox holds (kept here: reading the mailbox's size allocates). */
  private queuedCount = 0
  /** How many failure markers are queued: while none is, a taken batch needs no scan. */
  private failuresQueued = 0
  /** What a consumer took past a failure, handed to the next take first. */
  private stash: Array<A | Failure<E>> = []
  /**
   * Backpressure only: what the socket had already parsed when the queue
   * filled up (one socket read at most: reading is paused at capacity).
   * Newer than everything in the mailbox; moved into it as room appears.
   */
  private spill: Array<A | Failure<E>> = []
  private droppedCount = 0
  private paused = false
  private done = false
  /** Backpressure: how the buffer ends once the spill has drained. */
  private pendingExit: Exit.Exit<void, E> | undefined

  constructor(private readonly options: ReceiveBufferOptions<E>) {
    this.capacity = options.capacity
    this.policy = options.policy
  }

  /** An idle connection's buffer holds no mailbox until a message arrives or a consumer waits. */
  private get mailbox(): Mailbox.Mailbox<A | Failure<E>, E> {
    return this.box ??= Effect.runSync(
      Mailbox.make<A | Failure<E>, E>({ capacity: this.capacity, strategy: strategyOf(this.policy) }).pipe(
        wakeConsumersAfterIo
      )
    )
  }

  /** Offers to the mailbox, counting what it holds. */
  private enqueue(item: A | Failure<E>): boolean {
    const full = this.queuedCount >= this.capacity
    if (!this.mailbox.unsafeOffer(item)) return false
    if (item instanceof Failure) this.failuresQueued++
    // A sliding mailbox that was full dropped its oldest item to make room.
    if (full) this.drop()
    else this.queuedCount++
    return true
  }

  /** Offers a message or a failure marker under the policy. */
  private put(item: A | Failure<E>): boolean {
    if (this.done) return false
    switch (this.policy) {
      case "backpressure": {
        // Nothing is ever lost: what does not fit waits in the spill, in order,
        // and the socket is paused so that the spill stays small.
        if (this.spill.length > 0 || !this.enqueue(item)) this.spill.push(item)
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
    this.finish(Exit.void)
  }

  fail(error: E): void {
    this.finish(Exit.fail(error))
  }

  /** Ends the mailbox once the spill is in it, so that nothing accepted is lost. */
  private finish(exit: Exit.Exit<void, E>): void {
    if (this.done && this.pendingExit === undefined) return
    this.done = true
    this.flushSpill()
    if (this.spill.length > 0) {
      this.pendingExit = exit
      return
    }
    this.pendingExit = undefined
    this.mailbox.unsafeDone(exit)
  }

  /** Moves spilled items into the mailbox while it has room. */
  private flushSpill(): void {
    if (this.spill.length === 0) return
    let i = 0
    while (i < this.spill.length && this.enqueue(this.spill[i]!)) i++
    if (i > 0) this.spill = this.spill.slice(i)
    if (this.spill.length === 0 && this.pendingExit !== undefined) {
      const exit = this.pendingExit
      this.pendingExit = undefined
      this.mailbox.unsafeDone(exit)
    }
  }

  size(): number {
    return this.queuedCount + this.stash.length + this.spill.length
  }

  dropped(): number {
    return this.droppedCount
  }

  isDone(): boolean {
    return this.done
  }

  private afterTake(count: number) {
    this.flushSpill()
    if (this.paused && this.size() <= this.capacity >>> 1) {
      this.paused = false
      this.options.onResume?.()
    }
    if (count > 0) this.options.onTake?.(count)
  }

  /**
   * Splits a taken batch at its first failure: the part before it is returned.
   * `mayFail` is false when the batch is known to hold no failure (no scan).
   */
  private deliver(items: ReadonlyArray<A | Failure<E>>, mayFail: boolean): Effect.Effect<Chunk.Chunk<A>, Option.Option<E>> {
    let i = 0
    if (!mayFail) i = items.length
    else while (i < items.length && !(items[i] instanceof Failure)) i++
    if (i < items.length) {
      this.stash = items.slice(i).concat(this.stash)
      if (i === 0) {
        const failure = this.stash.shift() as Failure<E>
        this.afterTake(0)
        return Effect.fail(Option.some(failure.error))
      }
    }
    this.afterTake(i)
    return Effect.succeed(Chunk.unsafeFromArray((i === items.length ? items : items.slice(0, i)) as Array<A>))
  }

  /** Takes what the mailbox holds, keeping the counts in step, decoded when a `decode` is set. */
  private taken(items: ReadonlyArray<A | Failure<E>>): ReadonlyArray<A | Failure<E>> {
    this.queuedCount -= items.length
    if (this.failuresQueued > 0) for (const item of items) if (item instanceof Failure) this.failuresQueued--
    const decode = this.options.decode
    if (decode === undefined) return items
    // One tight loop over the batch: cheaper than decoding in the socket
    // callback (parsed objects are not kept alive across reads, see docs/performance.md).
    const out: Array<A | Failure<E>> = []
    for (const item of items) {
      const value = item instanceof Failure ? item : decode(item)
      if (value !== skip) out.push(value as A | Failure<E>)
    }
    return out
  }

  get takeChunk(): Effect.Effect<Chunk.Chunk<A>, Option.Option<E>> {
    return Effect.suspend(() => {
      if (this.stash.length > 0) {
        const items = this.stash
        this.stash = []
        return this.deliver(items, true)
      }
      return this.mailbox.takeAll.pipe(
        Effect.mapError(Option.some),
        Effect.flatMap(([chunk, done]) => {
          if (Chunk.isEmpty(chunk)) return done ? Effect.fail(Option.none()) : this.takeChunk
          const mayFail = this.failuresQueued > 0 || this.options.decode !== undefined
          const items = this.taken(Chunk.toReadonlyArray(chunk))
          if (items.length === 0) {
            this.afterTake(0)
            return this.takeChunk
          }
          return this.deliver(items, mayFail)
        })
      )
    })
  }

  get take(): Effect.Effect<A, Option.Option<E>> {
    return Effect.suspend(() => {
      if (this.stash.length > 0) return this.handOut(this.stash.shift()!)
      return this.mailbox.take.pipe(
        Effect.mapError((e) => (isNoSuchElement(e) ? Option.none() : Option.some(e as E))),
        Effect.flatMap((item) => {
          const taken = this.taken([item])
          if (taken.length > 0) return this.handOut(taken[0]!)
          this.afterTake(0) // it decoded to nothing (skipped): take the next one
          return this.take
        })
      )
    })
  }

  private handOut(item: A | Failure<E>): Effect.Effect<A, Option.Option<E>> {
    this.afterTake(item instanceof Failure ? 0 : 1)
    return item instanceof Failure ? Effect.fail(Option.some(item.error)) : Effect.succeed(item)
  }

  get stream(): Stream.Stream<A, E> {
    return Stream.repeatEffectChunkOption(this.takeChunk)
  }
}

const isNoSuchElement = (u: unknown): boolean =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "NoSuchElementException"

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
