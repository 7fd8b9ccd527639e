import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import { ConnectionScope, releasing } from "./connectionScope.js"

/**
 * `acquireRelease` for a connection handshake, with two differences:
 * - the acquire stays interruptible, so `close()` or a connect timeout can
 *   abort a pending handshake (acquireRelease makes it uninterruptible);
 * - the finalizer is `release(a)` alone (see `releasing`). `acquireRelease` keeps the
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
      Effect.tap(restore(acquire), (a) =>
        // A connection's own scope keeps the release and the resource as they are (no closure).
        scope instanceof ConnectionScope
          ? scope.addRelease(release, a)
          : Scope.addFinalizerExit(scope, releasing(release, a)))
    ))
