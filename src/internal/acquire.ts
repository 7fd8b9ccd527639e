import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import { addRelease } from "./connectionScope.js"

/**
 * `acquireRelease` for a connection handshake, with two differences:
 * - the acquire stays interruptible, so `close()` or a connect timeout can
 *   abort a pending handshake (acquireRelease makes it uninterruptible);
 * - the finalizer is `release(a)` alone (see `addRelease`). `acquireRelease` keeps the
 *   acquiring fiber's FiberRefs (current span, runtime…) alive with the
 *   finalizer for the scope's whole life: per open connection, that is more
 *   memory than the socket itself.
 *
 * @internal
 */
export const acquireInterruptible = <A, E, R>(
  acquire: Effect.Effect<A, E, R>,
  release: (a: A) => Effect.Effect<void>
): Effect.Effect<A, E, R | Scope.Scope> =>
  Effect.flatMap(Effect.scope, (scope) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.tap(restore(acquire), (a) => addRelease(scope, release, a))
    ))
