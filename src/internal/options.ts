/**
 * Option validation, run when a client, multiplexer or pool is made (and for
 * the per-call options `recv`, `request`, `ping` and `acquire` take), before
 * anything is opened. Every problem is collected, each named by its option's
 * path, and reported as one `InvalidOptionsError`, raised as a defect (see
 * {@link check}): the one rule for bad options everywhere (docs/errors.md).
 * Nothing here throws.
 *
 * Durations must be at least 1 ms, finite and at most 2^31 − 1 ms (~24.8 days):
 * `Duration.decode` clamps a negative number to zero (a zero heartbeat
 * interval is a ping flood), `Infinity` and anything above the largest timer
 * delay make a platform timer fire at once.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { InvalidOptionsError, type OptionProblem } from "../JetSocketError.js"

/** The largest delay a platform timer (`setTimeout`) honours. */
const MAX_TIMER_MILLIS = 2 ** 31 - 1

/** The longest client `name`: a label value, meant to name a role. */
const MAX_NAME_LENGTH = 64

const POLICIES: ReadonlyArray<string> = ["drop_oldest", "drop_newest", "error", "backpressure"]
const REPLAY_MODES: ReadonlyArray<string> = ["none", "sequence_id", "full_buffer"]
const CODECS: ReadonlyArray<string> = ["json", "text", "binary"]

const show = (value: unknown): string => {
  if (typeof value === "string") return JSON.stringify(value)
  if (typeof value === "bigint") return `${value}n`
  if (Duration.isDuration(value)) return Duration.format(value)
  if (typeof value === "function") return "a function"
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

const isRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

/** Collects problems; `path` prefixes every option name (e.g. `"connectOptions."`). */
class Checker {
  readonly problems: Array<OptionProblem> = []
  constructor(private readonly path = "") {}

  add(option: string, reason: string): void {
    this.problems.push({ option: this.path + option, reason })
  }

  /** A positive, finite duration (or `infinity` where `allowInfinite`). Absent is fine. */
  duration(option: string, input: unknown, allowInfinite = false): void {
    if (input === undefined) return
    if (Array.isArray(input) && input.some((part) => typeof part === "number" && part < 0)) {
      return this.add(option, `must be a positive duration, got ${show(input)}`)
    }
    const decoded = Duration.decodeUnknown(input)
    if (Option.isNone(decoded) || (typeof input === "number" && Number.isNaN(input))) {
      return this.add(option, `must be a duration (e.g. "5 seconds" or a number of milliseconds), got ${show(input)}`)
    }
    const duration = decoded.value
    if (Duration.isZero(duration)) return this.add(option, `must be a positive duration, got ${show(input)}`)
    // Timers have millisecond resolution: less is 0 to them (a 1 ns heartbeat is a ping flood).
    if (Duration.lessThan(duration, Duration.millis(1))) return this.add(option, `must be at least 1 millisecond, got ${show(input)}`)
    if (!Duration.isFinite(duration)) {
      if (!allowInfinite) this.add(option, `must be finite, got ${show(input)}`)
      return
    }
    if (Duration.toMillis(duration) > MAX_TIMER_MILLIS) {
      this.add(option, `must be at most ${MAX_TIMER_MILLIS} ms (~24.8 days, the largest timer delay), got ${show(input)}`)
    }
  }

  /** An integer ≥ `min`. Absent is fine. */
  integer(option: string, input: unknown, min: number): void {
    if (input === undefined) return
    if (typeof input !== "number" || !Number.isSafeInteger(input) || input < min) {
      const what = min === 1 ? "a positive integer" : min === 0 ? "a non-negative integer" : `an integer ≥ ${min}`
      this.add(option, `must be ${what}, got ${show(input)}`)
    }
  }

  function(option: string, input: unknown): void {
    if (input !== undefined && typeof input !== "function") this.add(option, `must be a function, got ${show(input)}`)
  }

  boolean(option: string, input: unknown): void {
    if (input !== undefined && typeof input !== "boolean") this.add(option, `must be true or false, got ${show(input)}`)
  }

  oneOf(option: string, input: unknown, values: ReadonlyArray<string>): void {
    if (input !== undefined && !values.includes(input as string)) {
      this.add(option, `must be one of ${values.map((v) => `"${v}"`).join(", ")}, got ${show(input)}`)
    }
  }

  /** A value or an Effect evaluated at every connect (the Effect is checked when it runs). */
  dynamic(option: string, input: unknown, valid: (u: unknown) => boolean, what: string): void {
    if (input === undefined || Effect.isEffect(input) || valid(input)) return
    this.add(option, `must be ${what} or an Effect of one, got ${show(input)}`)
  }

  object(option: string, input: unknown): input is Record<string, unknown> {
    if (isRecord(input)) return true
    this.add(option, `must be an object, got ${show(input)}`)
    return false
  }
}

const checkReconnect = (c: Checker, input: unknown): void => {
  if (input === undefined || typeof input === "boolean" || Schedule.isSchedule(input)) return
  if (!isRecord(input) || Duration.isDuration(input)) {
    return c.add("reconnect", `must be true, false, a BackoffConfig or a Schedule, got ${show(input)}`)
  }
  c.duration("reconnect.base", input.base)
  c.duration("reconnect.cap", input.cap)
  c.duration("reconnect.resetAfter", input.resetAfter)
  c.duration("reconnect.maxElapsed", input.maxElapsed)
  c.integer("reconnect.maxAttempts", input.maxAttempts, 0)
  c.boolean("reconnect.jitter", input.jitter)
  const multiplier = input.multiplier
  if (multiplier !== undefined && (typeof multiplier !== "number" || !Number.isFinite(multiplier) || multiplier < 1)) {
    c.add("reconnect.multiplier", `must be a finite number ≥ 1, got ${show(multiplier)}`)
  }
}

const checkHeartbeat = (c: Checker, input: unknown): void => {
  if (input === undefined || input === false) return
  if (!isRecord(input) || Duration.isDuration(input)) return c.duration("heartbeat", input)
  c.duration("heartbeat.interval", input.interval)
  c.duration("heartbeat.timeout", input.timeout)
  c.function("heartbeat.pongMatcher", input.pongMatcher)
}

const checkBuffer = (c: Checker, input: unknown): void => {
  if (input === undefined) return
  if (typeof input === "number") return c.integer("buffer", input, 1)
  if (!c.object("buffer", input)) return
  c.integer("buffer.capacity", input.capacity, 1)
  c.oneOf("buffer.overflowPolicy", input.overflowPolicy, POLICIES)
  const dedup = input.dedup
  if (dedup === undefined) return
  if (!c.object("buffer.dedup", dedup)) return
  c.integer("buffer.dedup.window", dedup.window, 1)
  if (dedup.window === undefined) c.add("buffer.dedup.window", "is required")
  if (typeof dedup.key !== "function") c.add("buffer.dedup.key", `must be a function, got ${show(dedup.key)}`)
}

const checkReplay = (c: Checker, input: unknown): void => {
  if (input === undefined) return
  if (!c.object("replay", input)) return
  c.oneOf("replay.mode", input.mode, REPLAY_MODES)
  if (input.mode === undefined) c.add("replay.mode", "is required")
  c.function("replay.sequenceKey", input.sequenceKey)
  c.function("replay.onReplay", input.onReplay)
}

const checkCodec = (c: Checker, input: unknown): void => {
  if (input === undefined || CODECS.includes(input as string)) return
  if (isRecord(input) && typeof input.encode === "function" && typeof input.decode === "function") return
  c.add("codec", `must be "json", "text", "binary" or { encode, decode }, got ${show(input)}`)
}

const isStringRecord = (u: unknown): boolean => isRecord(u) && Object.values(u).every((v) => typeof v === "string")
const isProtocols = (u: unknown): boolean =>
  typeof u === "string" || (Array.isArray(u) && u.every((p) => typeof p === "string"))

/** Checks the client options into `c`. */
const checkClient = (c: Checker, options: Record<string, unknown>): void => {
  checkReconnect(c, options.reconnect)
  checkHeartbeat(c, options.heartbeat)
  checkBuffer(c, options.buffer)
  checkReplay(c, options.replay)
  checkCodec(c, options.codec)
  if (options.schema !== undefined && !Schema.isSchema(options.schema)) c.add("schema", `must be a Schema, got ${show(options.schema)}`)
  c.boolean("strict", options.strict)
  c.dynamic("headers", options.headers, isStringRecord, "a record of strings")
  c.dynamic("protocols", options.protocols, isProtocols, "a string or an array of strings")
  const compression = options.compression
  if (compression !== undefined && typeof compression !== "boolean") {
    if (c.object("compression", compression)) c.integer("compression.threshold", compression.threshold, 0)
  }
  c.integer("maxMessageSize", options.maxMessageSize, 1)
  c.duration("connectTimeout", options.connectTimeout)
  c.duration("closeTimeout", options.closeTimeout)
  c.duration("maxConnectionAge", options.maxConnectionAge)
  if (options.sendQueue !== false) c.integer("sendQueue", options.sendQueue, 0)
  c.function("shouldReconnect", options.shouldReconnect)
  const name = options.name
  if (name !== undefined && (typeof name !== "string" || name.length === 0 || name.length > MAX_NAME_LENGTH)) {
    c.add("name", `must be a non-empty string of at most ${MAX_NAME_LENGTH} characters, got ${show(name)}`)
  }
}

const result = (c: Checker): InvalidOptionsError | undefined =>
  c.problems.length === 0 ? undefined : new InvalidOptionsError({ problems: c.problems })

const asRecord = (options: unknown): Record<string, unknown> => (isRecord(options) ? options : {})

/** @internal The client's options: `undefined` when they are valid. */
export const client = (options: unknown, path = ""): InvalidOptionsError | undefined => {
  const c = new Checker(path)
  if (options !== undefined && !isRecord(options)) c.add(path === "" ? "options" : path.slice(0, -1), `must be an object, got ${show(options)}`)
  checkClient(c, asRecord(options))
  return result(c)
}

/** @internal A multiplexer's options (its client's included). */
export const multiplex = (options: unknown): InvalidOptionsError | undefined => {
  const c = new Checker()
  const o = asRecord(options)
  checkClient(c, o)
  if (o.channelKey !== undefined && typeof o.channelKey !== "string") c.add("channelKey", `must be a string, got ${show(o.channelKey)}`)
  c.function("channelExtractor", o.channelExtractor)
  c.function("subscribeMessage", o.subscribeMessage)
  c.function("unsubscribeMessage", o.unsubscribeMessage)
  c.integer("queueSize", o.queueSize, 1)
  c.oneOf("overflowPolicy", o.overflowPolicy, POLICIES)
  return result(c)
}

/** @internal One subscription's options. */
export const subscription = (options: unknown): InvalidOptionsError | undefined => {
  const c = new Checker()
  const o = asRecord(options)
  c.integer("queueSize", o.queueSize, 1)
  c.oneOf("overflowPolicy", o.overflowPolicy, POLICIES)
  c.boolean("strict", o.strict)
  return result(c)
}

/** @internal A pool's config (its `connectOptions` included). */
export const pool = (config: unknown): InvalidOptionsError | undefined => {
  const c = new Checker()
  const o = asRecord(config)
  if (o.baseUrl !== undefined && typeof o.baseUrl !== "string") c.add("baseUrl", `must be a string, got ${show(o.baseUrl)}`)
  c.integer("maxConnections", o.maxConnections, 1)
  c.duration("maxIdleTime", o.maxIdleTime, true)
  if (o.healthCheckInterval !== false) c.duration("healthCheckInterval", o.healthCheckInterval)
  c.duration("healthCheckTimeout", o.healthCheckTimeout)
  c.duration("acquireTimeout", o.acquireTimeout, true)
  const connect = client(o.connectOptions, "connectOptions.")
  return connect === undefined ? result(c) : new InvalidOptionsError({ problems: [...c.problems, ...connect.problems] })
}

/** @internal A per-call timeout (`recv`, `request`, `ping`, `acquire`): `undefined` when valid or absent. */
export const timeout = (option: string, input: unknown, allowInfinite = false): InvalidOptionsError | undefined => {
  if (input === undefined) return undefined
  const c = new Checker()
  c.duration(option, input, allowInfinite)
  return result(c)
}

/**
 * @internal Dies with the error when there is one: invalid options are a
 * defect (a bug in the calling code, like a wrong argument), the one rule for
 * every entry point, whose signatures (`JetSocket.make`, `ConnectionPool.layer`:
 * no error channel) stay as they are. The defect is the `InvalidOptionsError`
 * itself, so `Cause.dieOption` + `isInvalidOptionsError` finds it, and the
 * Promise API rejects with it.
 */
export const check = (error: InvalidOptionsError | undefined): Effect.Effect<void> =>
  error === undefined ? Effect.void : Effect.die(error)
