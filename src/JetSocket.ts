/**
 * The resilient WebSocket client.
 *
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { JetSocket } from "jetsocket"
 * import { NodeTransport } from "jetsocket/node"
 *
 * const program = Effect.gen(function*() {
 *   const ws = yield* JetSocket.connect("wss://example.com/feed", { heartbeat: "20 seconds" })
 *   yield* ws.send({ op: "subscribe", channel: "trades" })
 *   yield* ws.messages.pipe(Stream.take(10), Stream.runForEach(Effect.log))
 * }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))
 * ```
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Schedule from "effect/Schedule"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { BackoffConfig } from "./Backoff.js"
import type { HeartbeatConfig } from "./Heartbeat.js"
import * as internal from "./internal/client.js"
import type { CustomCodec, Frame } from "./internal/codec.js"
import type { JetSocketError } from "./JetSocketError.js"
import type { JetSocketEvent } from "./JetSocketEvent.js"
import type { BufferConfig, ReplayConfig } from "./MessageBuffer.js"
import type { TlsOptions, Transport } from "./Transport.js"

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
 * The client's lifecycle:
 *
 * ```text
 * Idle → Connecting → Connected → (drop) Disconnected → Reconnecting ⇄ BackingOff → Connected …
 *                                   (close) Disconnecting → Closed;  (fatal / schedule exhausted) Failed
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ConnectionState =
  | "Idle"
  | "Connecting"
  | "Connected"
  | "Disconnecting"
  | "Disconnected"
  | "Reconnecting"
  | "BackingOff"
  | "Failed"
  | "Closed"

/**
 * A snapshot of a client's figures. Latencies are heartbeat round trips.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectionStats {
  readonly state: ConnectionState
  readonly url: string
  readonly messagesSent: number
  readonly messagesReceived: number
  readonly bytesSent: number
  readonly bytesReceived: number
  /** Connections opened after the first one. */
  readonly reconnects: number
  /** How long the current connection has been open (zero when not connected). */
  readonly uptime: Duration.Duration
  readonly lastLatency: Option.Option<Duration.Duration>
  readonly averageLatency: Option.Option<Duration.Duration>
  /** Round trips per bucket: `count` pongs took more than the previous bucket's `le` and at most this `le` milliseconds. */
  readonly latencyHistogram: ReadonlyArray<{ readonly le: number; readonly count: number }>
  readonly bufferSize: number
  readonly bufferCapacity: number
  /** `bufferSize / bufferCapacity`, from 0 to 1 (may exceed 1 briefly under backpressure). */
  readonly bufferFillRatio: number
  /** Messages dropped by the overflow policy. */
  readonly dropped: number
  /** Messages dropped as duplicates by `dedup`. */
  readonly deduplicated: number
  /** Messages that failed to decode and were skipped (`strict: false`). */
  readonly validationErrors: number
  /** Sends waiting for the next connection. */
  readonly sendQueueSize: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface SendOptions {
  /**
   * `true` (default): while not connected, queue the message for the next
   * connection, and re-send it there if the socket dies before writing it.
   * `false`: send on the current connection only — fail with
   * `InvalidStateError` when there is none, never re-send it later (for
   * messages a connect hook re-sends anyway, like subscriptions).
   */
  readonly queue?: boolean | undefined
}

/**
 * What a connect hook gets: a way to write straight to the new socket
 * before the queued sends are flushed and before messages flow.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectContext {
  /** `false` for the first connection, `true` for every later one. */
  readonly reconnected: boolean
  /** Encodes and writes a message on the new connection (connection-scoped: never re-sent later). */
  readonly send: (message: unknown) => Effect.Effect<void, JetSocketError>
  readonly sendText: (text: string) => Effect.Effect<void, JetSocketError>
}

/**
 * A connected, self-healing WebSocket client. All of it is safe to use from
 * many fibers at once.
 *
 * @since 0.1.0
 * @category models
 */
export interface JetSocket<A = unknown> {
  readonly [TypeId]: TypeId
  /** The URL of the current (or last) connection. */
  readonly url: Effect.Effect<string>
  /**
   * Encodes and sends a message: an object or array as a JSON text frame, a
   * string as a text frame, a `Uint8Array` as a binary frame (or through the
   * `schema` / `codec`). While reconnecting, sends are queued in order
   * (bounded by `sendQueue`); after `close` they fail with `InvalidStateError`.
   */
  readonly send: (message: A, options?: SendOptions) => Effect.Effect<void, JetSocketError>
  /** Sends a text frame as it is. */
  readonly sendText: (text: string, options?: SendOptions) => Effect.Effect<void, JetSocketError>
  /** Sends a binary frame as it is. */
  readonly sendBinary: (bytes: Uint8Array, options?: SendOptions) => Effect.Effect<void, JetSocketError>
  /**
   * The incoming messages, across reconnects. Ends when the client is closed;
   * fails with the error that ended the connection for good. A message that
   * does not decode fails this run of the stream with `InvalidMessageError`
   * (under `strict`), and the next run continues after it.
   */
  readonly messages: Stream.Stream<A, JetSocketError>
  /** The next message; with a `timeout`, `ConnectionTimeoutError { operation: "recv" }`. */
  readonly recv: (options?: JetSocket.RecvOptions) => Effect.Effect<A, JetSocketError>
  /**
   * Sends `message` and waits for the first incoming message that `match`es;
   * that reply is not delivered to `messages`. A drop before the reply fails
   * it at once (see `resendOnReconnect`).
   */
  readonly request: (message: A, options: JetSocket.RequestOptions<A>) => Effect.Effect<A, JetSocketError>
  /**
   * Closes gracefully (close handshake bounded by `closeTimeout`) and stops
   * every fiber of the client. Safe in every state and more than once.
   */
  readonly close: (code?: number, reason?: string) => Effect.Effect<void>
  /** Waits until the first connection is open, or fails as the connect did. */
  readonly ready: Effect.Effect<void, JetSocketError>
  readonly state: Effect.Effect<ConnectionState>
  /** The current state, then every change; ends after `Closed` or `Failed`. */
  readonly stateChanges: Stream.Stream<ConnectionState>
  /** Lifecycle events; each run subscribes anew; a slow subscriber only loses its own oldest events. */
  readonly events: Stream.Stream<JetSocketEvent>
  /** Like `events`, but subscribed now: nothing published after this returns is missed. */
  readonly subscribeEvents: Effect.Effect<Stream.Stream<JetSocketEvent>, never, Scope.Scope>
  readonly stats: Effect.Effect<ConnectionStats>
  /** The last heartbeat round trip. */
  readonly latency: Effect.Effect<Option.Option<Duration.Duration>>
  /**
   * Sends one ping (a ping frame, or the application ping) and waits for the
   * pong; returns the round trip.
   */
  readonly ping: (options?: { readonly timeout?: Duration.DurationInput }) => Effect.Effect<Duration.Duration, JetSocketError>
  /**
   * Runs `hook` on every later connection, before queued sends are flushed
   * and before its messages are delivered (used to resubscribe). Removed when
   * the scope closes.
   */
  readonly onConnect: (
    hook: (context: ConnectContext) => Effect.Effect<void, JetSocketError>
  ) => Effect.Effect<void, never, Scope.Scope>
}

/**
 * @since 0.1.0
 */
export declare namespace JetSocket {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface RecvOptions {
    readonly timeout?: Duration.DurationInput
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface RequestOptions<A> {
    /** Recognizes the reply. One that throws fails this request with `CallbackError`. */
    readonly match: (message: A) => boolean
    /** Default: 30 seconds. */
    readonly timeout?: Duration.DurationInput
    /**
     * What happens when the connection drops before the reply (a reply can
     * only come on the connection the request went out on). `false`
     * (default): the request fails at once with the error that ended the
     * connection (e.g. `ConnectionClosedError`), not after its `timeout`.
     * `true`: it is sent again on the next connection (after what the dead
     * socket never wrote, before sends made during the outage) and keeps
     * waiting within the same `timeout`: at-least-once, for idempotent
     * requests.
     */
    readonly resendOnReconnect?: boolean | undefined
  }

  /**
   * A value, or an Effect evaluated at every connect attempt (for rotating
   * tokens, failover URLs).
   *
   * @since 0.1.0
   * @category models
   */
  export type Dynamic<T> = T | Effect.Effect<T, unknown>

  /**
   * Client options: plain data, every field optional with a sensible default.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Options<A = unknown, I = any> {
    /** `true` (default backoff), `false` (never), a `BackoffConfig`, or any `Schedule`. */
    readonly reconnect?: boolean | BackoffConfig | Schedule.Schedule<unknown, any> | undefined
    /** An interval, a `HeartbeatConfig`, or `false` (default: ping frames every 30 s, 10 s timeout). */
    readonly heartbeat?: false | Duration.DurationInput | HeartbeatConfig | undefined
    /** A capacity or a `BufferConfig` (default 1000, `"backpressure"`). */
    readonly buffer?: number | BufferConfig<NoInfer<A>> | undefined
    readonly replay?: ReplayConfig<NoInfer<A>> | undefined
    /** Decode incoming (JSON → Schema) and encode outgoing messages; `messages` has the Schema's type. */
    readonly schema?: Schema.Schema<A, I, never> | undefined
    /** `true` (default): an invalid message fails `messages`; `false`: it is skipped and counted. */
    readonly strict?: boolean | undefined
    /** `"json"` (default), `"text"`, `"binary"`, or a custom pair of Effects. */
    readonly codec?: "json" | "text" | "binary" | CustomCodec<A> | undefined
    readonly headers?: Dynamic<Readonly<Record<string, string>>> | undefined
    readonly protocols?: Dynamic<string | ReadonlyArray<string>> | undefined
    /** permessage-deflate: `true` (threshold 1024 bytes), `false` (default), or `{ threshold }`. */
    readonly compression?: boolean | { readonly threshold: number } | undefined
    /** Largest accepted incoming message, after decompression (default 64 MiB). */
    readonly maxMessageSize?: number | undefined
    /** Default 10 seconds. */
    readonly connectTimeout?: Duration.DurationInput | undefined
    /** Default 5 seconds. */
    readonly closeTimeout?: Duration.DurationInput | undefined
    /** Replace the connection after this long, make-before-break (default: never). */
    readonly maxConnectionAge?: Duration.DurationInput | undefined
    /**
     * What `send` does while not connected: queue up to N messages (default
     * 1000), or fail at once with `InvalidStateError` (`false`).
     */
    readonly sendQueue?: number | false | undefined
    readonly tls?: TlsOptions | undefined
    /** An HTTP(S) agent, e.g. a proxy agent (Node transport). */
    readonly agent?: unknown
    /**
     * Return `false` to make an error fatal (never retried) on top of the
     * built-in fatal cases. One that throws ends the client with
     * `CallbackError { callback: "shouldReconnect" }`.
     */
    readonly shouldReconnect?: ((error: JetSocketError) => boolean) | undefined
    /**
     * A name for the client in telemetry: the `jetsocket.name` label of its
     * metrics and attribute of its spans (docs/observability.md). Name a role
     * ("orders-feed"), not a connection: each distinct name is a metric series.
     * A non-empty string of at most 64 characters.
     *
     * @since 0.1.0
     */
    readonly name?: string | undefined
  }
}

/**
 * Opens a client and waits for its first connection: succeeds once a
 * connection is open, or fails with the error that ended the retry schedule
 * (or a fatal one). Invalid options are a defect (a bug in the calling
 * code): it dies at once, before any socket is opened, with an
 * `InvalidOptionsError` naming every problem (see docs/errors.md). Closing the scope closes the socket with code 1000 and
 * stops every fiber the client started.
 *
 * @since 0.1.0
 * @category constructors
 */
export const connect: <A = unknown, I = any>(
  url: JetSocket.Dynamic<string>,
  options?: JetSocket.Options<A, I>
) => Effect.Effect<JetSocket<A>, JetSocketError, Scope.Scope | Transport> = internal.connect

/**
 * Like {@link connect}, but returns at once, in state `Idle`: the first
 * connect attempt starts on a forked fiber (state `Connecting` as soon as it
 * runs), and `ws.ready` waits for the first connection. Useful to observe
 * every state and event from the very start. Invalid options are
 * a defect, as with {@link connect}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: <A = unknown, I = any>(
  url: JetSocket.Dynamic<string>,
  options?: JetSocket.Options<A, I>
) => Effect.Effect<JetSocket<A>, never, Scope.Scope | Transport> = internal.make

/**
 * @since 0.1.0
 * @category guards
 */
export const isJetSocket = (u: unknown): u is JetSocket<unknown> =>
  typeof u === "object" && u !== null && TypeId in u

/**
 * The wire form of a message: a text frame (`string`) or a binary frame (`Uint8Array`).
 *
 * @since 0.1.0
 * @category models
 */
export type { Frame }

/**
 * A custom codec: a pair of synchronous Effects.
 *
 * @since 0.1.0
 * @category models
 */
export type { CustomCodec }
