import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as PubSub from "effect/PubSub"
import * as Runtime from "effect/Runtime"
import { InvalidStateError, type JetSocketError } from "../../JetSocketError.js"
import type { Client } from "../client.js"
import * as Lifecycle from "./lifecycle.js"

/**
 * Endings, one verb each: a connection *ends* (`Conn.end`: why is recorded
 * once, and the supervisor waiting on it takes over), the client closes one
 * on purpose (`Connect.closeConnection`: the close handshake, then its socket
 * released), the client *fails* (`fail`: fatal error or exhausted schedule)
 * or is *closed* (`close`).
 */

/**
 * The client is over for good: a fatal error, an exhausted schedule, or a
 * supervisor that died. Run by the supervisor as it ends (its sockets are
 * released by then: they live in its scope). `Failed` settles `ready`,
 * `messages` and pending requests with `error`. Nothing when the client is
 * already closing (`close` won the race: it settles them).
 */
export const fail = (client: Client<any>, error: JetSocketError): Effect.Effect<void> =>
  Lifecycle.transition(client, (from) => (Lifecycle.isAllowed(from._tag, "Failed") ? { _tag: "Failed", error } : undefined))

/**
 * Closes the client (idempotent; a second call waits for the first): the
 * supervisor interrupted and awaited (its scope closes the sockets still
 * open with `code`), waiting requests and `ready` failed, the messages
 * ended (unless the client failed: they keep its error), `Closed`, the
 * events hub shut. Never fails, never interrupted halfway.
 *
 * The closing runs in a fiber of its own (in the user's runtime) and the
 * caller waits for it: the caller may be the supervisor itself (a connect
 * hook, `onReplay`, the url Effect), which the closing interrupts — that
 * caller is interrupted, the closing goes on. A caller that stops waiting
 * (a timeout) does not stop the closing.
 */
export const close = (client: Client<any>, code = 1000, reason = ""): Effect.Effect<void> =>
  Effect.suspend(() => {
    // The check and the claim in one step of `transition`: of two closes, one moves to `Closing`.
    let claimed: Lifecycle.Closing | undefined
    const claim = Lifecycle.transition(client, (from) =>
      from._tag === "Closing" || from._tag === "Closed"
        ? undefined
        : (claimed = { _tag: "Closing", done: Deferred.unsafeMake<void>(FiberId.none), failure: Lifecycle.failure(from), code, reason }))
    return Effect.flatMap(claim, () => {
      if (claimed === undefined) {
        const state = client.lifecycle
        return state._tag === "Closing" ? Deferred.await(state.done) : Effect.void
      }
      const done = claimed.done
      Runtime.runFork(client.env.runtime)(Effect.uninterruptible(closeNow(client, claimed)).pipe(
        Effect.ensuring(Deferred.succeed(done, undefined))
      ))
      return Deferred.await(done)
    })
  })

/** The steps of `close` once the state is `Closing`. */
const closeNow = (client: Client<any>, closing: Lifecycle.Closing): Effect.Effect<void> =>
  Effect.gen(function*() {
    // From here on nothing but this changes the lifecycle; the supervisor's scope closes its sockets.
    if (client.supervisor !== undefined) yield* Fiber.interrupt(client.supervisor)
    if (client.pending !== undefined) Lifecycle.failPending(client, new InvalidStateError({ state: "Closed", operation: "request" }))
    // Only a client closed before its first open has `ready` to fail (no error built otherwise).
    if (client.firstOpen === undefined) {
      Lifecycle.settleReady(client, Exit.fail(new InvalidStateError({ state: "Closed", operation: "connect" })))
    }
    if (closing.failure === undefined) client.buffer.end()
    yield* Lifecycle.transition(client, { _tag: "Closed", failure: closing.failure, code: closing.code, reason: closing.reason })
    const hub = client.pubsub
    client.pubsub = null
    if (hub !== undefined && hub !== null) yield* PubSub.shutdown(hub)
  })
