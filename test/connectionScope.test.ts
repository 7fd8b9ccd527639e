/**
 * The connection's light scope behaves as Effect's own sequential scope: each
 * scenario runs on both `Scope.make()` and `ConnectionScope` and must give the
 * same trace and the same exit.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, ExecutionStrategy, Exit, Scope } from "effect"
import { acquireInterruptible } from "../src/internal/acquire.js"
import { ConnectionScope } from "../src/internal/connectionScope.js"

type Scenario = (scope: Scope.CloseableScope, trace: Array<string>) => Effect.Effect<unknown, unknown>

/** The trace and exit of `scenario` on a given scope. */
const run = (scope: Scope.CloseableScope, scenario: Scenario) =>
  Effect.gen(function*() {
    const trace: Array<string> = []
    const exit = yield* Effect.exit(scenario(scope, trace))
    return { trace, exit: Exit.mapBoth(exit, { onFailure: (e) => e, onSuccess: () => "ok" }) }
  })

const sameAsEffect = (scenario: Scenario) =>
  Effect.gen(function*() {
    const expected = yield* run(yield* Scope.make(ExecutionStrategy.sequential), scenario)
    const actual = yield* run(new ConnectionScope(), scenario)
    expect(actual.trace).toEqual(expected.trace)
    expect(Exit.isSuccess(actual.exit)).toBe(Exit.isSuccess(expected.exit))
    if (Exit.isFailure(actual.exit) && Exit.isFailure(expected.exit)) {
      expect(Cause.failures(actual.exit.cause)).toEqual(Cause.failures(expected.exit.cause))
      expect(Cause.defects(actual.exit.cause)).toEqual(Cause.defects(expected.exit.cause))
    }
    return actual
  })

const note = (trace: Array<string>, name: string) => (exit: Exit.Exit<unknown, unknown>) =>
  Effect.sync(() => void trace.push(`${name}:${Exit.isSuccess(exit) ? "success" : "failure"}`))

describe("ConnectionScope", () => {
  it.effect("runs finalizers once, last added first, with the close's exit", () =>
    Effect.gen(function*() {
      const { trace } = yield* sameAsEffect((scope, trace) =>
        Effect.gen(function*() {
          yield* Scope.addFinalizerExit(scope, note(trace, "a"))
          yield* Scope.addFinalizerExit(scope, note(trace, "b"))
          yield* Scope.addFinalizer(scope, Effect.sync(() => trace.push("c")))
          yield* Scope.close(scope, Exit.fail("boom"))
          yield* Scope.close(scope, Exit.void)
        })
      )
      expect(trace).toEqual(["c", "b:failure", "a:failure"])
    }))

  it.effect("a finalizer added after the close runs at once", () =>
    Effect.gen(function*() {
      const { trace } = yield* sameAsEffect((scope, trace) =>
        Effect.gen(function*() {
          yield* Scope.close(scope, Exit.void)
          yield* Scope.addFinalizerExit(scope, note(trace, "late"))
          trace.push("after")
        })
      )
      expect(trace).toEqual(["late:success", "after"])
    }))

  it.effect("every finalizer runs even when one dies; the close fails with every defect", () =>
    Effect.gen(function*() {
      const { exit, trace } = yield* sameAsEffect((scope, trace) =>
        Effect.gen(function*() {
          yield* Scope.addFinalizer(scope, Effect.sync(() => trace.push("first")))
          yield* Scope.addFinalizerExit(scope, () => Effect.die("x"))
          yield* Scope.addFinalizerExit(scope, () => Effect.die("y"))
          yield* Scope.close(scope, Exit.void)
        })
      )
      expect(trace).toEqual(["first"])
      expect(Exit.isFailure(exit) && [...Cause.defects(exit.cause)].sort()).toEqual(["x", "y"])
    }))

  it.effect("a forked child closes with it, and leaves it when closed first", () =>
    Effect.gen(function*() {
      const { trace } = yield* sameAsEffect((scope, trace) =>
        Effect.gen(function*() {
          const early = yield* Scope.fork(scope, ExecutionStrategy.sequential)
          yield* Scope.addFinalizerExit(early, note(trace, "early"))
          const late = yield* Scope.fork(scope, ExecutionStrategy.sequential)
          yield* Scope.addFinalizerExit(late, note(trace, "late"))
          yield* Scope.close(early, Exit.void)
          trace.push("early closed")
          yield* Scope.close(scope, Exit.fail("end"))
          // closing it again (already closed by its parent) does nothing
          yield* Scope.close(late, Exit.void)
        })
      )
      expect(trace).toEqual(["early:success", "early closed", "late:failure"])
    }))

  it.effect("a scoped resource acquired in it is released on close", () =>
    Effect.gen(function*() {
      const { trace } = yield* sameAsEffect((scope, trace) =>
        Effect.gen(function*() {
          yield* Effect.acquireRelease(Effect.sync(() => trace.push("acquire")), () => Effect.sync(() => trace.push("release"))).pipe(
            Scope.extend(scope)
          )
          yield* Effect.forkIn(Effect.never, scope)
          yield* Scope.close(scope, Exit.void)
          trace.push("closed")
        })
      )
      expect(trace).toEqual(["acquire", "release", "closed"])
    }))

  // A socket's release is kept as the release and the resource (no closure) in a ConnectionScope:
  // whatever comes after it, it runs where a finalizer added at that point would.
  it.effect("a transport's release (acquireInterruptible) runs like any finalizer, alone or with others", () =>
    Effect.gen(function*() {
      const socket = (trace: Array<string>, name: string) =>
        acquireInterruptible(Effect.sync(() => name), (s) => Effect.sync(() => void trace.push(`release ${s}`)))
      const alone = yield* sameAsEffect((scope, trace) =>
        Effect.gen(function*() {
          yield* Scope.extend(socket(trace, "s1"), scope)
          yield* Scope.close(scope, Exit.void)
          yield* Scope.close(scope, Exit.void)
        })
      )
      expect(alone.trace).toEqual(["release s1"])
      const withOthers = yield* sameAsEffect((scope, trace) =>
        Effect.gen(function*() {
          yield* Scope.extend(socket(trace, "s1"), scope)
          yield* Scope.addFinalizerExit(scope, note(trace, "after"))
          yield* Scope.extend(socket(trace, "s2"), scope)
          yield* Effect.forkIn(Effect.never, scope) // reads Effect's layout of the state
          yield* Scope.close(scope, Exit.fail("end"))
        })
      )
      expect(withOthers.trace).toEqual(["release s2", "after:failure", "release s1"])
      const readFirst = yield* sameAsEffect((scope, trace) =>
        Effect.gen(function*() {
          yield* Scope.extend(socket(trace, "s1"), scope)
          yield* Effect.forkIn(Effect.never, scope)
          yield* Scope.close(scope, Exit.void)
          yield* Scope.extend(socket(trace, "late"), scope) // after the close: released at once
        })
      )
      expect(readFirst.trace).toEqual(["release s1", "release late"])
    }))
})
