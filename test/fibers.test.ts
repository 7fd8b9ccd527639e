/**
 * Every fiber the library starts runs in the user's runtime: a user's
 * `Supervisor` sees them — the heartbeat timer shared by the clients made in
 * one context included — and none of them is alive once the client closed.
 * Clients made in another context get their own timer fiber, in that context.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Option, Schedule, Supervisor, TestClock } from "effect"
import * as JetSocket from "../src/JetSocket.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"
import * as Ticker from "../src/internal/ticker.js"

const heartbeat = { interval: 50, timeout: 2000 }

/** Waits (bounded: 5 s) until `ws` measured a heartbeat round trip: its timer runs. */
const untilPong = (ws: JetSocket.JetSocket<unknown>) =>
  ws.latency.pipe(
    Effect.repeat({ until: Option.isSome, schedule: Schedule.spaced("10 millis") }),
    Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("no pong within 5 s") })
  )

/** Waits (bounded: 5 s) until none of the fibers `supervisor` saw is alive; the ones still alive. */
const untilNoneAlive = (supervisor: Supervisor.Supervisor<Array<Fiber.RuntimeFiber<any, any>>>) =>
  supervisor.value.pipe(
    Effect.repeat({ until: (fibers) => fibers.length === 0, schedule: Schedule.spaced("10 millis") }),
    Effect.timeout("5 seconds"),
    Effect.ignore,
    Effect.zipRight(supervisor.value)
  )

/** Connects a client with heartbeats in a scope of its own, under `supervisor`; the timer fiber and the fibers seen. */
const supervisedClient = (url: string, supervisor: Supervisor.Supervisor<Array<Fiber.RuntimeFiber<any, any>>>) =>
  Effect.gen(function*() {
    const ws = yield* JetSocket.connect(url, { heartbeat })
    yield* untilPong(ws)
    // the same context as the client's: the ticker its clients share
    const timer = (yield* Ticker.get).currentFiber
    return { ws, timer, seen: yield* supervisor.value }
  }).pipe(Effect.supervised(supervisor), Effect.provide(NodeTransport.layer))

describe("fibers in the user's runtime", () => {
  it.live("a user Supervisor sees the heartbeat timer's fiber; after close no fiber the library started is alive", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const supervisor = yield* Supervisor.track
      const { seen, timer } = yield* Effect.scoped(Effect.gen(function*() {
        const connected = yield* supervisedClient(server.url, supervisor)
        expect(connected.timer).toBeDefined()
        expect(connected.seen).toContain(connected.timer)
        return connected
      }))
      // the client's scope closed: its timer entry was cancelled, the timer fiber ends
      const timerExit = yield* Fiber.await(timer!).pipe(Effect.timeout("5 seconds"))
      expect(Exit.isSuccess(timerExit)).toBe(true)
      expect(yield* untilNoneAlive(supervisor)).toHaveLength(0)
      for (const fiber of seen) expect(fiber.unsafePoll()).not.toBeNull()
    })), 30_000)

  it.live("clients made in two users' contexts each get a timer fiber in their own context; closing one leaves the other's", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const first = yield* Supervisor.track
      const second = yield* Supervisor.track
      const aConnected = yield* Deferred.make<Effect.Effect.Success<ReturnType<typeof supervisedClient>>>()
      const aFiber = yield* Effect.forkScoped(Effect.scoped(Effect.gen(function*() {
        yield* Deferred.succeed(aConnected, yield* supervisedClient(server.url, first))
        return yield* Effect.never
      })))
      const a = yield* Deferred.await(aConnected).pipe(Effect.timeout("10 seconds"))
      const b = yield* supervisedClient(server.url, second)
      expect(a.timer).toBeDefined()
      expect(b.timer).toBeDefined()
      expect(b.timer).not.toBe(a.timer)
      expect(yield* first.value).toContain(a.timer)
      expect(yield* first.value).not.toContain(b.timer)
      expect(yield* second.value).toContain(b.timer)
      expect(yield* second.value).not.toContain(a.timer)
      // closing the first user's client ends everything it started; the second's timer goes on
      yield* Fiber.interrupt(aFiber)
      expect(yield* untilNoneAlive(first)).toHaveLength(0)
      expect(b.timer!.unsafePoll()).toBeNull()
      // and the second client's heartbeat goes on: more round trips are measured (bounded wait)
      const pongs = Effect.map(b.ws.stats, (stats) => stats.latencyHistogram.reduce((n, bucket) => n + bucket.count, 0))
      const before = yield* pongs
      yield* pongs.pipe(
        Effect.repeat({ until: (count) => count > before, schedule: Schedule.spaced("10 millis") }),
        Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("the second client's heartbeat stopped") })
      )
      expect(b.timer!.unsafePoll()).toBeNull()
    }).pipe(Effect.provide(NodeTransport.layer))), 30_000)

  it.effect("a timer fiber stopped from outside while entries remain starts again in the same runtime; it ends with the last entry", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.track
      const runs: Array<number> = []
      const { entry, ticker } = yield* Effect.gen(function*() {
        const ticker = yield* Ticker.get
        const clock = yield* Effect.clock
        const entry: Ticker.TimerEntry = new Ticker.TimerEntry(() => {
          runs.push(clock.unsafeCurrentTimeMillis())
          ticker.schedule(entry, 100)
        })
        ticker.schedule(entry, 100)
        return { entry, ticker }
      }).pipe(Effect.supervised(supervisor))
      const settle = Effect.repeatN(Effect.yieldNow(), 50)
      yield* settle
      const first = ticker.currentFiber!
      // the timer fiber (and the fibers it forks to race its sleep against a wake-up)
      expect(yield* supervisor.value).toContain(first)
      // a user interrupts every fiber their supervisor saw
      yield* Fiber.interrupt(first)
      yield* settle
      const second = ticker.currentFiber
      expect(second).toBeDefined()
      expect(second).not.toBe(first)
      expect(first.unsafePoll()).not.toBeNull()
      expect(yield* supervisor.value).toContain(second)
      expect(yield* supervisor.value).not.toContain(first)
      yield* TestClock.adjust(100)
      yield* settle
      expect(runs).toEqual([100])
      ticker.cancel(entry)
      yield* settle
      expect(ticker.currentFiber).toBeUndefined()
      expect(second!.unsafePoll()).not.toBeNull()
      expect(yield* supervisor.value).toHaveLength(0)
    }))
})
