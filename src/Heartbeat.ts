/**
 * Heartbeat configuration: WebSocket ping frames (the default) or an
 * application ping (a `payload` message plus a `pongMatcher`), for servers
 * and platforms without ping frames.
 *
 * A missing pong within `timeout` ends the connection with
 * `ConnectionTimeoutError { operation: "pong" }` (retriable), and the
 * reconnect loop takes over. The deadline is checked only after pending
 * socket input was processed, so a process whose event loop stalled does not
 * reconnect when the pong is already waiting in the socket.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"

/**
 * @since 0.1.0
 * @category models
 */
export interface HeartbeatConfig {
  /** Time between pings (default 30 seconds). */
  readonly interval?: Duration.DurationInput
  /** How long to wait for the pong (default 10 seconds). */
  readonly timeout?: Duration.DurationInput
  /**
   * An application ping: sent as a message (an object is sent as JSON, a
   * string as text, a `Uint8Array` as binary) instead of a ping frame.
   */
  readonly payload?: unknown
  /**
   * Recognizes the application pong; matched messages are consumed, not
   * delivered. Without it, any incoming message counts as the pong.
   */
  readonly pongMatcher?: (message: unknown) => boolean
}

/**
 * What the `heartbeat` option accepts: `false` (off), an interval, or a config.
 *
 * @since 0.1.0
 * @category models
 */
export type HeartbeatOption = false | Duration.DurationInput | HeartbeatConfig

/**
 * @since 0.1.0
 * @category constants
 */
export const defaults = { interval: Duration.seconds(30), timeout: Duration.seconds(10) } as const

/**
 * A resolved heartbeat: ping frames, or an application ping.
 *
 * @since 0.1.0
 * @category models
 */
export interface Resolved {
  readonly interval: Duration.Duration
  readonly timeout: Duration.Duration
  readonly application?: {
    readonly payload: unknown
    /** When absent, any incoming message proves the connection alive (and is delivered). */
    readonly pongMatcher?: ((message: unknown) => boolean) | undefined
  } | undefined
}

const resolvedDefaults: Resolved = { interval: defaults.interval, timeout: defaults.timeout }
const resolvedIntervals = new Map<string | number, Resolved>()

const isConfig = (u: HeartbeatOption): u is HeartbeatConfig =>
  typeof u === "object" && u !== null && !Duration.isDuration(u) && !Array.isArray(u)

/**
 * Resolves the `heartbeat` option; `undefined` means off. The default (no
 * option) is ping frames every 30 s with a 10 s timeout.
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolve = (option: HeartbeatOption | undefined): Resolved | undefined => {
  if (option === false) return undefined
  if (option === undefined) return resolvedDefaults
  if (typeof option === "string" || typeof option === "number") {
    // The same few settings are shared by many clients: resolve each once.
    let resolved = resolvedIntervals.get(option)
    if (resolved === undefined) {
      resolved = { interval: Duration.decode(option), timeout: defaults.timeout }
      resolvedIntervals.set(option, resolved)
    }
    return resolved
  }
  if (!isConfig(option)) return { interval: Duration.decode(option), timeout: defaults.timeout }
  const interval = Duration.decode(option.interval ?? defaults.interval)
  const timeout = Duration.decode(option.timeout ?? defaults.timeout)
  if (option.payload === undefined) return { interval, timeout }
  return {
    interval,
    timeout,
    application: { payload: option.payload, pongMatcher: option.pongMatcher }
  }
}
