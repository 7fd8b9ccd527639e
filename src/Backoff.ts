/**
 * Reconnect backoff as an Effect `Schedule`.
 *
 * A `BackoffConfig` is plain data; {@link schedule} compiles it to a
 * `Schedule` that the client steps once per failure (a failed connect
 * attempt, or a connection that dropped before it was stable). Users may pass
 * any `Schedule` of their own as the `reconnect` option instead.
 *
 * `resetAfter` is not Effect's `Schedule.resetAfter` (which resets on time
 * since the schedule started, even under continuous failure): the client
 * starts a fresh schedule for an outage only when the previous connection
 * stayed up at least `resetAfter`.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Schedule from "effect/Schedule"

/**
 * @since 0.1.0
 * @category models
 */
export interface BackoffConfig {
  /** First delay (default 1 second). */
  readonly base?: Duration.DurationInput
  /** Growth factor per attempt (default 2). */
  readonly multiplier?: number
  /** Largest delay (default 60 seconds). */
  readonly cap?: Duration.DurationInput
  /** Full jitter: each delay uniform in [0, delay] (default `true`). */
  readonly jitter?: boolean
  /** Connection attempts per outage, the first included; 0 = forever (default 0). */
  readonly maxAttempts?: number
  /** A connection up at least this long makes the next outage start afresh (default 60 seconds). */
  readonly resetAfter?: Duration.DurationInput
  /** Give up an outage after this long (default: never). */
  readonly maxElapsed?: Duration.DurationInput
}

/**
 * The defaults: 1 s ×2 capped at 60 s, full jitter, forever, reset after 60 s.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults = {
  base: Duration.seconds(1),
  multiplier: 2,
  cap: Duration.seconds(60),
  jitter: true,
  maxAttempts: 0,
  resetAfter: Duration.seconds(60)
} as const

/**
 * Compiles a config to a `Schedule` whose delays are
 * `min(cap, base · multiplier^n)`, fully jittered, stopping after
 * `maxAttempts - 1` retries (so `maxAttempts` attempts in all) and after
 * `maxElapsed`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const schedule = (config: BackoffConfig = {}): Schedule.Schedule<Duration.Duration, unknown> => {
  const base = Duration.decode(config.base ?? defaults.base)
  const cap = Duration.decode(config.cap ?? defaults.cap)
  const multiplier = config.multiplier ?? defaults.multiplier
  const maxAttempts = config.maxAttempts ?? defaults.maxAttempts
  let out: Schedule.Schedule<Duration.Duration, unknown> = Schedule.exponential(base, multiplier).pipe(
    Schedule.modifyDelay((_, delay) => Duration.min(delay, cap))
  )
  if (config.jitter ?? defaults.jitter) out = out.pipe(Schedule.jitteredWith({ min: 0, max: 1 }))
  if (maxAttempts > 0) out = out.pipe(Schedule.intersect(Schedule.recurs(maxAttempts - 1)), Schedule.map(([d]) => d))
  if (config.maxElapsed !== undefined) out = out.pipe(Schedule.upTo(config.maxElapsed))
  return out
}

/**
 * The "stable connection" period of a config (default 60 s).
 *
 * @since 0.1.0
 * @category getters
 */
export const resetAfter = (config: BackoffConfig = {}): Duration.Duration =>
  Duration.decode(config.resetAfter ?? defaults.resetAfter)

/**
 * What the `reconnect` option accepts: `true` (default backoff), `false`
 * (never reconnect, a single connect attempt), a `BackoffConfig`, or any
 * `Schedule` (its input is the error that ended the attempt).
 *
 * @since 0.1.0
 * @category models
 */
export type ReconnectOption = boolean | BackoffConfig | Schedule.Schedule<unknown, any>

/**
 * A reconnect option resolved to the schedule the client steps and the
 * stable period after which it starts afresh.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReconnectPolicy {
  readonly schedule: Schedule.Schedule<unknown, unknown>
  readonly resetAfter: Duration.Duration
}

/**
 * Resolves the `reconnect` option.
 *
 * @since 0.1.0
 * @category constructors
 */
export const policy = (option: ReconnectOption | undefined): ReconnectPolicy => {
  if (option === false) return { schedule: Schedule.stop, resetAfter: defaults.resetAfter }
  if (option === undefined || option === true) return { schedule: schedule(), resetAfter: defaults.resetAfter }
  if (Schedule.isSchedule(option)) return { schedule: option as Schedule.Schedule<unknown, unknown>, resetAfter: defaults.resetAfter }
  return { schedule: schedule(option), resetAfter: resetAfter(option) }
}
