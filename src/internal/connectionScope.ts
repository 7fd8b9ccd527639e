import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import { pipeArguments } from "effect/Pipeable"
import * as Scope from "effect/Scope"

/** Effect's own layout of an open scope's state (what `Effect.forkIn` reads). */
interface OpenState {
  readonly _tag: "Open"
  readonly finalizers: Map<object, Scope.Scope.Finalizer>
}

/**
 * The scope one connection's socket lives in: a `Scope.CloseableScope` with
 * Effect's semantics for a sequential scope (finalizers run once, last added
 * first; a finalizer added after the close runs at once with the close's
 * exit; failures are combined), sized for what a connection holds — usually
 * the transport's one finalizer.
 *
 * `Scope.make` keeps its finalizers in a `Map` under a fresh key object each,
 * behind a state object: ~0.3 KiB per scope, per open connection, before the
 * first finalizer is added. Here a lone finalizer is a function and its
 * input (the close's exit, or, for a resource's release added by
 * {@link addRelease}, the resource: no closure); a second one moves them all
 * into Effect's own layout (`{ _tag, finalizers: Map }`). That layout is also
 * made when something reads `state`: Effect's `forkIn` (hence
 * `forkScoped`) reads a scope's internal state instead of calling
 * `addFinalizer`.
 *
 * @internal
 */
export class ConnectionScope implements Scope.CloseableScope {
  declare readonly [Scope.ScopeTypeId]: Scope.ScopeTypeId
  declare readonly [Scope.CloseableScopeTypeId]: Scope.CloseableScopeTypeId
  declare readonly strategy: ExecutionStrategy.ExecutionStrategy
  /** The only finalizer, while there is at most one and nothing read `state`... */
  private lone: ((input: any) => Effect.Effect<unknown>) | undefined = undefined
  /** ...and what it is called with: the close's exit ({@link closeExit}), or its resource. */
  private loneInput: unknown = undefined
  /** Effect's layout, once there were two finalizers or something read `state`. */
  private open: OpenState | undefined = undefined
  private closedWith: Exit.Exit<unknown, unknown> | undefined = undefined

  /** Effect's internal scope state, for code that reads it directly (`Effect.forkIn`). */
  get state(): OpenState | { readonly _tag: "Closed"; readonly exit: Exit.Exit<unknown, unknown> } {
    if (this.closedWith !== undefined) return { _tag: "Closed", exit: this.closedWith }
    return this.opened()
  }

  addFinalizer(finalizer: Scope.Scope.Finalizer): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.closedWith !== undefined) return finalizer(this.closedWith)
      this.add(finalizer)
      return Effect.void
    })
  }

  /**
   * Adds `release(resource)` as a finalizer. The lone finalizer of a
   * connection's scope is its socket's release: kept as the function and the
   * resource, it needs no closure and context (~0.1 KiB per connection).
   */
  addRelease<R>(release: (resource: R) => Effect.Effect<void>, resource: R): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.closedWith !== undefined) return release(resource)
      this.add(release, resource)
      return Effect.void
    })
  }

  close(exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.closedWith !== undefined) return Effect.void
      this.closedWith = exit
      const { lone, loneInput, open } = this
      this.lone = this.loneInput = this.open = undefined
      if (lone !== undefined) return Effect.asVoid(lone(loneInput === closeExit ? exit : loneInput))
      if (open === undefined) return Effect.void
      const lastFirst = Array.from(open.finalizers.values()).reverse()
      return Effect.flatMap(Effect.forEach(lastFirst, (finalizer) => Effect.exit(finalizer(exit))), (exits) => {
        const causes = exits.flatMap((done) => (Exit.isFailure(done) ? [done.cause] : []))
        return causes.length === 0 ? Effect.void : Effect.failCause(causes.reduce(Cause.sequential))
      })
    })
  }

  fork(strategy: ExecutionStrategy.ExecutionStrategy): Effect.Effect<Scope.CloseableScope> {
    return Effect.flatMap(Scope.make(strategy), (child) => {
      if (this.closedWith !== undefined) return Effect.as(Scope.close(child, this.closedWith), child)
      // The child closes with this scope, and leaves it when closed first.
      const closeChild: Scope.Scope.Finalizer = (exit) => Scope.close(child, exit)
      this.add(closeChild)
      return Effect.as(Scope.addFinalizer(child, Effect.sync(() => this.remove(closeChild))), child)
    })
  }

  pipe() {
    return pipeArguments(this, arguments)
  }

  /** Effect's layout, made from the lone finalizer (if any) on first need. */
  private opened(): OpenState {
    if (this.open === undefined) {
      const finalizers = new Map<object, Scope.Scope.Finalizer>()
      const { lone, loneInput } = this
      if (lone !== undefined) finalizers.set({}, loneInput === closeExit ? lone : releasing(lone, loneInput))
      this.lone = this.loneInput = undefined
      this.open = { _tag: "Open", finalizers }
    }
    return this.open
  }

  /** Adds `finalizer`, to be called with `input` (by default, the close's exit). */
  private add<I>(finalizer: (input: I) => Effect.Effect<unknown>, input: I | typeof closeExit = closeExit): void {
    if (this.open === undefined && this.lone === undefined) {
      this.lone = finalizer
      this.loneInput = input
    } else {
      this.opened().finalizers.set({}, input === closeExit ? finalizer as Scope.Scope.Finalizer : releasing(finalizer, input))
    }
  }

  private remove(finalizer: Scope.Scope.Finalizer): void {
    if (this.lone === finalizer && this.loneInput === closeExit) this.lone = this.loneInput = undefined
    else if (this.open !== undefined) {
      for (const [key, value] of this.open.finalizers) if (value === finalizer) this.open.finalizers.delete(key)
    }
  }
}

/** What a lone finalizer added by `addFinalizer` is called with: the close's exit. */
const closeExit: unique symbol = Symbol("jetsocket/ConnectionScope/closeExit")

/**
 * `release(resource)` as a finalizer: one closure whose context is `release`
 * and `resource` only (a closure made inline would keep whatever its
 * enclosing function held alive with the resource).
 */
const releasing = <R>(release: (resource: R) => Effect.Effect<unknown>, resource: R): Scope.Scope.Finalizer => () =>
  release(resource)

/**
 * Adds `release(resource)` to any scope: a connection's own scope keeps the
 * function and the resource as they are (no closure, see
 * {@link ConnectionScope.addRelease}); any other gets {@link releasing}.
 *
 * @internal
 */
export const addRelease = <R>(
  scope: Scope.Scope,
  release: (resource: R) => Effect.Effect<void>,
  resource: R
): Effect.Effect<void> =>
  scope instanceof ConnectionScope
    ? scope.addRelease(release, resource)
    : Scope.addFinalizerExit(scope, releasing(release, resource))

// On the prototype: nothing per connection but the finalizer and state slots.
Object.assign(ConnectionScope.prototype, {
  [Scope.ScopeTypeId]: Scope.ScopeTypeId,
  [Scope.CloseableScopeTypeId]: Scope.CloseableScopeTypeId,
  strategy: ExecutionStrategy.sequential
})
