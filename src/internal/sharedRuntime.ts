import type * as Context from "effect/Context"
import * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"
import * as Option from "effect/Option"
import type * as Runtime from "effect/Runtime"

/**
 * The Runtime each client keeps, to restart its connecting fiber from a
 * transport callback (a drop), with the context, logger, tracer and clock it
 * was made with. `Effect.runtime()` copies the calling fiber's FiberRefs (a
 * `Map` of ~20 entries, ~0.3 KiB), so 1 000 clients made by one fiber would
 * hold 1 000 identical copies. This hands back the Runtime an earlier client
 * made with the same context got, when it is the same in every respect
 * (runtime flags and every FiberRef value, compared by identity); otherwise
 * `runtime` itself, which later clients may then share.
 */
const lastByContext = new WeakMap<Context.Context<never>, Runtime.Runtime<never>>()

/** @internal */
export const share = (runtime: Runtime.Runtime<never>): Runtime.Runtime<never> => {
  const previous = lastByContext.get(runtime.context)
  if (previous !== undefined && same(previous, runtime)) return previous
  lastByContext.set(runtime.context, runtime)
  return runtime
}

/**
 * Whether fibers forked from `a` and from `b` would run alike: the same
 * runtime flags and every FiberRef value (supervisor, loggers, log level and
 * annotations, services such as `Clock` and `Tracer`…) the same object;
 * unless `anyContext`, the same context too.
 */
const same = (a: Runtime.Runtime<never>, b: Runtime.Runtime<never>, anyContext = false): boolean => {
  if (a.runtimeFlags !== b.runtimeFlags) return false
  const refs = FiberRefs.fiberRefs(a.fiberRefs)
  let count = 0
  for (const ref of refs) {
    count++
    if (anyContext && ref === FiberRef.currentContext) continue
    const value = FiberRefs.get(b.fiberRefs, ref)
    if (Option.isNone(value) || value.value !== FiberRefs.getOrDefault(a.fiberRefs, ref)) return false
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
