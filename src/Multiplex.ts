/**
 * Many logical subscriptions over one resilient connection.
 *
 * Incoming messages are routed to subscriptions by a channel read from each
 * message: a field (`channelKey`, e.g. Binance's `stream`) or a function
 * (`channelExtractor`, e.g. Bybit's `topic`). One fiber routes, in chunks,
 * into a bounded queue per subscription (same overflow policies as the
 * client's buffer). Every active channel is re-subscribed exactly once on
 * every reconnect, and a channel that was unsubscribed never is.
 *
 * ```ts
 * const mux = yield* Multiplex.make("wss://stream.binance.com:9443/stream", {
 *   channelKey: "stream",
 *   subscribeMessage: (channel) => ({ method: "SUBSCRIBE", params: [channel], id: Date.now() }),
 *   unsubscribeMessage: (channel) => ({ method: "UNSUBSCRIBE", params: [channel], id: Date.now() })
 * })
 * const trades = yield* mux.subscribe("btcusdt@trade")
 * yield* trades.messages.pipe(Stream.take(10), Stream.runForEach(Effect.log))
 * ```
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as internal from "./internal/multiplex.js"
import type * as JetSocket from "./JetSocket.js"
import type { JetSocketError } from "./JetSocketError.js"
import type { JetSocketEvent } from "./JetSocketEvent.js"
import type { OverflowPolicy } from "./MessageBuffer.js"
import type { Transport } from "./Transport.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: typeof internal.TypeId = internal.TypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * @since 0.1.0
 * @category models
 */
export interface SubscriptionStats {
  readonly channel: string
  /** Messages routed to this subscription. */
  readonly received: number
  /** Messages dropped by its overflow policy. */
  readonly dropped: number
  /** Messages waiting in its queue. */
  readonly queued: number
  /** Messages that failed its `schema` (counted under `strict: false`). */
  readonly invalid: number
}

/**
 * One logical subscription. Leaving the scope it was made in unsubscribes.
 *
 * @since 0.1.0
 * @category models
 */
export interface Subscription<A = unknown> {
  readonly channel: string
  /** This channel's messages; ends when unsubscribed; fails if the connection fails for good. */
  readonly messages: Stream.Stream<A, JetSocketError>
  readonly recv: (options?: JetSocket.JetSocket.RecvOptions) => Effect.Effect<A, JetSocketError>
  readonly stats: Effect.Effect<SubscriptionStats>
  readonly isActive: Effect.Effect<boolean>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface MultiplexStats {
  /** Subscriptions made since the start (each `subscribe` call counts). */
  readonly totalSubscriptions: number
  /** Subscriptions currently open. */
  readonly activeSubscriptions: number
  /** Distinct channels currently subscribed on the server. */
  readonly activeChannels: number
  readonly totalMessagesRouted: number
  /** Messages with no channel, or for a channel nobody subscribes to. */
  readonly unroutableMessages: number
  /** Subscribe messages sent to the server, resubscriptions included. */
  readonly subscribeMessagesSent: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Multiplex<A = unknown> {
  readonly [TypeId]: TypeId
  /** The underlying client (for `stats`, `send`, `state`…). */
  readonly client: JetSocket.JetSocket<unknown>
  /** The connection's lifecycle events (the client's `events`). */
  readonly events: Stream.Stream<JetSocketEvent>
  /**
   * Subscribes to `channel` for the life of the current scope. Subscribing a
   * channel that is already subscribed shares the server-side subscription
   * (reference counted); each subscriber still receives every message.
   */
  readonly subscribe: {
    (channel: string, options?: SubscribeOptions): Effect.Effect<Subscription<A>, JetSocketError, Scope.Scope>
    <B, I>(
      channel: string,
      options: SubscribeOptions & { readonly schema: Schema.Schema<B, I, never> }
    ): Effect.Effect<Subscription<B>, JetSocketError, Scope.Scope>
  }
  /**
   * Runs `f` on each message of `channel`, in order, until the channel is
   * unsubscribed (`unsubscribe`: succeeds), the connection fails for good
   * (fails with its error) or `f` fails (fails with that error, and
   * unsubscribes this run). Interrupting it unsubscribes.
   *
   * What `Stream.runForEach(subscription.messages, f)` does, without a queue,
   * a stream and a fiber per subscription: the router runs `f` itself, on each
   * turn's batch of the channel's messages. With many channels that is
   * several times faster (docs/performance.md), at a price: `f` runs in the
   * one routing fiber, so a slow `f` holds every channel (and, through the
   * client's buffer, the socket). Keep it short, or fork longer work.
   */
  readonly runForEach: <E>(channel: string, f: (message: A) => Effect.Effect<void, E>) => Effect.Effect<void, JetSocketError | E>
  /** Ends every subscription of `channel` now and unsubscribes on the server. */
  readonly unsubscribe: (channel: string) => Effect.Effect<void, JetSocketError>
  /** The channels currently subscribed. */
  readonly subscriptions: Effect.Effect<ReadonlyArray<string>>
  readonly stats: Effect.Effect<MultiplexStats>
  /** Messages nobody subscribes to, in order (a bounded, sliding buffer per run). */
  readonly unrouted: Stream.Stream<unknown>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface SubscribeOptions {
  /** Queue size for this subscription (default: the multiplexer's `queueSize`). */
  readonly queueSize?: number | undefined
  readonly overflowPolicy?: OverflowPolicy | undefined
  /** Under a `schema`: `true` (default) fails `messages` on an invalid message; `false` skips and counts it. */
  readonly strict?: boolean | undefined
}

/**
 * @since 0.1.0
 */
export declare namespace Multiplex {
  /**
   * The client's options plus routing.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Options extends Omit<JetSocket.JetSocket.Options<unknown>, "schema"> {
    /** Route by this field of each message (e.g. `"stream"`). */
    readonly channelKey?: string | undefined
    /** Route by this function (e.g. `(m) => m.topic`); wins over `channelKey`. */
    readonly channelExtractor?: ((message: unknown) => string | undefined) | undefined
    /** The message that subscribes a channel (an object is sent as JSON, a string as text). */
    readonly subscribeMessage?: ((channel: string) => unknown) | undefined
    /** The message that unsubscribes a channel. */
    readonly unsubscribeMessage?: ((channel: string) => unknown) | undefined
    /** Per-subscription queue size (default 1000). */
    readonly queueSize?: number | undefined
    /** Per-subscription overflow policy (default `"backpressure"`: a full subscription pauses routing). */
    readonly overflowPolicy?: OverflowPolicy | undefined
  }
}

/**
 * Connects and starts routing.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  url: JetSocket.JetSocket.Dynamic<string>,
  options: Multiplex.Options
) => Effect.Effect<Multiplex<unknown>, JetSocketError, Scope.Scope | Transport> = internal.make

/**
 * @since 0.1.0
 * @category guards
 */
export const isMultiplex = (u: unknown): u is Multiplex<unknown> => typeof u === "object" && u !== null && TypeId in u
