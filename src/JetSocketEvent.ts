/**
 * Lifecycle events of a connection, published on `ws.events`. Every event
 * has a `_tag` (its name) and a `timestamp` (epoch milliseconds, from the
 * Effect `Clock`, so tests under `TestClock` see deterministic times).
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import type { JetSocketError } from "./JetSocketError.js"
import type { OverflowPolicy } from "./MessageBuffer.js"

/**
 * @since 0.1.0
 * @category models
 */
export type JetSocketEvent = Data.TaggedEnum<{
  /** A connection attempt starts. */
  Connecting: { readonly timestamp: number; readonly url: string; readonly attempt: number }
  /** A connection is open (the first one, or any later one). */
  Connected: { readonly timestamp: number; readonly url: string; readonly protocol: string }
  /** An open connection ended. */
  Disconnected: { readonly timestamp: number; readonly code: number; readonly reason: string }
  /** The next attempt is scheduled after `delay`. */
  Reconnecting: { readonly timestamp: number; readonly attempt: number; readonly delay: Duration.Duration }
  /** A connection is open again after `attempts` attempts and `downtime`. */
  Reconnected: { readonly timestamp: number; readonly attempts: number; readonly downtime: Duration.Duration }
  /** An error occurred; `fatal` errors end the connection for good. */
  Error: { readonly timestamp: number; readonly error: JetSocketError; readonly fatal: boolean }
  /** A heartbeat ping was sent. */
  Ping: { readonly timestamp: number }
  /** A heartbeat pong arrived after `latency`. */
  Pong: { readonly timestamp: number; readonly latency: Duration.Duration }
  /** `dropped` messages were dropped by the overflow policy since the last such event. */
  BufferOverflow: { readonly timestamp: number; readonly dropped: number; readonly policy: OverflowPolicy }
  /** An invalid message was skipped (`strict: false`). */
  ValidationError: { readonly timestamp: number; readonly error: JetSocketError }
  /** Replay after a reconnect starts. */
  ReplayStarted: { readonly timestamp: number; readonly mode: "sequence_id" | "full_buffer"; readonly lastSequenceId?: unknown }
  /** Replay after a reconnect is done. */
  ReplayCompleted: { readonly timestamp: number; readonly replayed: number; readonly duration: Duration.Duration }
  /** The client is closed; no more events follow. */
  Closed: { readonly timestamp: number; readonly code: number; readonly reason: string }
}>

/**
 * Constructors and matchers: `JetSocketEvent.Connected({ ... })`,
 * `JetSocketEvent.$is("Pong")(event)`, `JetSocketEvent.$match(event, { ... })`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const JetSocketEvent = Data.taggedEnum<JetSocketEvent>()

/**
 * @since 0.1.0
 * @category models
 */
export type Tag = JetSocketEvent["_tag"]
