/**
 * Bounded buffers and their overflow policies.
 *
 * The receive buffer between the socket and `messages` is an Effect
 * `Mailbox` (what `Queue` becomes in Effect 4), made with the strategy its
 * overflow policy maps to; the socket callback offers with `unsafeOffer`,
 * which applies that strategy itself:
 *
 * | policy           | strategy | when full                                                            |
 * |------------------|----------|----------------------------------------------------------------------|
 * | `"drop_oldest"`  | sliding  | the Mailbox evicts the oldest message (counted)                      |
 * | `"drop_newest"`  | dropping | the Mailbox refuses the incoming message (counted)                   |
 * | `"error"`        | dropping | the refusal ends the stream with `BufferOverflowError { capacity }`  |
 * | `"backpressure"` | suspend  | reading pauses while the Mailbox's suspending offer waits (lossless) |
 *
 * The default is `"backpressure"`: nothing is lost unless the user opts into
 * dropping, and memory stays bounded because the socket stops being read.
 * (What the socket had already parsed when the Mailbox filled up waits, in
 * order, in that suspending offer: at most one socket read.)
 *
 * Drops are counted (`stats.dropped`) and reported as coalesced
 * `BufferOverflow { dropped, policy }` events, one per burst. See
 * `docs/buffering.md`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as internal from "./internal/receiveBuffer.js"

/**
 * @since 0.1.0
 * @category models
 */
export type OverflowPolicy = "drop_oldest" | "drop_newest" | "error" | "backpressure"

/**
 * Drop a message whose key was seen among the last `window` keys.
 *
 * @since 0.1.0
 * @category models
 */
export interface DedupConfig<A = any> {
  readonly window: number
  readonly key: (message: A) => unknown
}

/**
 * @since 0.1.0
 * @category models
 */
export interface BufferConfig<A = any> {
  /** Messages held at most (default 1000). */
  readonly capacity?: number
  /** What happens when the buffer is full (default `"backpressure"`). */
  readonly overflowPolicy?: OverflowPolicy
  readonly dedup?: DedupConfig<A>
}

/**
 * What to do after every reconnect.
 *
 * - `"none"`: nothing beyond the send queue (sends accepted while
 *   disconnected, and sends the dead socket never wrote, are always re-sent).
 * - `"sequence_id"`: `onReplay(lastSequenceId)` runs on the new connection
 *   (e.g. to send a resume request) before any new message is delivered;
 *   `sequenceKey(message)` gives each incoming message's sequence id.
 * - `"full_buffer"`: the outgoing messages that were queued or not confirmed
 *   written when the connection dropped are re-sent, in order, framed by
 *   `ReplayStarted` / `ReplayCompleted` events.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReplayConfig<A = any> {
  readonly mode: "none" | "sequence_id" | "full_buffer"
  readonly sequenceKey?: (message: A) => unknown
  /**
   * Runs on the new connection before messages flow again. `send` writes
   * straight to the new socket. May return how many messages it replayed.
   */
  readonly onReplay?: (
    lastSequenceId: unknown,
    send: (message: unknown) => Effect.Effect<void>
  ) => Effect.Effect<number | void, unknown>
}

/**
 * @since 0.1.0
 * @category constants
 */
export const defaults = { capacity: 1000, overflowPolicy: "backpressure" as OverflowPolicy } as const

/**
 * The Effect `Mailbox` strategy each policy's buffer is made with
 * (`Mailbox.make({ capacity, strategy })`).
 *
 * @since 0.1.0
 * @category getters
 */
export const strategy = (policy: OverflowPolicy): "sliding" | "dropping" | "suspend" => internal.strategyOf(policy)

/**
 * Resolves the `buffer` option (a capacity or a config).
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolve = <A>(option: number | BufferConfig<A> | undefined): {
  readonly capacity: number
  readonly overflowPolicy: OverflowPolicy
  readonly dedup?: DedupConfig<A> | undefined
} => {
  const config = typeof option === "number" ? { capacity: option } : option ?? {}
  const capacity = config.capacity ?? defaults.capacity
  if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`buffer capacity must be a positive integer, got ${capacity}`)
  return {
    capacity,
    overflowPolicy: config.overflowPolicy ?? defaults.overflowPolicy,
    dedup: config.dedup
  }
}

/**
 * A bounded receive buffer (an Effect `Mailbox` with the policy's strategy),
 * fed synchronously from a socket callback and drained by `recv` or as a
 * `Stream`. Used by the client and by each multiplexed subscription.
 *
 * @since 0.1.0
 * @category models
 */
export type ReceiveBuffer<A, E> = internal.ReceiveBuffer<A, E>

/**
 * Makes a receive buffer in the calling fiber's runtime: its backpressure
 * offer runs there, as the client's and a multiplexer's buffers run in the
 * user's. Feed it from a callback with `offer` (synchronous), read it with
 * `recv` or `stream`.
 *
 * @example
 * ```ts
 * const buffer = yield* MessageBuffer.make<string, string>({ capacity: 100, policy: "drop_oldest" })
 * buffer.offer("tick")
 * const first = yield* buffer.recv(() => "ended")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A, E>(options: make.Options<E>): Effect.Effect<ReceiveBuffer<A, E>> =>
  Effect.map(Effect.runtime<never>(), (runtime) => internal.make<A, E>({ ...options, runtime }))

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace make {
  /**
   * What a receive buffer is made with: capacity, policy and its callbacks
   * (the runtime is the caller's).
   *
   * @since 0.1.0
   * @category models
   */
  export interface Options<E> extends Omit<internal.ReceiveBufferOptions<E>, "runtime"> {}
}

/**
 * A window of recently seen keys, for dedup.
 *
 * @since 0.1.0
 * @category models
 */
export type DedupWindow = internal.DedupWindow

/**
 * @since 0.1.0
 * @category constructors
 */
export const makeDedupWindow: (size: number) => DedupWindow = internal.makeDedupWindow
