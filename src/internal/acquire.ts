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
      Effect.tap(restore(acquire), (a) => Scope.addFinalizerExit(scope, releasing(release, a)))
    ))

/**
 * The finalizer: one closure whose context is `release` and `a` only (a closure
 * made inline would keep the acquire and its inputs alive with the resource).
 * `Scope.addFinalizer` would wrap a ready-made release Effect in a closure of
 * its own: two closures, their contexts and the Effect per resource instead.
 */
const releasing = <A>(release: (a: A) => Effect.Effect<void>, a: A): Scope.Scope.Finalizer => () => release(a)
