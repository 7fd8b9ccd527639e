import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"

/**
 * `acquireRelease` for a connection handshake, with two differences:
 * - the acquire stays interruptible, so `close()` or a connect timeout can
 *   abort a pending handshake (acquireRelease makes it uninterruptible);
 * - the finalizer is added to the scope as is. `acquireRelease` keeps the
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
      Effect.tap(restore(acquire), (a) => Scope.addFinalizer(scope, finalizer(release, a)))
    ))

/** Top level, so the finalizer's closure holds `release` and `a` only (not the acquire and its inputs). */
const finalizer = <A>(release: (a: A) => Effect.Effect<void>, a: A): Effect.Effect<void> =>
  Effect.suspend(() => release(a))
