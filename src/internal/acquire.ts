import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"

/**
 * `acquireRelease` for a connection handshake, with two differences:
 * - the acquire stays interruptible, so `close()` or a connect timeout can
 *   abort a pending handshake (acquireRelease makes it uninterruptible);
 * - the finalizer is a plain function of `a`: `acquireRelease` keeps the
 *   acquiring fiber's FiberRefs (current span, runtime…) alive with the
 *   finalizer for the scope's whole life, per open connection more memory
 *   than the socket itself (docs/performance.md). The finalizer's argument
 *   (the close's exit) is ignored.
 *
 * The finalizer goes into the scope through `Scope.addFinalizerExit`: any
 * `Scope` works (Effect's own, a user's), and nothing here depends on how
 * Effect lays a scope out.
 *
 * @internal
 */
export const acquireInterruptible = <A, E, R>(
  acquire: Effect.Effect<A, E, R>,
  release: (a: A) => Effect.Effect<void>
): Effect.Effect<A, E, R | Scope.Scope> =>
  Effect.flatMap(Effect.scope, (scope) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.tap(restore(acquire), (a) => Scope.addFinalizerExit(scope, () => release(a)))
    ))

