/**
 * A connection's socket lives in its own scope, made with Effect's public
 * `Scope.make` and filled by `acquireInterruptible` (what every transport's
 * `connect` uses): the behaviour the client relies on, pinned through the
 * public `Scope` API only — releases run once, last acquired first, among
 * other finalizers; a fiber forked into the scope (`forkIn`, hence
 * `forkScoped`) ends with it; a release added after the close runs at once;
 * an interrupted handshake leaves nothing to release.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Scope } from "effect"
import { acquireInterruptible } from "../src/internal/acquire.js"

/** A "socket" named `name` whose release is traced. */
const socket = (trace: Array<string>, name: string) =>
  acquireInterruptible(Effect.sync(() => name), (acquired) => Effect.sync(() => void trace.push(`release ${acquired}`)))

const note = (trace: Array<string>, name: string) => (exit: Exit.Exit<unknown, unknown>) =>
  Effect.sync(() => void trace.push(`${name}:${Exit.isSuccess(exit) ? "success" : "failure"}`))

describe("a connection's scope (Scope.make + acquireInterruptible)", () => {
  it.effect("releases run once, last acquired first, in order with the scope's other finalizers", () =>
    Effect.gen(function*() {
      const trace: Array<string> = []
      const scope = yield* Scope.make()
      expect(yield* Scope.extend(socket(trace, "s1"), scope)).toBe("s1")
      yield* Scope.addFinalizerExit(scope, note(trace, "after"))
      yield* Scope.extend(socket(trace, "s2"), scope)
      expect(trace).toEqual([])
      yield* Scope.close(scope, Exit.fail("end"))
      yield* Scope.close(scope, Exit.void) // a second close does nothing
      expect(trace).toEqual(["release s2", "after:failure", "release s1"])
    }))

  it.effect("a fiber forked into it (forkIn) is interrupted on close, before the socket it came after is released", () =>
    Effect.gen(function*() {
      const trace: Array<string> = []
      const scope = yield* Scope.make()
      yield* Scope.extend(socket(trace, "s1"), scope)
      const fiber = yield* Effect.forkIn(Effect.onInterrupt(Effect.never, () => Effect.sync(() => trace.push("fiber interrupted"))), scope)
      yield* Effect.yieldNow()
      yield* Scope.close(scope, Exit.void)
      expect(trace).toEqual(["fiber interrupted", "release s1"])
      expect(fiber.unsafePoll()).not.toBeNull()
      expect(Exit.isInterrupted(yield* Fiber.await(fiber))).toBe(true)
    }))

  it.effect("a socket acquired after the close is released at once", () =>
    Effect.gen(function*() {
      const trace: Array<string> = []
      const scope = yield* Scope.make()
      yield* Scope.extend(socket(trace, "s1"), scope)
      yield* Scope.close(scope, Exit.void)
      expect(trace).toEqual(["release s1"])
      yield* Scope.extend(socket(trace, "late"), scope)
      expect(trace).toEqual(["release s1", "release late"])
    }))

  it.effect("a pending handshake can be interrupted, and then leaves nothing to release", () =>
    Effect.gen(function*() {
      const trace: Array<string> = []
      const scope = yield* Scope.make()
      const handshake = acquireInterruptible(
        Effect.onInterrupt(Effect.never, () => Effect.sync(() => trace.push("handshake aborted"))),
        () => Effect.sync(() => void trace.push("released"))
      )
      const fiber = yield* Effect.fork(Scope.extend(handshake, scope))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(fiber)
      yield* Scope.close(scope, Exit.void)
      expect(trace).toEqual(["handshake aborted"])
    }))
})
