/**
 * The `Transport` service opens one raw WebSocket connection. The client
 * never touches a socket library itself: it asks the `Transport` from its
 * environment, so the same client runs on Node (`NodeTransport.layer`, on
 * `ws`) and in browsers, Deno and Bun (`WebSocketTransport.layer`, on the
 * platform's `WebSocket`).
 *
 * Incoming data is delivered through plain callbacks ({@link Transport.Handlers})
 * because that is the hot path: a transport callback feeds the client's
 * bounded queue synchronously, with no fiber per message.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { ConnectionError, InvalidFrameError } from "./JetSocketError.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("jetsocket/Transport")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * TLS options for `wss://` URLs. Certificate verification is on by default.
 *
 * @since 0.1.0
 * @category models
 */
export interface TlsOptions {
  /** Trusted CA certificates (PEM), e.g. for a self-signed server. */
  readonly ca?: string | Uint8Array | ReadonlyArray<string | Uint8Array>
  /** Client certificate (PEM) for mutual TLS. */
  readonly cert?: string | Uint8Array
  /** Client private key (PEM) for mutual TLS. */
  readonly key?: string | Uint8Array
  /** SNI server name, when it differs from the URL's host. */
  readonly servername?: string
  /** Verify the server certificate (default `true`). Turning it off is for tests only. */
  readonly rejectUnauthorized?: boolean
}

/**
 * The incoming side of a connection. The transport calls these
 * synchronously from its socket callbacks.
 *
 * @since 0.1.0
 * @category models
 */
export interface Handlers {
  /** A complete message: a text frame as `string`, a binary frame as `Uint8Array`. */
  readonly onMessage: (data: string | Uint8Array) => void
  /** A pong frame (the answer to {@link Connection.ping}). */
  readonly onPong: (data: Uint8Array) => void
  /**
   * The connection ended without the client asking for it: the peer closed
   * (`ConnectionClosedError`), the network failed, or the peer broke the
   * protocol (`InvalidFrameError`). Called at most once.
   */
  readonly onClose: (error: ConnectionError | InvalidFrameError) => void
}

/**
 * What the client asks the transport to open.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectRequest {
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly protocols: ReadonlyArray<string>
  /** permessage-deflate: off, or on for messages of at least `threshold` bytes. */
  readonly compression: false | { readonly threshold: number }
  /** Largest accepted incoming message in bytes, enforced after decompression. */
  readonly maxMessageSize: number
  /**
   * How long the handshake may take. A transport that sets
   * {@link Transport.enforcesConnectTimeout} fails `connect` with
   * `ConnectionTimeoutError { operation: "connect" }` once it passes and
   * drops the socket; for any other, the client enforces it.
   */
  readonly connectTimeout: Duration.Duration
  readonly tls?: TlsOptions | undefined
  /** An `http.Agent` (e.g. a proxy agent) for Node; ignored where there is none. */
  readonly agent?: unknown
  readonly handlers: Handlers
}

/**
 * One open WebSocket connection. The send methods are synchronous and never
 * throw: they hand data to the socket and report the outcome through
 * `onWritten`, which lets the client re-send what a dying socket never wrote.
 *
 * @since 0.1.0
 * @category models
 */
export interface Connection {
  /** The negotiated subprotocol, `""` if none. */
  readonly protocol: string
  /** The negotiated extensions, e.g. `"permessage-deflate"`, `""` if none. */
  readonly extensions: string
  /** Whether WebSocket ping frames are available (not in browsers). */
  readonly canPing: boolean
  /** Whether the socket still accepts data. */
  readonly isOpen: () => boolean
  /** Send a text (`string`) or binary (`Uint8Array`) message. */
  readonly send: (data: string | Uint8Array, onWritten?: (error?: Error) => void) => void
  /** Send a ping frame; a no-op where `canPing` is false. */
  readonly ping: (data?: Uint8Array) => void
  /** Stop reading from the socket (backpressure). */
  readonly pause: () => void
  /** Resume reading from the socket. */
  readonly resume: () => void
  /**
   * Start the close handshake and wait for it; after `timeout` the socket is
   * destroyed. Never fails: by the time it returns the socket is gone.
   */
  readonly close: (code: number, reason: string, timeout: Duration.Duration) => Effect.Effect<boolean>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Transport {
  readonly [TypeId]: TypeId
  /** A short name for diagnostics, e.g. `"node"` or `"websocket"`. */
  readonly name: string
  /**
   * `connect` fails with `ConnectionTimeoutError` once the request's
   * `connectTimeout` passes (both built-in transports do, with a plain
   * timer). When it is not set, the client races every attempt against the
   * timeout itself, which costs a fiber per attempt.
   */
  readonly enforcesConnectTimeout?: boolean
  /**
   * Open one connection. Closing the scope destroys the socket if it is still
   * open (no close frame: call `Connection.close` first for a clean close).
   */
  readonly connect: (
    request: ConnectRequest
  ) => Effect.Effect<Connection, ConnectionError | InvalidFrameError, Scope.Scope>
}

/**
 * The `Transport` service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export const Transport: Context.Tag<Transport, Transport> = Context.GenericTag<Transport>("jetsocket/Transport")

/**
 * Builds a `Transport` value from its `connect` function. Set
 * `enforcesConnectTimeout` when `connect` fails with
 * `ConnectionTimeoutError` after the request's `connectTimeout` by itself;
 * otherwise the client enforces the timeout.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  name: string,
  connect: Transport["connect"],
  options?: { readonly enforcesConnectTimeout?: boolean }
): Transport => ({ [TypeId]: TypeId, name, connect, enforcesConnectTimeout: options?.enforcesConnectTimeout ?? false })

/**
 * @since 0.1.0
 * @category guards
 */
export const isTransport = (u: unknown): u is Transport => typeof u === "object" && u !== null && TypeId in u
