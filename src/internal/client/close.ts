import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as PubSub from "effect/PubSub"
import * as Runtime from "effect/Runtime"
import { ConnectionTimeoutError, InvalidStateError, type JetSocketError } from "../../JetSocketError.js"
import { JetSocketEvent } from "../../JetSocketEvent.js"
import type { Client } from "../client.js"
import type { Conn } from "./conn.js"
import * as Connect from "./connect.js"
import * as Lifecycle from "./lifecycle.js"

/**
 * Endings, one verb each: a connection *ends* (`Conn.end`: why is recorded
 * once; `Reconnect.connectionEnded` when it ends by itself), the client
 * *closes* one on purpose (`closeConnection`: the close handshake, then its
 * socket released), the client *fails* (`fail`: fatal error or exhausted
 * schedule) or is *closed* (`close`).
 */

/** Closes a connection gracefully and waits for it; never fails. */
export const closeConnection = (client: Client<any>, conn: Conn, code: number, reason: string): Effect.Effect<void> =>
  Effect.suspend(() => {
    conn.closing = true
    const connection = conn.connection
    // Reading paused by backpressure (or holding) would leave the peer's close frame unread behind
    // the backlog until `closeTimeout`: read again, so the handshake completes within a round trip.
    connection?.resume()
    const timeout = client.closeTimeout
    const close = connection === undefined ? Effect.succeed(true) : connection.close(code, reason, timeout)
    return close.pipe(
      // The peer never answered within `closeTimeout` (the transport dropped the socket): `close` still
      // succeeds (the socket is gone), and the timeout is reported, as docs/errors.md says.
      Effect.tap((answered) => {
        if (answered) return
        const error = new ConnectionTimeoutError({ operation: "close", timeout, url: conn.url })
        client.publish(JetSocketEvent.Error({ timestamp: client.now(), error, fatal: false }))
      }),
      // Even when interrupted mid-handshake: the socket must not outlive the client.
      Effect.ensuring(Connect.releaseSocket(client, conn)),
      // Usually the transport reported the end already: build the error (and its stack) only when not.
      Effect.ensuring(Effect.sync(() => {
        if (conn.endedWith === undefined) conn.end(new InvalidStateError({ state: "Closed", operation: "receive" }))
      }))
    )
  })

/**
 * The connection is over for good: fatal error, exhausted schedule, or a
 * connecting fiber that died. A socket still open (the fiber died with it
 * current or being set up) is closed with 1011: none outlives the client.
 */
export const fail = (client: Client<any>, error: JetSocketError): Effect.Effect<void> =>
  Effect.suspend(() => {
    const sockets = [client.current, client.opening].filter((conn) => conn !== undefined)
    client.current = undefined
    return Lifecycle.transition(client, { _tag: "Failed", error }).pipe(
      Effect.zipRight(Effect.forEach(sockets, (conn) =>
        conn.endedWith === undefined
          ? closeConnection(client, conn, 1011, "internal error")
          : Connect.releaseSocket(client, conn), { discard: true }))
    )
  })

/**
 * Closes the client (idempotent; a second call waits for the first): the
 * connecting fiber interrupted, the current connection and one being set up
 * closed with `code`, waiting requests and `ready` failed, the messages
 * ended (unless the client failed: they keep its error), `Closed`, the
 * events hub shut. Never fails, never interrupted halfway.
 *
 * The closing runs in a fiber of its own (in the user's runtime) and the
 * caller waits for it: the caller may be the connecting fiber itself (a
 * connect hook, `onReplay`, the url Effect), which the closing interrupts —
 * that caller is interrupted, the closing goes on. A caller that stops
 * waiting (a timeout) does not stop the closing.
 */
export const close = (client: Client<any>, code = 1000, reason = ""): Effect.Effect<void> =>
  Effect.suspend(() => {
    // The check and the claim in one step of `transition`: of two closes, one moves to `Closing`.
    let claimed: Lifecycle.Closing | undefined
    const claim = Lifecycle.transition(client, (from) =>
      from._tag === "Closing" || from._tag === "Closed"
        ? undefined
        : (claimed = { _tag: "Closing", done: Deferred.unsafeMake<void>(FiberId.none), failure: Lifecycle.failure(from) }))
    return Effect.flatMap(claim, () => {
      if (claimed === undefined) {
        const state = client.lifecycle
        return state._tag === "Closing" ? Deferred.await(state.done) : Effect.void
      }
      const done = claimed.done
      Runtime.runFork(client.env.runtime)(Effect.uninterruptible(closeNow(client, claimed.failure, code, reason)).pipe(
        Effect.ensuring(Deferred.succeed(done, undefined))
      ))
      return Deferred.await(done)
    })
  })

/** The steps of `close` once the state is `Closing`. */
const closeNow = (
  client: Client<any>,
  failure: JetSocketError | undefined,
  code: number,
  reason: string
): Effect.Effect<void> =>
  Effect.gen(function*() {
    // The connecting fiber first: from here on nothing but this changes the lifecycle.
    if (client.connecting !== undefined) yield* Fiber.interrupt(client.connecting)
    const conn = client.current
    client.current = undefined
    if (conn !== undefined) yield* closeConnection(client, conn, code, reason)
    // A connection the interrupted fiber was opening or setting up (hooks, replay, rotation).
    const opening = client.opening
    if (opening !== undefined) yield* closeConnection(client, opening, code, reason)
    if (client.pending !== undefined) Lifecycle.failPending(client, new InvalidStateError({ state: "Closed", operation: "request" }))
    // Only a client closed before its first open has `ready` to fail (no error built otherwise).
    if (!Exit.isExit(client.firstOpen)) {
      Lifecycle.settleFirstOpen(client, Exit.fail(new InvalidStateError({ state: "Closed", operation: "connect" })))
    }
    if (failure === undefined) client.buffer.end()
    yield* Lifecycle.transition(client, { _tag: "Closed", failure, code, reason })
    const hub = client.pubsub
    client.pubsub = null
    if (hub !== undefined && hub !== null) yield* PubSub.shutdown(hub)
  })
