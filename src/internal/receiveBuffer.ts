import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { OverflowPolicy } from "../MessageBuffer.js"

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
  readonly _E?: (e: E) => void
}

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
  private readonly mailbox: Mailbox.Mailbox<A | Failure<E>, E>
  /** What a consumer took past a failure, handed to the next take first. */
  private stash: Array<A | Failure<E>> = []
  private droppedCount = 0
  private paused = false
  private done = false

  constructor(private readonly options: ReceiveBufferOptions<E>) {
    this.capacity = options.capacity
    this.policy = options.policy
    // Backpressure keeps everything: the socket is paused at `capacity`, and
    // what ws already parsed from the last read (bounded) still fits.
    this.mailbox = Effect.runSync(
      options.policy === "backpressure"
        ? Mailbox.make<A | Failure<E>, E>()
        : Mailbox.make<A | Failure<E>, E>({ capacity: options.capacity, strategy: strategyOf(options.policy) })
    )
  }

  offer(message: A): boolean {
    const mailbox = this.mailbox
    switch (this.policy) {
      case "backpressure": {
        const ok = mailbox.unsafeOffer(message)
        if (!this.paused && this.size() >= this.capacity) {
          this.paused = true
          this.options.onPause?.()
        }
        return ok
      }
      case "drop_oldest": {
        const full = this.size() >= this.capacity
        const ok = mailbox.unsafeOffer(message)
        if (full && ok) this.drop()
        return ok
      }
      case "drop_newest": {
        const ok = mailbox.unsafeOffer(message)
        if (!ok && !this.done) this.drop()
        return ok
      }
      case "error": {
        const ok = mailbox.unsafeOffer(message)
        if (!ok && !this.done) this.options.onOverflow?.()
        return ok
      }
    }
  }

  private drop() {
    this.droppedCount++
    this.options.onDrop?.(1)
  }

  offerFailure(error: E): void {
    // A failure marker must not be dropped by a full buffer: it goes in even
    // past capacity (it is one small object, and rare).
    if (!this.mailbox.unsafeOffer(new Failure(error))) this.stash.push(new Failure(error))
  }

  end(): void {
    this.done = true
    this.mailbox.unsafeDone(Exit.void)
  }

  fail(error: E): void {
    this.done = true
    this.mailbox.unsafeDone(Exit.fail(error))
  }

  size(): number {
    return Option.getOrElse(this.mailbox.unsafeSize(), () => 0) + this.stash.length
  }

  dropped(): number {
    return this.droppedCount
  }

  isDone(): boolean {
    return this.done
  }

  private afterTake(count: number) {
    if (this.paused && this.size() <= this.capacity >>> 1) {
      this.paused = false
      this.options.onResume?.()
    }
    if (count > 0) this.options.onTake?.(count)
  }

  /** Splits a taken batch at its first failure: the part before it is returned. */
  private deliver(items: ReadonlyArray<A | Failure<E>>): Effect.Effect<Chunk.Chunk<A>, Option.Option<E>> {
    let i = 0
    while (i < items.length && !(items[i] instanceof Failure)) i++
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

  readonly takeChunk: Effect.Effect<Chunk.Chunk<A>, Option.Option<E>> = Effect.suspend(() => {
    if (this.stash.length > 0) {
      const items = this.stash
      this.stash = []
      return this.deliver(items)
    }
    return this.mailbox.takeAll.pipe(
      Effect.mapError(Option.some),
      Effect.flatMap(([chunk, done]) => {
        if (Chunk.isEmpty(chunk)) return done ? Effect.fail(Option.none()) : this.takeChunk
        return this.deliver(Chunk.toReadonlyArray(chunk))
      })
    )
  })

  readonly take: Effect.Effect<A, Option.Option<E>> = Effect.suspend(() => {
    const next = this.stash.length > 0
      ? Effect.succeed(this.stash.shift()!)
      : this.mailbox.take.pipe(
        Effect.mapError((e) => (isNoSuchElement(e) ? Option.none() : Option.some(e as E)))
      )
    return Effect.flatMap(next, (item) => {
      this.afterTake(item instanceof Failure ? 0 : 1)
      return item instanceof Failure ? Effect.fail(Option.some(item.error)) : Effect.succeed(item)
    })
  })

  readonly stream: Stream.Stream<A, E> = Stream.repeatEffectChunkOption(this.takeChunk)
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
