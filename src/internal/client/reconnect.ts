import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Backoff from "../../Backoff.js"
import { CallbackError, InvalidStateError, type JetSocketError } from "../../JetSocketError.js"
import { JetSocketEvent } from "../../JetSocketEvent.js"
import type { Client } from "../client.js"
import * as Guard from "../guard.js"
import type { Conn } from "./conn.js"
import * as Close from "./close.js"
import * as Connect from "./connect.js"
import * as Lifecycle from "./lifecycle.js"
import * as Outbound from "./outbound.js"

/**
 * The control plane, across connections: the connecting fiber (attempts
 * under the reconnect schedule, flap protection), the handling of a drop,
 * and rotation at `maxConnectionAge`.
 */

/**
 * The reconnect policy and its schedule's driver, kept across outages (a
 * flapping connection keeps stepping the same schedule; a stable one resets
 * it). Made on the first failure: a Schedule is a chain of closures, and most
 * clients never need one.
 *
 * @internal
 */
export interface Retry {
  readonly policy: Backoff.ReconnectPolicy
  /** Made by the first failure's step (an Effect: it holds a `Ref`). */
  driver: Schedule.ScheduleDriver<unknown, JetSocketError> | undefined
}

/** The reconnect policy and its driver, made on the first failure. */
export const retryOf = (client: Client<any>): Retry =>
  client.retryState ??= { policy: Backoff.policy(client.options.reconnect), driver: undefined }

/**
 * The driver of the reconnect schedule: the policy's schedule, tapped so
 * that each decision to go on enters `BackingOff` with the actual delay
 * (publishing `Reconnecting { attempt, delay }`) before the driver sleeps it.
 */
export const driverOf = (client: Client<any>): Effect.Effect<Schedule.ScheduleDriver<unknown, JetSocketError>> => {
  const retry = retryOf(client)
  if (retry.driver !== undefined) return Effect.succeed(retry.driver)
  const schedule = retry.policy.schedule.pipe(
    Schedule.delays,
    Schedule.onDecision((delay, decision) =>
      ScheduleDecision.isDone(decision)
        ? Effect.void
        : Lifecycle.transition(client, { _tag: "BackingOff", attempt: client.attempts + 1, delay: Duration.max(delay, Duration.zero) })
    )
  )
  return Effect.map(Schedule.driver(schedule), (driver) => (retry.driver = driver))
}

/**
 * The error that ends the client when `error` is fatal (built in, or by
 * `shouldReconnect`), else `undefined`. A `shouldReconnect` that throws ends
 * the client with a `CallbackError` naming it.
 */
export const fatalError = (client: Client<any>, error: JetSocketError): JetSocketError | undefined => {
  if (error.fatal) return error
  const predicate = client.options.shouldReconnect
  if (predicate === undefined) return undefined
  const verdict = Guard.call("shouldReconnect", () => predicate(error))
  return verdict instanceof CallbackError ? verdict : verdict ? undefined : error
}

/**
 * Starts the connecting fiber — from `make`, or from a transport callback (a
 * drop) where there is no fiber to fork from: with the runtime captured from
 * the user's fiber that made the client (its context, supervisor, logger,
 * tracer and clock), and in a child of the scope the client was made in, so
 * that scope's end interrupts it; `close` interrupts it first. The child scope
 * exists only while the fiber runs: an idle client holds neither (a fiber or a
 * `FiberSet` per idle client would break the memory budget: docs/performance.md,
 * "A fiber per idle client").
 */
export const startConnecting = (client: Client<any>, effect: Effect.Effect<void>): void => {
  const fiber = Runtime.runFork(client.env.runtime)(effect, { immediate: false, scope: client.scope })
  client.connecting = fiber
  // A finished fiber holds its whole state: let it go.
  fiber.addObserver((exit) => {
    if (client.connecting === fiber) client.connecting = undefined
    // It died (a bug, not a user callback: those are guarded): settle `ready`, `messages` and
    // pending requests rather than leave them waiting forever — from the states it can die in.
    if (
      Exit.isFailure(exit) && !Exit.isInterrupted(exit) && !client.isEnding() &&
      Lifecycle.isAllowed(client.lifecycle._tag, "Failed")
    ) {
      const error = new InvalidStateError({ state: client.stateNow, operation: "connect", cause: Cause.squash(exit.cause) })
      Runtime.runFork(client.env.runtime)(Close.fail(client, error))
    }
  })
}

/**
 * @internal A connection ended by itself (a transport callback, a failed
 * heartbeat, an overflow or a throwing callback on the receive path): why is
 * recorded once, and a connection that was up with no fiber waiting on it
 * starts the connecting fiber here.
 */
export const connectionEnded = (client: Client<any>, conn: Conn | undefined, error: JetSocketError): void => {
  if (conn === undefined || !conn.end(error)) return
  if (conn.unattended) {
    conn.unattended = false
    if (!conn.closing && !client.isEnding()) startConnecting(client, connectLoop(client, [conn, error]))
  }
}

/**
 * The retry's predicate (its `while`): `undefined` when the reconnect policy
 * may retry after `error`, else the error the client ends with.
 */
export const notRetriable = (client: Client<any>, error: JetSocketError): JetSocketError | undefined =>
  fatalError(client, error) ?? (client.reconnectEnabled ? undefined : error)

/**
 * After a failure (a failed attempt, or a drop that was not stable): one
 * step of the reconnect schedule's driver, which enters `BackingOff` and
 * sleeps the delay; fails with `error` when it is fatal or the schedule is
 * exhausted.
 */
export const backOff = (client: Client<any>, error: JetSocketError): Effect.Effect<void, JetSocketError> =>
  Effect.suspend(() => {
    const final = notRetriable(client, error)
    if (final !== undefined) return Effect.fail(final)
    client.publish(JetSocketEvent.Error({ timestamp: client.now(), error, fatal: false }))
    return Effect.flatMap(driverOf(client), (driver) => Effect.mapError(driver.next(error), () => error))
  })

/**
 * Connects: one attempt, retried under the reconnect schedule while the
 * error is retriable — `Effect.retry`'s loop over a driver that outlives
 * the outage (`Effect.retry` would start each outage with a fresh
 * schedule, and flap protection needs the same one stepped on).
 */
export const connectWithRetry = (client: Client<any>): Effect.Effect<Conn, JetSocketError> =>
  Effect.catchAll(connectOnce(client), (error) =>
    Effect.zipRight(backOff(client, error), Effect.suspend(() => connectWithRetry(client))))

/** One attempt: open a connection, then set it up (hooks, replay, flush). */
export const connectOnce = (client: Client<any>): Effect.Effect<Conn, JetSocketError> =>
  Effect.gen(function*() {
    client.attempts++
    yield* Lifecycle.transition(client, { _tag: "Connecting", attempt: client.attempts, reconnect: client.everConnected })
    const conn = yield* Connect.open(client, client.attempts)
    const activated = yield* Effect.either(Connect.activate(client, conn, client.everConnected))
    if (activated._tag === "Left") {
      conn.end(activated.left)
      yield* Connect.releaseSocket(client, conn)
      return yield* Effect.fail(activated.left)
    }
    return conn
  })

/** A drop: pending requests fail with its error, or (`resendOnReconnect`) go out again first on the next connection. */
export const pendingAfterDrop = (client: Client<any>, error: JetSocketError): void => {
  if (client.pending === undefined) return
  for (const request of client.pending) {
    if (request.resend !== undefined) {
      Outbound.sendQueue(client).requeue([new Outbound.QueuedRequest(request.resend, request)])
      continue
    }
    Deferred.unsafeDone(request.reply, Exit.fail(error))
    client.pending.delete(request)
  }
}

/**
 * A connection that was up ended: report it, re-queue what it never
 * confirmed, then reconnect at once (it was stable: a fresh schedule) or
 * back off (it flapped: the same schedule steps on). `false` when the
 * client is closing; fails when it may not reconnect.
 */
export const afterDrop = (client: Client<any>, last: Conn, ended: JetSocketError): Effect.Effect<boolean, JetSocketError> =>
  Effect.gen(function*() {
    yield* Connect.releaseSocket(client, last)
    if (client.isEnding()) return false
    const droppedAt = client.now()
    client.current = undefined
    const unconfirmed = last.unconfirmed()
    if (unconfirmed.length > 0) Outbound.sendQueue(client).requeue(unconfirmed)
    // A reply can only come on the connection the request went out on: fail at once, not at its timeout.
    pendingAfterDrop(client, ended)
    const code = ended._tag === "ConnectionClosedError" ? ended.code : ended._tag === "InvalidFrameError" ? ended.closeCode : 1006
    const reason = ended._tag === "ConnectionClosedError" ? ended.reason : ended.message
    yield* Lifecycle.transition(client, { _tag: "Dropped", error: ended, code, reason })
    client.outageStart = client.elapsed()
    client.attempts = 0
    const retry = retryOf(client)
    if (client.outageStart - last.openedAt >= Duration.toMillis(retry.policy.resetAfter) && notRetriable(client, ended) === undefined) {
      // A stable connection: this outage starts afresh, and reconnects at once.
      if (retry.driver !== undefined) yield* retry.driver.reset
      client.publish(JetSocketEvent.Error({ timestamp: droppedAt, error: ended, fatal: false }))
      return true
    }
    yield* backOff(client, ended)
    return true
  })

/**
 * The connecting fiber: attempts (backing off between them) until a
 * connection is up and set up, then ends. No fiber waits on a connection
 * that is up (an idle client holds no fiber): its end, a transport
 * callback, starts this again through `afterDrop`. With
 * `maxConnectionAge` the fiber stays, to rotate the connection in time.
 */
export const connectLoop = (client: Client<any>, drop?: readonly [Conn, JetSocketError]): Effect.Effect<void> =>
  Effect.gen(function*() {
    let dropped = drop
    while (true) {
      const up = yield* Effect.either(dropped === undefined ? connectWithRetry(client) : Effect.flatMap(
        afterDrop(client, dropped[0], dropped[1]),
        (reconnect) => reconnect ? connectWithRetry(client) : Effect.succeed(undefined)
      ))
      if (up._tag === "Left") return yield* Close.fail(client, up.left)
      const conn = up.right
      if (conn === undefined) return // closing
      yield* Lifecycle.transition(client, Lifecycle.up(conn))
      if (client.maxAge === undefined) {
        if (conn.endedWith === undefined) {
          conn.unattended = true
          return
        }
        dropped = [conn, conn.endedWith]
      } else {
        dropped = yield* rotateUntilEnd(client, conn)
      }
    }
  })

/** Waits for a connection to end, rotating it at `maxConnectionAge`. Returns why it ended. */
export const rotateUntilEnd = (client: Client<any>, conn: Conn): Effect.Effect<readonly [Conn, JetSocketError]> => {
  const maxAge = client.maxAge
  if (maxAge === undefined) return Effect.map(conn.ended, (error) => [conn, error] as const)
  return Effect.gen(function*() {
    let active = conn
    while (true) {
      const age = Duration.millis(client.elapsed() - active.openedAt)
      const aged = yield* endedWithin(active, Duration.max(Duration.zero, Duration.subtract(maxAge, age)))
      if (Option.isSome(aged)) return [active, aged.value] as const
      const rotated = yield* Effect.either(rotate(client, active))
      if (rotated._tag === "Right") {
        active = rotated.right
        continue
      }
      // The replacement was refused: try again later, still watching the connection in use.
      const ended = yield* endedWithin(active, Duration.min(maxAge, Duration.seconds(30)))
      if (Option.isSome(ended)) return [active, ended.value] as const
    }
  })
}

/** Why `conn` ended, if it ends within `duration`. */
const endedWithin = (conn: Conn, duration: Duration.Duration): Effect.Effect<Option.Option<JetSocketError>> =>
  conn.ended.pipe(Effect.map(Option.some), Effect.raceFirst(Effect.as(Effect.sleep(duration), Option.none())))

/** Make-before-break: open the replacement, set it up, switch sends over, close the old one, then deliver. */
export const rotate = (client: Client<any>, old: Conn): Effect.Effect<Conn, JetSocketError> =>
  Effect.gen(function*() {
    const fresh = yield* Connect.open(client, 0)
    const context = Connect.directContext(client, fresh, true)
    const hooked = yield* Effect.either(
      Effect.forEach(client.hooks ?? [], (hook) => Guard.effect("onConnect hook", () => hook(context)), { discard: true })
    )
    if (hooked._tag === "Left") {
      yield* Close.closeConnection(client, fresh, 1000, "rotation failed")
      return yield* Effect.fail(hooked.left)
    }
    // Sends go to the new socket from now on; the old one finishes its close handshake.
    client.current = fresh
    client.opening = undefined
    yield* Close.closeConnection(client, old, 1000, "connection rotated")
    for (const frame of old.unconfirmed()) Outbound.write(client, fresh, frame)
    Connect.goLive(client, fresh)
    yield* Lifecycle.transition(client, Lifecycle.up(fresh))
    return fresh
  })
