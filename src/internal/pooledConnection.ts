import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as JetSocket from "../JetSocket.js"

/**
 * One pooled connection: its URL, its client and the scope it was opened in.
 * It counts against `maxConnections` from its slot's grant until its close
 * has finished (`status` "closing" until then).
 *
 * @internal
 */
export class PooledConnection {
  status: "active" | "idle" | "closing" = "active"
  idleSince = 0
  /** While idle: the fiber that pings it and expires it (see `idleLife`). */
  idleFiber: Fiber.RuntimeFiber<void, never> | undefined
  constructor(
    readonly id: number,
    readonly url: string,
    readonly client: JetSocket.JetSocket<any>,
    readonly scope: Scope.CloseableScope
  ) {}
}

/**
 * Discards what a previous borrower left unread, so each lease starts clean,
 * and never waits for more: each read has a zero timeout, so a read that
 * cannot complete at once (nothing left, or only frames the client skips,
 * such as undecodable ones under `strict: false`) ends the drain. At most
 * `bufferSize` reads, each of which takes at least one queued frame.
 *
 * @internal
 */
export const drain = (client: JetSocket.JetSocket<any>): Effect.Effect<void> =>
  Effect.flatMap(client.stats, (stats) => {
    const step = (left: number): Effect.Effect<void> =>
      // The read is interruptible even inside the acquire's uninterruptible region: the zero
      // timeout must be able to stop it.
      left === 0 ? Effect.void : Effect.timeoutOption(Effect.interruptible(Effect.either(client.recv())), Duration.zero).pipe(
        Effect.flatMap((read) => Option.isNone(read) ? Effect.void : step(left - 1))
      )
    return step(stats.bufferSize)
  })
