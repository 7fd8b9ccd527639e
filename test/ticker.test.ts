/**
 * The shared timer under TestClock (deterministic): entries run when the
 * clock reaches them, in order; an earlier entry wakes a long sleep; a
 * cancelled entry never runs. Then the heartbeat built on it, through a
 * scripted transport that records pings.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Stream, TestClock } from "effect"
import * as JetSocket from "../src/JetSocket.js"
import { ConnectionClosedError } from "../src/JetSocketError.js"
import type { JetSocketEvent } from "../src/JetSocketEvent.js"
import * as Transport from "../src/Transport.js"
import * as Ticker from "../src/internal/ticker.js"

/** Lets forked fibers run (no real I/O is involved). */
const settle = Effect.repeatN(Effect.yieldNow(), 50)
/** One real event-loop turn (the heartbeat judges a missing pong after pending I/O). */
const ioTurn = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

describe("Ticker under TestClock", () => {
  it.effect("runs entries when due, in order, periodically when they reschedule", () =>
    Effect.gen(function*() {
      const ticker = yield* Ticker.get
      const runs: Array<string> = []
      const clock = yield* Effect.clock
      const at = () => `${clock.unsafeCurrentTimeMillis()}`
      const periodic: Ticker.TimerEntry = new Ticker.TimerEntry(() => {
        runs.push(`p@${at()}`)
        if (runs.filter((r) => r.startsWith("p")).length < 3) ticker.schedule(periodic, 100)
      })
      ticker.schedule(periodic, 100)
      ticker.schedule(new Ticker.TimerEntry(() => runs.push(`once@${at()}`)), 250)
      yield* settle
      yield* TestClock.adjust(99)
      yield* settle
      expect(runs).toEqual([])
      yield* TestClock.adjust(1)
      yield* settle
      expect(runs).toEqual(["p@100"])
      yield* TestClock.adjust(200)
      yield* settle
      expect(runs).toEqual(["p@100", "p@200", "once@250", "p@300"])
      yield* TestClock.adjust(1000)
      yield* settle
      expect(runs).toHaveLength(4)
    }))

  it.effect("an entry due sooner than the current sleep wakes it; a cancelled one never runs", () =>
    Effect.gen(function*() {
      const ticker = yield* Ticker.get
      const runs: Array<string> = []
      const late = new Ticker.TimerEntry(() => runs.push("late"))
      const cancelled = new Ticker.TimerEntry(() => runs.push("cancelled"))
      ticker.schedule(late, 10_000)
      ticker.schedule(cancelled, 50)
      yield* settle
      ticker.cancel(cancelled)
      ticker.schedule(new Ticker.TimerEntry(() => runs.push("soon")), 20)
      yield* settle
      yield* TestClock.adjust(20)
      yield* settle
      expect(runs).toEqual(["soon"])
      yield* TestClock.adjust(100)
      yield* settle
      expect(runs).toEqual(["soon"])
      yield* TestClock.adjust(10_000)
      yield* settle
      expect(runs).toEqual(["soon", "late"])
      expect(late.scheduled).toBe(false)
    }))
})

/** A transport with ping frames whose peer answers pongs only while `answering`. */
const pinging = () => {
  const state = { connects: 0, pings: 0, answering: true, handlers: [] as Array<Transport.Handlers> }
  const transport = Transport.make("pinging", (request) =>
    Effect.sync(() => {
      state.connects++
      state.handlers.push(request.handlers)
      let open = true
      const connection: Transport.Connection = {
        protocol: "",
        extensions: "",
        canPing: true,
        isOpen: () => open,
        send: (_data, onWritten) => onWritten?.(),
        ping: () => {
          state.pings++
          if (state.answering) queueMicrotask(() => request.handlers.onPong(new Uint8Array()))
        },
        pause: () => {},
        resume: () => {},
        close: () =>
          Effect.sync(() => {
            open = false
            request.handlers.onClose(new ConnectionClosedError({ code: 1000, reason: "", wasClean: true }))
            return true
          })
      }
      return connection
    }))
  return { layer: Layer.succeed(Transport.Transport, transport), state }
}

describe("heartbeat on the ticker, under TestClock", () => {
  it.scoped("pings every interval while pongs come; a missing pong ends the connection at the deadline", () =>
    Effect.gen(function*() {
      const fake = pinging()
      const ws = yield* JetSocket.connect("ws://pinging", {
        heartbeat: { interval: "1 second", timeout: "500 millis" },
        reconnect: { base: "100 millis", jitter: false }
      }).pipe(Effect.provide(fake.layer))
      const events: Array<JetSocketEvent> = []
      yield* Effect.forkScoped(Stream.runForEach(ws.events, (e) => Effect.sync(() => events.push(e))))
      yield* settle
      for (let i = 1; i <= 3; i++) {
        yield* TestClock.adjust(1000)
        yield* settle
        expect(fake.state.pings).toBe(i)
      }
      expect(fake.state.connects).toBe(1)
      // The peer stops answering: the next ping goes unanswered; at its deadline the connection ends.
      fake.state.answering = false
      yield* TestClock.adjust(1000)
      yield* settle
      expect(fake.state.pings).toBe(4)
      yield* TestClock.adjust(499)
      yield* settle
      yield* ioTurn
      yield* settle
      expect(events.some((e) => e._tag === "Disconnected")).toBe(false)
      yield* TestClock.adjust(1)
      yield* settle
      yield* ioTurn
      yield* settle
      const timeout = events.find((e) => e._tag === "Error")
      expect(timeout).toMatchObject({ error: { _tag: "ConnectionTimeoutError", operation: "pong" } })
      expect(events.some((e) => e._tag === "Disconnected")).toBe(true)
      // It reconnects after the backoff and the heartbeat starts again on the new connection.
      fake.state.answering = true
      yield* TestClock.adjust(100)
      yield* settle
      expect(fake.state.connects).toBe(2)
      yield* TestClock.adjust(1000)
      yield* settle
      expect(fake.state.pings).toBe(5)
    }))
})
