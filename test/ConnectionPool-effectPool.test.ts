import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Pool, Scope, TestClock } from "effect"

// What Effect's own `Pool` (effect 3.22) does where ConnectionPool needs something else: the reasons,
// pinned, why ConnectionPool keeps its own queue (docs/connection-pool.md, "Why not Effect's Pool").
// Should an Effect upgrade change one of these, this file fails and the choice is worth revisiting.
describe("Effect's Pool, where ConnectionPool needs something else", () => {
  it.effect("get waits uninterruptibly while the pool makes the item it waits for (a timeout cannot cut a slow connect)", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      const handshake = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const scope = yield* Scope.make()
      const pool = yield* Pool.makeWithTTL({
        // A connect that ends only when the test says so.
        acquire: Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(handshake)).pipe(
          Effect.zipRight(Effect.sync(() => events.push("connect ended")))
        ),
        min: 0,
        max: 1,
        timeToLive: Duration.infinity
      }).pipe(Scope.extend(scope))
      const getter = yield* Effect.fork(Effect.scoped(pool.get))
      yield* Deferred.await(started)
      const interrupting = yield* Effect.fork(
        Effect.zipRight(Fiber.interrupt(getter), Effect.sync(() => events.push("interrupt returned")))
      )
      // Scheduler turns in which an interruptible wait would have ended (it takes one or two).
      for (let i = 0; i < 50; i++) yield* Effect.yieldNow()
      yield* Deferred.succeed(handshake, undefined)
      yield* Fiber.join(interrupting)
      expect(events).toEqual(["connect ended", "interrupt returned"])
      yield* Scope.close(scope, Exit.void)
    }))

  it.effect("closing the pool waits until every lease is returned", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      const scope = yield* Scope.make()
      const pool = yield* Pool.makeWithTTL({
        acquire: Effect.acquireRelease(Effect.succeed("connection"), () => Effect.sync(() => events.push("item closed"))),
        min: 0,
        max: 1,
        timeToLive: Duration.infinity
      }).pipe(Scope.extend(scope))
      const lease = yield* Scope.make()
      yield* pool.get.pipe(Scope.extend(lease))
      const closing = yield* Effect.fork(Effect.zipRight(Scope.close(scope, Exit.void), Effect.sync(() => events.push("pool closed"))))
      yield* TestClock.adjust("1 hour")
      events.push("lease returned")
      yield* Scope.close(lease, Exit.void)
      yield* Fiber.join(closing)
      expect(events).toEqual(["lease returned", "item closed", "pool closed"])
    }))

  it.scoped("the \"usage\" time to live shrinks the pool every period: an item used 1 s ago is closed", () =>
    Effect.gen(function*() {
      const closed: Array<number> = []
      let made = 0
      const pool = yield* Pool.makeWithTTL({
        acquire: Effect.acquireRelease(Effect.sync(() => ++made), (n) => Effect.sync(() => closed.push(n))),
        min: 0,
        max: 2,
        timeToLive: "10 seconds",
        timeToLiveStrategy: "usage"
      })
      yield* Effect.scoped(pool.get)
      yield* TestClock.adjust("9 seconds")
      yield* Effect.scoped(pool.get)
      yield* TestClock.adjust("1 second")
      expect(closed).toEqual([1])
    }))
})
