import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import { pipeArguments } from "effect/Pipeable"
import * as Scope from "effect/Scope"

/**
 * The scope one connection's socket lives in: a `Scope.CloseableScope` with
 * Effect's semantics for a sequential scope (finalizers run once, last added
 * first; a finalizer added after the close runs at once with the close's
 * exit; failures are combined), sized for what a connection holds — usually
 * the transport's one finalizer.
 *
 * `Scope.make` keeps its finalizers in a `Map` under a fresh key object each,
 * behind a state object: ~0.3 KiB per scope, per open connection, before the
 * first finalizer is added. Here the first finalizer is a field and only
 * further ones make an array.
 *
 * Effect's `forkIn` (hence `forkScoped`) reads a scope's internal `state`
 * (`{ _tag, finalizers: Map }`) instead of calling `addFinalizer`. For that
 * case `state` hands out exactly that layout, made on first access, and the
 * scope keeps its finalizers in that `Map` from then on.
 *
 * @internal
 */
export class ConnectionScope implements Scope.CloseableScope {
  declare readonly [Scope.ScopeTypeId]: Scope.ScopeTypeId
  declare readonly [Scope.CloseableScopeTypeId]: Scope.CloseableScopeTypeId
  declare readonly strategy: ExecutionStrategy.ExecutionStrategy
  private first: Scope.Scope.Finalizer | undefined = undefined
  private rest: Array<Scope.Scope.Finalizer> | undefined = undefined
  private closedWith: Exit.Exit<unknown, unknown> | undefined = undefined
  /** Effect's own layout, once something read `state` (see above). */
  private open: { readonly _tag: "Open"; readonly finalizers: Map<object, Scope.Scope.Finalizer> } | undefined =
    undefined

  /** Effect's internal scope state, for code that reads it directly (`Effect.forkIn`). */
  get state():
    | { readonly _tag: "Open"; readonly finalizers: Map<object, Scope.Scope.Finalizer> }
    | { readonly _tag: "Closed"; readonly exit: Exit.Exit<unknown, unknown> }
  {
    if (this.closedWith !== undefined) return { _tag: "Closed", exit: this.closedWith }
    if (this.open === undefined) {
      const finalizers = new Map<object, Scope.Scope.Finalizer>()
      for (const finalizer of this.taken()) finalizers.set({}, finalizer)
      this.open = { _tag: "Open", finalizers }
    }
    return this.open
  }

  addFinalizer(finalizer: Scope.Scope.Finalizer): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.closedWith !== undefined) return finalizer(this.closedWith)
      this.add(finalizer)
      return Effect.void
    })
  }

  close(exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.closedWith !== undefined) return Effect.void
      this.closedWith = exit
      const finalizers = this.open === undefined ? this.taken() : Array.from(this.open.finalizers.values())
      this.open = undefined
      if (finalizers.length === 0) return Effect.void
      if (finalizers.length === 1) return Effect.asVoid(finalizers[0]!(exit))
      return Effect.flatMap(Effect.forEach(finalizers.reverse(), (finalizer) => Effect.exit(finalizer(exit))), (exits) => {
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

  /** The finalizers in the order they were added, taken out of the slots. */
  private taken(): Array<Scope.Scope.Finalizer> {
    const first = this.first
    const rest = this.rest ?? []
    this.first = this.rest = undefined
    return first === undefined ? rest : [first, ...rest]
  }

  private add(finalizer: Scope.Scope.Finalizer): void {
    if (this.open !== undefined) this.open.finalizers.set({}, finalizer)
    else if (this.first === undefined) this.first = finalizer
    else (this.rest ??= []).push(finalizer)
  }

  private remove(finalizer: Scope.Scope.Finalizer): void {
    if (this.open !== undefined) {
      for (const [key, value] of this.open.finalizers) if (value === finalizer) this.open.finalizers.delete(key)
    } else if (this.first === finalizer) {
      this.first = this.rest?.shift()
    } else if (this.rest !== undefined) {
      const index = this.rest.indexOf(finalizer)
      if (index >= 0) this.rest.splice(index, 1)
    }
  }
}

// On the prototype: nothing per connection but the finalizer slots.
Object.assign(ConnectionScope.prototype, {
  [Scope.ScopeTypeId]: Scope.ScopeTypeId,
  [Scope.CloseableScopeTypeId]: Scope.CloseableScopeTypeId,
  strategy: ExecutionStrategy.sequential
})
