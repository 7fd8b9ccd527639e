/**
 * Every failure JetSocket reports is one of the tagged errors in this module,
 * delivered in the Effect error channel. Catch one with
 * `Effect.catchTag("ConnectionTimeoutError", ...)`, a category with
 * `Effect.catchIf(isConnectionError, ...)`, or all of them with
 * `Effect.catchIf(isJetSocketError, ...)`.
 *
 * The hierarchy follows the original library's "Exceptions" page:
 *
 * ```text
 * JetSocketError
 * ├── ConnectionError: ConnectionClosedError, ConnectionTimeoutError, ConnectionRefusedError
 * ├── ProtocolError:   InvalidFrameError, InvalidMessageError
 * ├── BufferError:     BufferOverflowError
 * ├── PoolError:       PoolExhaustedError
 * ├── InvalidStateError
 * ├── InvalidOptionsError
 * └── CallbackError
 * ```
 *
 * Every error says whether it is `fatal`: a fatal error is never retried by
 * the reconnect loop, so users can see why a connection stopped for good.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Predicate from "effect/Predicate"
import { redactUrl, withRedactedUrl } from "./internal/redact.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("jetsocket/JetSocketError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * The operations that can time out.
 *
 * @since 0.1.0
 * @category models
 */
export type TimeoutOperation = "connect" | "recv" | "pong" | "close" | "request"

/**
 * Close codes that mean "do not come back with the same credentials":
 * 1008 (policy violation), 4401 and 4403 (the common application codes for
 * unauthorized / forbidden).
 *
 * @since 0.1.0
 * @category constants
 */
export const fatalCloseCodes: ReadonlySet<number> = new Set([1008, 4401, 4403])

/**
 * HTTP statuses of a refused upgrade that are never retried: the request
 * itself is wrong (401, 403, 404, 410). Everything else (429, 5xx, ...) is
 * retriable.
 *
 * @since 0.1.0
 * @category constants
 */
export const fatalUpgradeStatuses: ReadonlySet<number> = new Set([401, 403, 404, 410])

const formatDuration = (d: Duration.Duration): string => Duration.format(d)
// Messages and JSON name the URL without its secrets: they reach logs and span events (see redact.ts).
const at = (url: string | undefined): string => (url === undefined ? "" : ` (${redactUrl(url)})`)

/**
 * The connection was closed unexpectedly by the peer or the network, or a
 * send was attempted on a connection that is closed.
 *
 * Fatal when the close code is one of {@link fatalCloseCodes}.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectionClosedError extends Data.TaggedError("ConnectionClosedError")<{
  /** The close code (1006 when the TCP connection was lost without a close frame). */
  readonly code: number
  /** The close reason the peer sent, possibly empty. */
  readonly reason: string
  /** Whether a close frame was exchanged before the TCP connection ended. */
  readonly wasClean: boolean
  readonly url?: string | undefined
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  get fatal(): boolean {
    return fatalCloseCodes.has(this.code)
  }
  /** @since 0.1.0 */
  override toJSON(): unknown {
    return withRedactedUrl(super.toJSON())
  }
  /** @since 0.1.0 */
  override get message(): string {
    const reason = this.reason === "" ? "" : `: ${this.reason}`
    return `Connection closed${at(this.url)} with code ${this.code}${reason}${this.wasClean ? "" : " (not clean)"}`
  }
}

/**
 * A connect or another operation did not complete in time. Always retriable.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectionTimeoutError extends Data.TaggedError("ConnectionTimeoutError")<{
  readonly timeout: Duration.Duration
  readonly operation: TimeoutOperation
  readonly url?: string | undefined
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  get fatal(): boolean {
    return false
  }
  /** @since 0.1.0 */
  override toJSON(): unknown {
    return withRedactedUrl(super.toJSON())
  }
  /** @since 0.1.0 */
  override get message(): string {
    return `Timed out waiting for ${this.operation}${at(this.url)} after ${formatDuration(this.timeout)}`
  }
}

/**
 * The connection could not be opened: TCP refused or reset, DNS failure, TLS
 * failure, an invalid URL, or an upgrade answered with something other than
 * 101 (then `status`, `headers` and a bounded prefix of `body` are set).
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectionRefusedError extends Data.TaggedError("ConnectionRefusedError")<{
  readonly reason: string
  readonly url?: string | undefined
  /** The HTTP status of a refused upgrade. */
  readonly status?: number | undefined
  /** The response headers of a refused upgrade (lower-case names), e.g. `retry-after`. */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** The first bytes (at most 1 KiB) of the refused upgrade's response body. */
  readonly body?: string | undefined
  /** A fatal refusal is never retried (401/403/404/410, TLS verification, invalid URL). */
  readonly fatal: boolean
  readonly cause?: unknown
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override toJSON(): unknown {
    return withRedactedUrl(super.toJSON())
  }
  /** @since 0.1.0 */
  override get message(): string {
    const status = this.status === undefined ? "" : ` with HTTP ${this.status}`
    return `Connection refused${at(this.url)}${status}: ${this.reason}`
  }
}

/**
 * The peer sent a frame that violates RFC 6455 / RFC 7692 or a size limit.
 * `closeCode` is the code the client closed with: 1002 (protocol error),
 * 1007 (invalid UTF-8), 1009 (message too big).
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidFrameError extends Data.TaggedError("InvalidFrameError")<{
  readonly closeCode: number
  readonly reason: string
  readonly url?: string | undefined
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** Retriable: the next connection may be fine; backoff keeps it from looping tightly. */
  get fatal(): boolean {
    return false
  }
  /** @since 0.1.0 */
  override toJSON(): unknown {
    return withRedactedUrl(super.toJSON())
  }
  /** @since 0.1.0 */
  override get message(): string {
    return `Invalid frame${at(this.url)}, closed with ${this.closeCode}: ${this.reason}`
  }
}

/**
 * An incoming message could not be decoded (JSON or Schema), or an outgoing
 * one could not be encoded. The connection stays open.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidMessageError extends Data.TaggedError("InvalidMessageError")<{
  readonly reason: string
  /** A bounded preview (at most 200 characters) of the offending payload. */
  readonly preview: string
  /** The underlying error, e.g. a `SyntaxError` or a Schema `ParseError`. */
  readonly cause?: unknown
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  get fatal(): boolean {
    return false
  }
  /** @since 0.1.0 */
  override get message(): string {
    return `Invalid message: ${this.reason} (payload: ${this.preview})`
  }
}

/**
 * A bounded buffer is full: the receive buffer under the `"error"` policy
 * (ends `messages`), or the send queue while reconnecting (returned to that
 * `send`).
 *
 * @since 0.1.0
 * @category errors
 */
export class BufferOverflowError extends Data.TaggedError("BufferOverflowError")<{
  readonly capacity: number
  readonly buffer: "receive" | "send" | "subscription"
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  get fatal(): boolean {
    return this.buffer === "receive"
  }
  /** @since 0.1.0 */
  override get message(): string {
    return `The ${this.buffer} buffer is full (capacity ${this.capacity})`
  }
}

/**
 * No pool connection became free within the acquire timeout.
 *
 * @since 0.1.0
 * @category errors
 */
export class PoolExhaustedError extends Data.TaggedError("PoolExhaustedError")<{
  readonly maxConnections: number
  readonly timeout: Duration.Duration
  readonly url?: string | undefined
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  get fatal(): boolean {
    return false
  }
  /** @since 0.1.0 */
  override toJSON(): unknown {
    return withRedactedUrl(super.toJSON())
  }
  /** @since 0.1.0 */
  override get message(): string {
    return `Connection pool exhausted${at(this.url)}: all ${this.maxConnections} connections busy for ${
      formatDuration(this.timeout)
    }`
  }
}

/**
 * An operation was attempted in a state that forbids it, e.g. `send` after
 * `close`.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidStateError extends Data.TaggedError("InvalidStateError")<{
  readonly state: string
  readonly operation: string
  /** Set when an internal fiber of the client died unexpectedly: the defect (a bug, reported rather than hung on). */
  readonly cause?: unknown
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  get fatal(): boolean {
    return true
  }
  /** @since 0.1.0 */
  override get message(): string {
    const cause = this.cause === undefined ? "" : ` (an internal fiber died: ${String(this.cause)})`
    return `Cannot ${this.operation} while the connection is ${this.state}${cause}`
  }
}

/**
 * One problem found in the options: the option's path (e.g.
 * `"heartbeat.interval"`, `"buffer.capacity"`) and what is wrong with it.
 *
 * @since 0.1.0
 * @category models
 */
export interface OptionProblem {
  readonly option: string
  readonly reason: string
}

/**
 * The options given to a client, multiplexer or pool (or to one call, such
 * as a `recv` timeout) are invalid: a non-positive or unparsable duration, a
 * capacity that is not a positive integer, a `reconnect` that is neither a
 * boolean, a `BackoffConfig` nor a `Schedule`, a callback that is not a
 * function... Found when the client is made, before any socket is opened,
 * with every problem listed.
 *
 * Raised as a **defect** (the fiber dies with this value), never in the
 * error channel: bad options are a bug in the calling code, like a wrong
 * argument, and every constructor keeps its signature (`JetSocket.make` and
 * `ConnectionPool.layer` cannot fail). Find it with `Effect.catchAllDefect`
 * and {@link isInvalidOptionsError}; the Promise API rejects with it, the CLI
 * prints it and exits with 2. Fatal: the same options would fail again.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidOptionsError extends Data.TaggedError("InvalidOptionsError")<{
  /** Every problem found, at least one. */
  readonly problems: ReadonlyArray<OptionProblem>
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  get fatal(): boolean {
    return true
  }
  /** The first problem's option, e.g. `"heartbeat.interval"`. */
  get option(): string {
    return this.problems[0]?.option ?? ""
  }
  /** @since 0.1.0 */
  override get message(): string {
    return `Invalid options: ${this.problems.map((p) => `${p.option} ${p.reason}`).join("; ")}`
  }
}

/**
 * A function the user gave JetSocket threw (or an Effect it returned died):
 * `shouldReconnect`, a request's `match`, a dedup or sequence key, a
 * `pongMatcher`, a connect hook, `onReplay`, a codec, a `url` / `headers` /
 * `protocols` Effect, a multiplexer's `channelExtractor` or
 * `subscribeMessage`, a custom `Transport`'s `connect`. `callback` names it.
 *
 * Fatal: a callback that runs for the client (on incoming messages, between
 * connections) ends the client with this error (`ready`, `messages` and
 * pending requests fail with it); one that runs inside a call (a codec's
 * `encode` in `send`, a request's `match`) fails that call.
 *
 * @since 0.1.0
 * @category errors
 */
export class CallbackError extends Data.TaggedError("CallbackError")<{
  /** Which callback, e.g. `"shouldReconnect"`, `"buffer.dedup.key"`, `"onConnect hook"`. */
  readonly callback: string
  /** What it threw, or the defect its Effect died with. */
  readonly cause: unknown
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  get fatal(): boolean {
    return true
  }
  /** @since 0.1.0 */
  override get message(): string {
    const cause = this.cause instanceof Error ? `${this.cause.name}: ${this.cause.message}` : String(this.cause)
    return `The ${this.callback} callback threw: ${cause}`
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export type ConnectionError = ConnectionClosedError | ConnectionTimeoutError | ConnectionRefusedError

/**
 * @since 0.1.0
 * @category models
 */
export type ProtocolError = InvalidFrameError | InvalidMessageError

/**
 * @since 0.1.0
 * @category models
 */
export type BufferError = BufferOverflowError

/**
 * @since 0.1.0
 * @category models
 */
export type PoolError = PoolExhaustedError

/**
 * The root of the hierarchy: every error JetSocket reports.
 *
 * @since 0.1.0
 * @category models
 */
export type JetSocketError =
  | ConnectionError
  | ProtocolError
  | BufferError
  | PoolError
  | InvalidStateError
  | InvalidOptionsError
  | CallbackError

const hasTag = <T extends string>(u: unknown, tags: ReadonlyArray<T>): boolean =>
  isJetSocketError(u) && (tags as ReadonlyArray<string>).includes(u._tag)

/**
 * @since 0.1.0
 * @category guards
 */
export const isJetSocketError = (u: unknown): u is JetSocketError => Predicate.hasProperty(u, TypeId)

/**
 * @since 0.1.0
 * @category guards
 */
export const isConnectionError = (u: unknown): u is ConnectionError =>
  hasTag(u, ["ConnectionClosedError", "ConnectionTimeoutError", "ConnectionRefusedError"])

/**
 * @since 0.1.0
 * @category guards
 */
export const isProtocolError = (u: unknown): u is ProtocolError =>
  hasTag(u, ["InvalidFrameError", "InvalidMessageError"])

/**
 * @since 0.1.0
 * @category guards
 */
export const isBufferError = (u: unknown): u is BufferError => hasTag(u, ["BufferOverflowError"])

/**
 * @since 0.1.0
 * @category guards
 */
export const isPoolError = (u: unknown): u is PoolError => hasTag(u, ["PoolExhaustedError"])

/**
 * @since 0.1.0
 * @category guards
 */
export const isInvalidStateError = (u: unknown): u is InvalidStateError => hasTag(u, ["InvalidStateError"])

/**
 * @since 0.1.0
 * @category guards
 */
export const isInvalidOptionsError = (u: unknown): u is InvalidOptionsError => hasTag(u, ["InvalidOptionsError"])

/**
 * @since 0.1.0
 * @category guards
 */
export const isCallbackError = (u: unknown): u is CallbackError => hasTag(u, ["CallbackError"])

/**
 * Whether the error ends the connection for good: the reconnect loop never
 * retries a fatal error.
 *
 * @since 0.1.0
 * @category guards
 */
export const isFatal = (error: JetSocketError): boolean => error.fatal
