/**
 * Ready-made option sets with the original library's values. Each is plain
 * data (`JetSocket.Options`): override any field with a spread, or with
 * {@link with} which merges nested configs field by field:
 *
 * ```ts
 * JetSocket.connect(url, { ...Presets.trading, connectTimeout: "5 seconds" })
 * JetSocket.connect(url, Presets.with(Presets.trading, { buffer: { capacity: 50_000 } }))
 * ```
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import type { JetSocket } from "./JetSocket.js"

/**
 * Exchange market data: reconnect 0.5 s → 30 s forever, heartbeat 20 s / 10 s,
 * 10 000-message buffer dropping the oldest with a dedup window of 1 000 (on
 * the message's `seq`, `sequence`, `id` or `u` field), connection replaced
 * after 23 h 50 m (exchanges cut at 24 h), compression on.
 *
 * @since 0.1.0
 * @category presets
 */
export const trading: JetSocket.Options = {
  reconnect: { base: "500 millis", multiplier: 2, cap: "30 seconds", jitter: true, maxAttempts: 0 },
  heartbeat: { interval: "20 seconds", timeout: "10 seconds" },
  buffer: {
    capacity: 10_000,
    overflowPolicy: "drop_oldest",
    dedup: { window: 1_000, key: (message: unknown) => sequenceOf(message) }
  },
  maxConnectionAge: Duration.minutes(23 * 60 + 50),
  compression: true
}

/**
 * LLM token streams: reconnect 1 s → 10 s, 5 attempts, heartbeat 30 s / 15 s,
 * 500-message buffer, messages up to 128 MiB, compression off.
 *
 * @since 0.1.0
 * @category presets
 */
export const llmStream: JetSocket.Options = {
  reconnect: { base: "1 second", multiplier: 2, cap: "10 seconds", jitter: true, maxAttempts: 5 },
  heartbeat: { interval: "30 seconds", timeout: "15 seconds" },
  buffer: { capacity: 500 },
  maxMessageSize: 128 * 1024 * 1024,
  compression: false
}

/**
 * Dashboards: reconnect 2 s → 60 s forever, heartbeat 30 s, 100-message
 * buffer dropping the oldest (only the latest state matters).
 *
 * @since 0.1.0
 * @category presets
 */
export const dashboard: JetSocket.Options = {
  reconnect: { base: "2 seconds", multiplier: 2, cap: "60 seconds", jitter: true, maxAttempts: 0 },
  heartbeat: { interval: "30 seconds" },
  buffer: { capacity: 100, overflowPolicy: "drop_oldest" }
}

/**
 * The smallest sensible setup: reconnect with the default backoff, heartbeat
 * every 30 s, a 100-message buffer.
 *
 * @since 0.1.0
 * @category presets
 */
export const minimal: JetSocket.Options = {
  reconnect: true,
  heartbeat: "30 seconds",
  buffer: { capacity: 100 }
}

const sequenceOf = (message: unknown): unknown => {
  if (typeof message !== "object" || message === null) return message
  const record = message as Record<string, unknown>
  return record.seq ?? record.sequence ?? record.id ?? record.u ?? message
}

const isPlainObject = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && Object.getPrototypeOf(u) === Object.prototype

/**
 * Overrides a preset field by field: nested plain objects (`reconnect`,
 * `heartbeat`, `buffer`, `replay`, `tls`) are merged, anything else is
 * replaced.
 *
 * @since 0.1.0
 * @category combinators
 */
const withOverrides = <A = unknown, I = any>(
  preset: JetSocket.Options<any, any>,
  overrides: JetSocket.Options<A, I>
): JetSocket.Options<A, I> => {
  const out: Record<string, unknown> = { ...preset }
  for (const [key, value] of Object.entries(overrides)) {
    const base = out[key]
    out[key] = isPlainObject(base) && isPlainObject(value) ? { ...base, ...value } : value
  }
  return out as JetSocket.Options<A, I>
}

export {
  /**
   * Overrides a preset field by field (see {@link withOverrides}).
   *
   * @since 0.1.0
   * @category combinators
   */
  withOverrides as with
}
