import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Heartbeat from "../../Heartbeat.js"
import { ConnectionTimeoutError, InvalidMessageError, InvalidStateError, type JetSocketError } from "../../JetSocketError.js"
import { JetSocketEvent } from "../../JetSocketEvent.js"
import type { Client } from "../client.js"
import * as Codec from "../codec.js"
import { afterIo } from "../defer.js"
import { metricsOf } from "../metrics.js"
import * as Options from "../options.js"
import type { Conn } from "./conn.js"
import * as Outbound from "./outbound.js"
import * as Stats from "./stats.js"

/**
 * Liveness: the heartbeat's steps on the shared ticker (ping, then judge at
 * the pong's deadline), pongs (latency), and the user's `ping()`.
 */

/** @internal A pong arrived (via `Conn`). */
export const onPong = (client: Client<any>, conn: Conn): void => {
  const sentAt = conn.pingSentAt
  if (sentAt === undefined) return
  conn.pingSentAt = undefined
  const latency = Duration.nanos(client.env.clock.unsafeCurrentTimeNanos() - sentAt)
  Stats.latencies(client).record(latency)
  metricsOf(client).latency(latency)
  const waiters = conn.pongWaiters
  conn.pongWaiters = undefined
  if (waiters !== undefined) for (const waiter of waiters) Deferred.unsafeDone(waiter, Exit.void)
  if (conn.awaitingPong) {
    conn.awaitingPong = false
    if (conn.heartbeat && conn.endedWith === undefined) {
      client.env.ticker.schedule(conn, Duration.toMillis(client.heartbeat!.interval))
    }
  }
  client.publish(JetSocketEvent.Pong({ timestamp: client.now(), latency }))
}

/** The user's `ping()`: a ping now, its round trip when the next pong arrives (or a timeout). */
export const pingOnce = (client: Client<any>, options?: { readonly timeout?: Duration.DurationInput }): Effect.Effect<Duration.Duration, JetSocketError> =>
  Effect.suspend((): Effect.Effect<Duration.Duration, JetSocketError> => {
    const conn = client.current
    if (conn === undefined || !conn.connection!.isOpen()) {
      return Effect.fail(new InvalidStateError({ state: client.stateNow, operation: "ping" }))
    }
    const invalid = Options.timeout("ping timeout", options?.timeout)
    if (invalid !== undefined) return Effect.die(invalid)
    const timeout = Duration.decode(options?.timeout ?? client.heartbeat?.timeout ?? Heartbeat.defaults.timeout)
    const started = client.env.clock.unsafeCurrentTimeNanos()
    const waiter = Deferred.unsafeMake<void, JetSocketError>(FiberId.none)
    ;(conn.pongWaiters ??= []).push(waiter)
    sendPing(client, conn)
    return Deferred.await(waiter).pipe(
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () => new ConnectionTimeoutError({ operation: "pong", timeout, url: conn.url })
      }),
      Effect.map(() => Duration.nanos(client.env.clock.unsafeCurrentTimeNanos() - started)),
      // Timed out or interrupted: the connection must not keep the waiter (a pong or the end empties the list).
      Effect.ensuring(Effect.sync(() => {
        const waiters = conn.pongWaiters
        const index = waiters === undefined ? -1 : waiters.indexOf(waiter)
        if (index >= 0) waiters!.splice(index, 1)
      }))
    )
  })

/** Sends a ping frame (or the application ping payload) and notes when. */
export const sendPing = (client: Client<any>, conn: Conn): void => {
  conn.pingSentAt ??= client.env.clock.unsafeCurrentTimeNanos()
  const application = client.heartbeat?.application
  const connection = conn.connection!
  if (application === undefined && connection.canPing) {
    connection.ping()
  } else if (application !== undefined) {
    const frame = Codec.fromOption("json").encode(application.payload)
    if (!(frame instanceof InvalidMessageError) && connection.isOpen()) Outbound.write(client, conn, frame, false)
  }
  client.publish(JetSocketEvent.Ping({ timestamp: client.now() }))
}

/**
 * @internal One heartbeat step, run by the ticker: send a ping (the next step is the
 * pong's deadline), or, at the deadline, judge. A pong reschedules the next
 * ping (see `onPong`).
 */
export const beat = (client: Client<any>, conn: Conn): void => {
  const config = client.heartbeat!
  if (conn.endedWith !== undefined) return
  if (!conn.awaitingPong) {
    Stats.flushMetrics(client)
    conn.awaitingPong = true
    conn.pausesAtPing = client.bufferPauses
    sendPing(client, conn)
    client.env.ticker.schedule(conn, Duration.toMillis(config.timeout))
    return
  }
  // The deadline passed; let pending socket input (a pong that arrived while
  // the event loop was blocked) be processed before judging.
  afterIo(() => {
    if (conn.endedWith !== undefined || !conn.awaitingPong) return
    // Backpressure paused reading meanwhile: the pong may be queued unread
    // behind the backlog, so its absence proves nothing.
    if (client.bufferPaused || client.bufferPauses !== conn.pausesAtPing) {
      conn.awaitingPong = false
      conn.pingSentAt = undefined
      client.env.ticker.schedule(conn, Duration.toMillis(config.interval))
      return
    }
    const error = new ConnectionTimeoutError({ operation: "pong", timeout: config.timeout, url: conn.url })
    client.publish(JetSocketEvent.Error({ timestamp: client.now(), error, fatal: false }))
    conn.end(error)
  })
}
