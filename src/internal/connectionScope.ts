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
 * first finalizer is added. Here a lone finalizer is a field (or, when it is
 * a resource's release added by {@link addRelease}, the release function and
 * the resource: no closure); a second one moves them all into Effect's own
 * layout (`{ _tag, finalizers: Map }`). That
 * layout is also made when something reads `state`: Effect's `forkIn` (hence
 * `forkScoped`) reads a scope's internal state instead of calling
 * `addFinalizer`.
 *
 * @internal
 */
export class ConnectionScope implements Scope.CloseableScope {
  declare readonly [Scope.ScopeTypeId]: Scope.ScopeTypeId
  declare readonly [Scope.CloseableScopeTypeId]: Scope.CloseableScopeTypeId
  declare readonly strategy: ExecutionStrategy.ExecutionStrategy
  /** The only finalizer, while there is at most one and nothing read `state`. */
  private single: Scope.Scope.Finalizer | undefined = undefined
  /** Or the only finalizer as a release and its resource (see {@link addRelease}). */
  private release: ((resource: any) => Effect.Effect<void>) | undefined = undefined
  private resource: unknown = undefined
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
      if (this.isEmpty()) {
        this.release = release
        this.resource = resource
      } else {
        this.add(releasing(release, resource))
      }
      return Effect.void
    })
  }

  close(exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.closedWith !== undefined) return Effect.void
      this.closedWith = exit
      const { single, open, release, resource } = this
      this.single = this.open = this.release = this.resource = undefined
      if (release !== undefined) return release(resource)
      if (open === undefined) return single === undefined ? Effect.void : Effect.asVoid(single(exit))
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
      if (this.single !== undefined) finalizers.set({}, this.single)
      if (this.release !== undefined) finalizers.set({}, releasing(this.release, this.resource))
      this.single = this.release = this.resource = undefined
      this.open = { _tag: "Open", finalizers }
    }
    return this.open
  }

  private isEmpty(): boolean {
    return this.open === undefined && this.single === undefined && this.release === undefined
  }

  private add(finalizer: Scope.Scope.Finalizer): void {
    if (this.isEmpty()) this.single = finalizer
    else this.opened().finalizers.set({}, finalizer)
  }

  private remove(finalizer: Scope.Scope.Finalizer): void {
    if (this.single === finalizer) this.single = undefined
    else if (this.open !== undefined) {
      for (const [key, value] of this.open.finalizers) if (value === finalizer) this.open.finalizers.delete(key)
    }
  }
}

/**
 * `release(resource)` as a finalizer: one closure whose context is `release`
 * and `resource` only (a closure made inline would keep whatever its
 * enclosing function held alive with the resource).
 *
 * @internal
 */
export const releasing = <R>(release: (resource: R) => Effect.Effect<void>, resource: R): Scope.Scope.Finalizer => () =>
  release(resource)

// On the prototype: nothing per connection but the finalizer and state slots.
Object.assign(ConnectionScope.prototype, {
  [Scope.ScopeTypeId]: Scope.ScopeTypeId,
  [Scope.CloseableScopeTypeId]: Scope.CloseableScopeTypeId,
  strategy: ExecutionStrategy.sequential
})
