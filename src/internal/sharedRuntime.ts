import type * as Context from "effect/Context"
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

const same = (a: Runtime.Runtime<never>, b: Runtime.Runtime<never>): boolean => {
  if (a.runtimeFlags !== b.runtimeFlags) return false
  const refs = FiberRefs.fiberRefs(a.fiberRefs)
  let count = 0
  for (const ref of refs) {
    count++
    const value = FiberRefs.get(b.fiberRefs, ref)
    if (Option.isNone(value) || value.value !== FiberRefs.getOrDefault(a.fiberRefs, ref)) return false
  }
  for (const _ of FiberRefs.fiberRefs(b.fiberRefs)) count--
  return count === 0
}
