/**
 * Guards around the functions users hand to JetSocket (predicates, matchers,
 * keys, hooks, codecs, url/headers Effects, a custom Transport). A throw, or
 * a defect in the Effect a callback returns, becomes a `CallbackError`
 * naming the callback, in the error channel: never an exception thrown out of
 * a socket callback, never a dead fiber that leaves `ready` or `messages`
 * waiting forever.
 */
import * as Effect from "effect/Effect"
import { CallbackError } from "../JetSocketError.js"

/** @internal Calls `f`; a throw is returned as a `CallbackError` naming `callback`. */
export const call = <A>(callback: string, f: () => A): A | CallbackError => {
  try {
    return f()
  } catch (cause) {
    return new CallbackError({ callback, cause })
  }
}

/**
 * @internal Runs the Effect `f` returns; a throw while making it, or a
 * defect while running it, fails with a `CallbackError` naming `callback`.
 * Failures and interruption pass through unchanged.
 */
export const effect = <A, E, R>(callback: string, f: () => Effect.Effect<A, E, R>): Effect.Effect<A, E | CallbackError, R> =>
  Effect.suspend(f).pipe(Effect.catchAllDefect((cause) => Effect.fail(new CallbackError({ callback, cause }))))
