import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { InvalidStateError, type JetSocketError } from "../../JetSocketError.js"
import type { Client } from "../client.js"
import * as Guard from "../guard.js"
import * as Close from "./close.js"
import type { Conn } from "./conn.js"
import * as Connect from "./connect.js"
import * as Lifecycle from "./lifecycle.js"
import * as Outbound from "./outbound.js"
import * as Reconnect from "./reconnect.js"

/**
 * The client's life: one fiber, the supervisor, forked by `make` in the
 * user's runtime and interrupted (and awaited) by `close`. Its loop:
 *
 *     connect (attempts under the reconnect schedule) → Up
 *     loop:
 *       wait until the connection ends, or is due for rotation
 *       due   → rotate it (make-before-break): Up → Up with the replacement
 *       ended → Dropped, re-queue, back off or not → connect → Up
 *
 * It ends in three ways: interrupted by `close` (the state is `Closing`; the
 * sockets still open are closed by their scopes' finalizers with `close`'s
 * code, since they live in the supervisor's scope), failed (a fatal error
 * or an exhausted schedule: `Failed`), or died (a bug of ours: `Failed` too,
 * with an `InvalidStateError` carrying the defect).
 *
 * What it keeps across connections lives here, in its own scope and
 * locals: the reconnect schedule's driver, the outage being repaired, when
 * the connection in use is due for rotation. The client object holds only
 * the lifecycle (the state), the configuration and the data plane's fields.
 *
 * @internal
 */
export const run = (client: Client<any>): Effect.Effect<void> =>
  Effect.flatMap(Scope.make(), (scope) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.catchAllCause(restore(loop(client, scope)), (cause) =>
        // Its sockets first (closed with `close`'s code, or 1011), then why it ended.
        Effect.zipRight(Scope.close(scope, Exit.failCause(cause)), ended(client, cause)))))

/** The loop; `scope` holds the sockets it opens. It never succeeds: it is interrupted, fails or dies. */
const loop = (client: Client<any>, scope: Scope.Scope): Effect.Effect<never, JetSocketError> =>
  Effect.gen(function*() {
    const retry = new Reconnect.Retry(client)
    const first = yield* Reconnect.connectWithRetry(client, scope, retry, { reconnect: false, since: client.now() })
    yield* Connect.goUp(client, first)
    let conn = first.conn
    let rotateAt = rotationDue(client, conn)
    while (true) {
      const ended = rotateAt === undefined ? Option.some(yield* conn.ended) : yield* endedBefore(client, conn, rotateAt)
      if (Option.isNone(ended)) {
        // Due for rotation: the replacement takes over, or the one in use goes on and is tried again later.
        const rotated = yield* Effect.either(rotate(client, scope, conn))
        if (rotated._tag === "Right") {
          conn = rotated.right
          rotateAt = rotationDue(client, conn)
        } else {
          rotateAt = client.now() + Math.min(Duration.toMillis(client.maxAge!), 30_000)
        }
        continue
      }
      const outage = yield* Reconnect.afterDrop(client, retry, conn, ended.value)
      const next = yield* Reconnect.connectWithRetry(client, scope, retry, outage)
      yield* Connect.goUp(client, next)
      conn = next.conn
      rotateAt = rotationDue(client, conn)
    }
  })

/**
 * How the supervisor ended: interrupted (by `close`: nothing to do), failed
 * (a fatal error, an exhausted schedule) or died (a bug: user callbacks are
 * guarded) — `Failed` either way, which settles `ready`, `messages` and
 * pending requests.
 */
const ended = (client: Client<any>, cause: Cause.Cause<JetSocketError>): Effect.Effect<void> => {
  if (Cause.isInterruptedOnly(cause)) return Effect.void
  const error = Option.getOrElse(
    Cause.failureOption(cause),
    (): JetSocketError => new InvalidStateError({ state: client.stateNow, operation: "connect", cause: Cause.squash(cause) })
  )
  return Close.fail(client, error)
}

/** When `conn` is due for rotation, (`Client.now`; `undefined`: never, no `maxConnectionAge`). */
const rotationDue = (client: Client<any>, conn: Conn): number | undefined => {
  const maxAge = client.maxAge
  return maxAge === undefined ? undefined : conn.openedAt + Duration.toMillis(maxAge)
}

/** Why `conn` ended, or `None` when `at` came first. */
const endedBefore = (client: Client<any>, conn: Conn, at: number): Effect.Effect<Option.Option<JetSocketError>> => {
  const ended = Effect.map(conn.ended, Option.some)
  const wait = Duration.millis(Math.max(0, at - client.now()))
  return Effect.raceFirst(ended, Effect.as(Effect.sleep(wait), Option.none()))
}

/**
 * Make-before-break: open the replacement and run the connect hooks on it,
 * switch sends over (`Up → Up`), close the old one (what it still delivers
 * comes first), re-send what it never confirmed, then deliver the
 * replacement's messages. A refused replacement is closed; the old one stays.
 */
export const rotate = (client: Client<any>, scope: Scope.Scope, old: Conn): Effect.Effect<Conn, JetSocketError> =>
  Effect.gen(function*() {
    const fresh = yield* Connect.open(client, scope, 0)
    const context = Connect.directContext(client, fresh, true)
    const hooked = yield* Effect.either(
      Effect.forEach(client.hooks ?? [], (hook) => Guard.effect("onConnect hook", () => hook(context)), { discard: true })
    )
    if (hooked._tag === "Left") {
      yield* Connect.closeConnection(client, fresh, 1000, "rotation failed")
      return yield* Effect.fail(hooked.left)
    }
    // Sends go to the new socket from now on; the old one finishes its close handshake.
    yield* Lifecycle.transition(client, { _tag: "Up", conn: fresh })
    yield* Connect.closeConnection(client, old, 1000, "connection rotated")
    for (const frame of old.unconfirmed()) Outbound.write(client, fresh, frame)
    Connect.goLive(client, fresh)
    return fresh
  })
