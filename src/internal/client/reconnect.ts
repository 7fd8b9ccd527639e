import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Backoff from "../../Backoff.js"
import { CallbackError, type JetSocketError } from "../../JetSocketError.js"
import { JetSocketEvent } from "../../JetSocketEvent.js"
import type { Client } from "../client.js"
import * as Guard from "../guard.js"
import type { Conn } from "./conn.js"
import * as Connect from "./connect.js"
import * as Lifecycle from "./lifecycle.js"
import * as Outbound from "./outbound.js"

/**
 * The reconnect policy: attempts under the reconnect schedule, the handling
 * of a drop, flap protection. The supervisor (supervisor.ts) runs these.
 */

/**
 * The reconnect policy and its schedule's driver, a value of the supervisor
 * kept across outages (a flapping connection keeps stepping the same
 * schedule; a stable one resets it). The schedule is built on the first
 * failure: most clients never need one.
 *
 * @internal
 */
export class Retry {
  private policyMade: Backoff.ReconnectPolicy | undefined
  private driverMade: Schedule.ScheduleDriver<unknown, JetSocketError> | undefined
  constructor(private readonly client: Client<any>) {}

  get policy(): Backoff.ReconnectPolicy {
    return this.policyMade ??= Backoff.policy(this.client.options.reconnect)
  }

  /**
   * The driver of the reconnect schedule: the policy's schedule, tapped so
   * that each decision to go on enters `BackingOff` with the actual delay
   * (publishing `Reconnecting { attempt, delay }`) before the driver sleeps it.
   */
  get driver(): Effect.Effect<Schedule.ScheduleDriver<unknown, JetSocketError>> {
    if (this.driverMade !== undefined) return Effect.succeed(this.driverMade)
    const client = this.client
    const schedule = this.policy.schedule.pipe(
      Schedule.delays,
      Schedule.onDecision((delay, decision) =>
        ScheduleDecision.isDone(decision) ? Effect.void : Lifecycle.transition(client, (from) => ({
          _tag: "BackingOff",
          attempt: Lifecycle.nextAttempt(from),
          delay: Duration.max(delay, Duration.zero)
        }))
      )
    )
    return Effect.map(Schedule.driver(schedule), (driver) => (this.driverMade = driver))
  }

  /** A stable connection dropped: the next outage starts the schedule afresh. */
  get reset(): Effect.Effect<void> {
    return this.driverMade === undefined ? Effect.void : this.driverMade.reset
  }
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
export const backOff = (client: Client<any>, retry: Retry, error: JetSocketError): Effect.Effect<void, JetSocketError> =>
  Effect.suspend(() => {
    const final = notRetriable(client, error)
    if (final !== undefined) return Effect.fail(final)
    client.publish(JetSocketEvent.Error({ timestamp: client.now(), error, fatal: false }))
    return Effect.flatMap(retry.driver, (driver) => Effect.mapError(driver.next(error), () => error))
  })

/**
 * Connects: one attempt, retried under the reconnect schedule while the
 * error is retriable — `Effect.retry`'s loop over a driver that outlives
 * the outage (`Effect.retry` would start each outage with a fresh
 * schedule, and flap protection needs the same one stepped on).
 */
export const connectWithRetry = (client: Client<any>, scope: Scope.Scope, retry: Retry, outage: Lifecycle.Outage): Effect.Effect<Connect.SetUp, JetSocketError> =>
  Effect.catchAll(connectOnce(client, scope, outage), (error) =>
    Effect.zipRight(backOff(client, retry, error), Effect.suspend(() => connectWithRetry(client, scope, retry, outage))))

/** One attempt: open a connection, then set it up (hooks, replay). Its number follows the state (`Lifecycle.nextAttempt`). */
export const connectOnce = (client: Client<any>, scope: Scope.Scope, outage: Lifecycle.Outage): Effect.Effect<Connect.SetUp, JetSocketError> =>
  Effect.gen(function*() {
    const attempt = Lifecycle.nextAttempt(client.lifecycle)
    yield* Lifecycle.transition(client, { _tag: "Connecting", attempt, ...outage })
    const conn = yield* Connect.open(client, scope, attempt)
    const activated = yield* Effect.either(Connect.activate(client, conn, outage.reconnect))
    if (activated._tag === "Left") {
      // The peer is told: a close frame with 1011 (the client met an unexpected condition), not a TCP reset.
      conn.end(activated.left)
      yield* Connect.closeConnection(client, conn, 1011, "connection set-up failed")
      return yield* Effect.fail(activated.left)
    }
    return activated.right
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
 * A connection that was up ended: report it (`Dropped`), re-queue what it
 * never confirmed, then go on at once (it was stable: a fresh schedule) or
 * after backing off (it flapped: the same schedule steps on). Succeeds with
 * the outage it started; fails when the client may not reconnect.
 */
export const afterDrop = (client: Client<any>, retry: Retry, last: Conn, ended: JetSocketError): Effect.Effect<Lifecycle.Outage, JetSocketError> =>
  Effect.gen(function*() {
    yield* Connect.releaseSocket(last)
    const droppedAt = client.now()
    const unconfirmed = last.unconfirmed()
    if (unconfirmed.length > 0) Outbound.sendQueue(client).requeue(unconfirmed)
    // A reply can only come on the connection the request went out on: fail at once, not at its timeout.
    pendingAfterDrop(client, ended)
    const code = ended._tag === "ConnectionClosedError" ? ended.code : ended._tag === "InvalidFrameError" ? ended.closeCode : 1006
    const reason = ended._tag === "ConnectionClosedError" ? ended.reason : ended.message
    yield* Lifecycle.transition(client, { _tag: "Dropped", error: ended, code, reason })
    const outage: Lifecycle.Outage = { reconnect: true, since: client.now() }
    if (outage.since - last.openedAt >= Duration.toMillis(retry.policy.resetAfter) && notRetriable(client, ended) === undefined) {
      // A stable connection: this outage starts afresh, and reconnects at once.
      yield* retry.reset
      client.publish(JetSocketEvent.Error({ timestamp: droppedAt, error: ended, fatal: false }))
      return outage
    }
    yield* backOff(client, retry, ended)
    return outage
  })
