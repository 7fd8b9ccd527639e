import * as Context from "effect/Context"
import * as Equal from "effect/Equal"
import * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"

/**
 * The Runtime each client keeps, to run its supervisor, its closing and the
 * effects a transport callback starts (a backpressure offer, a codec) with
 * the context, logger, tracer and clock it was made with.
 * `Effect.runtime()` copies the calling fiber's FiberRefs (a `Map` of every
 * FiberRef), so 1 000 clients made by one fiber would hold 1 000 identical
 * copies. This hands back the Runtime an earlier client
 * got, when it is the same in every respect (runtime flags and every FiberRef
 * value, compared by identity, contexts by their services); otherwise
 * `runtime` itself, which later clients may then share.
 *
 * The kept Runtime has no `Scope` in its context (the supervisor requires
 * none: it makes its own), and contexts are compared by their other
 * services, not by identity. Clients opened
 * independently (each `connect` in its own `Effect.runPromise`, with its own
 * scope and the transport layer provided, as a service opening connections on
 * demand or the Promise API does) each run under a new `Context` holding their
 * own `Scope` and the same transport. Compared by identity, each client kept
 * its own Runtime, FiberRefs copy, fiber id, Context and scope (measured in
 * docs/performance.md).
 */
const lastByContext = new WeakMap<Context.Context<never>, Runtime.Runtime<never>>()
/** The last Runtime kept, for a caller whose context is another object with the same services. */
let recent: WeakRef<Runtime.Runtime<never>> | undefined

/** @internal */
export const share = (caller: Runtime.Runtime<never>): Runtime.Runtime<never> => {
  const previous = lastByContext.get(caller.context) ?? recent?.deref()
  if (previous !== undefined && same(previous, caller)) return previous
  const runtime = withoutScope(caller)
  lastByContext.set(caller.context, runtime)
  recent = new WeakRef(runtime)
  return runtime
}

/** The caller's runtime without its `Scope` service (in the context and in the context's FiberRef). */
const withoutScope = (caller: Runtime.Runtime<never>): Runtime.Runtime<never> => {
  if (!caller.context.unsafeMap.has(Scope.Scope.key)) return caller
  const context = Context.omit(Scope.Scope)(caller.context as Context.Context<Scope.Scope>) as Context.Context<never>
  return Runtime.make({
    context,
    runtimeFlags: caller.runtimeFlags,
    fiberRefs: FiberRefs.updateAs(caller.fiberRefs, { fiberId: FiberId.none, fiberRef: FiberRef.currentContext, value: context })
  })
}

/**
 * Whether fibers forked from `a` and from `b` would run alike: the same
 * runtime flags and every FiberRef value (supervisor, loggers, log level and
 * annotations, services such as `Clock` and `Tracer`…) the same object, and,
 * unless `anyContext`, contexts with the same services.
 */
const same = (a: Runtime.Runtime<never>, b: Runtime.Runtime<never>, anyContext = false): boolean => {
  if (a.runtimeFlags !== b.runtimeFlags || (!anyContext && !sameContext(a.context, b.context))) return false
  const refs = FiberRefs.fiberRefs(a.fiberRefs)
  let count = 0
  for (const ref of refs) {
    count++
    if (anyContext && ref === FiberRef.currentContext) continue
    const value = FiberRefs.get(b.fiberRefs, ref)
    if (Option.isNone(value) || !sameValue(value.value, FiberRefs.getOrDefault(a.fiberRefs, ref))) return false
  }
  for (const _ of FiberRefs.fiberRefs(b.fiberRefs)) count--
  return count === 0
}

/**
 * Whether `a` and `b` differ in their context at most (the services a client
 * was made with: its scope, its transport, the user's own), not in anything a
 * fiber of theirs reports to: supervisor, loggers, tracer, clock. Machinery
 * shared by many clients (the heartbeat timer) may run in either.
 *
 * @internal
 */
export const sameButContext = (a: Runtime.Runtime<never>, b: Runtime.Runtime<never>): boolean => same(a, b, true)

/**
 * Identical, two contexts with the same services (the context is itself a
 * FiberRef's value), or two equal values of Effect's own data types. Callers
 * that each run on their own (`Effect.runPromise` per connection) and set the
 * same log annotations or span annotations hold each a new `HashMap` of them:
 * compared by identity, each client kept its own Runtime and FiberRefs copy.
 * A fiber of the kept Runtime reads an equal value, which it logs
 * or reports alike; a `Supervisor`, logger, tracer or clock is compared by
 * identity (none of them implements `Equal`).
 */
const sameValue = (a: unknown, b: unknown): boolean =>
  a === b || (Context.isContext(a) && Context.isContext(b) && sameContext(a, b)) ||
  (Equal.isEqual(a) && Equal.isEqual(b) && Equal.equals(a, b))

/** The same services but for `Scope` (the kept Runtime has none, see {@link withoutScope}). */
const sameContext = (a: Context.Context<never>, b: Context.Context<never>): boolean => {
  if (a === b) return true
  let count = 0
  for (const [key, service] of a.unsafeMap) {
    if (key === Scope.Scope.key) continue
    if (b.unsafeMap.get(key) !== service || !b.unsafeMap.has(key)) return false
    count++
  }
  for (const key of b.unsafeMap.keys()) if (key !== Scope.Scope.key) count--
  return count === 0
}
