/**
 * The reconnect loop under TestClock (deterministic): a scripted in-memory
 * transport, and the clock moved by hand.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Layer, Random, Schedule, Stream, TestClock } from "effect"
import * as JetSocket from "../src/JetSocket.js"
import { ConnectionClosedError, ConnectionRefusedError, type JetSocketError } from "../src/JetSocketError.js"
import type { JetSocketEvent } from "../src/JetSocketEvent.js"
import * as Transport from "../src/Transport.js"

type Outcome = "fail" | "fatal" | "open"

/** A transport whose n-th connect (1-based) does what `script(n)` says. */
const scripted = (script: (n: number) => Outcome) => {
  const log = {
    attempts: 0,
    open: [] as Array<{ handlers: Transport.Handlers; closed: boolean; sent: Array<string | Uint8Array> }>,
    urls: [] as Array<string>
  }
  const transport = Transport.make("scripted", (request) =>
    Effect.suspend(() => {
      const n = ++log.attempts
      log.urls.push(request.url)
      const outcome = script(n)
      if (outcome === "fail") return Effect.fail(new ConnectionRefusedError({ reason: `refused #${n}`, fatal: false }))
      if (outcome === "fatal") {
        return Effect.fail(new ConnectionRefusedError({ reason: "401", status: 401, fatal: true }))
      }
      const entry = { handlers: request.handlers, closed: false, sent: [] as Array<string | Uint8Array> }
      log.open.push(entry)
      const connection: Transport.Connection = {
        protocol: "",
        extensions: "",
        canPing: false,
        isOpen: () => !entry.closed,
        send: (data, onWritten) => {
          entry.sent.push(data)
          onWritten?.()
        },
        ping: () => {},
        pause: () => {},
        resume: () => {},
        close: () =>
          Effect.sync(() => {
            entry.closed = true
            return true
          })
      }
      return Effect.succeed(connection)
    }))
  /** The server drops the latest connection. */
  const drop = (code = 1006) => {
    const entry = log.open[log.open.length - 1]!
    entry.closed = true
    entry.handlers.onClose(new ConnectionClosedError({ code, reason: "dropped", wasClean: false }))
  }
  return { layer: Layer.succeed(Transport.Transport, transport), log, drop }
}

/** Lets forked fibers run (no real I/O is involved). */
const settle = Effect.repeatN(Effect.yieldNow(), 50)

const start = (
  script: (n: number) => Outcome,
  options: JetSocket.JetSocket.Options = {}
) =>
  Effect.gen(function*() {
    const fake = scripted(script)
    const ws = yield* JetSocket.make("ws://scripted", { heartbeat: false, ...options }).pipe(Effect.provide(fake.layer))
    const events: Array<JetSocketEvent> = []
    const stream = yield* ws.subscribeEvents
    yield* Effect.forkScoped(Stream.runForEach(stream, (e) => Effect.sync(() => events.push(e))))
    yield* settle
    const delays = () =>
      events.flatMap((e) => (e._tag === "Reconnecting" ? [Duration.toMillis(e.delay)] : []))
    return { ws, fake, events, delays }
  })

describe("reconnect under TestClock", () => {
  it.scoped("exact delays without jitter: 100, 200, 400, 800, 1000, 1000 (and only after the clock moves)", () =>
    Effect.gen(function*() {
      const { delays, fake, ws } = yield* start((n) => (n <= 6 ? "fail" : "open"), {
        reconnect: { base: 100, multiplier: 2, cap: "1 second", jitter: false }
      })
      expect(fake.log.attempts).toBe(1)
      const expected = [100, 200, 400, 800, 1000, 1000]
      for (let i = 0; i < expected.length; i++) {
        expect(delays()).toEqual(expected.slice(0, i + 1))
        expect(yield* ws.state).toBe("BackingOff")
        // One ms early: no new attempt yet.
        yield* TestClock.adjust(expected[i]! - 1)
        yield* settle
        expect(fake.log.attempts).toBe(i + 1)
        yield* TestClock.adjust(1)
        yield* settle
        expect(fake.log.attempts).toBe(i + 2)
      }
      expect(yield* ws.state).toBe("Connected")
      yield* ws.ready
    }))

  it.scoped("full jitter: every delay within [0, capped delay]", () =>
    Effect.gen(function*() {
      const { delays, fake } = yield* start(() => "fail", { reconnect: { base: 100, cap: "1 second", jitter: true } })
      const capped = [100, 200, 400, 800, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000]
      for (let i = 0; i < capped.length; i++) {
        yield* TestClock.adjust(1000)
        yield* settle
      }
      const seen = delays()
      expect(seen.length).toBeGreaterThanOrEqual(capped.length)
      seen.slice(0, capped.length).forEach((d, i) => expect(d).toBeLessThanOrEqual(capped[i]!))
      // The draws come from Effect's Random, seeded below, so the run is reproducible: they vary,
      // and they reach the lower half of their range (a jitter on [d/2, d] does not).
      const ratios = seen.slice(0, capped.length).map((d, i) => d / capped[i]!)
      expect(new Set(seen).size).toBeGreaterThan(1)
      expect(Math.min(...ratios)).toBeLessThan(0.5)
      expect(fake.log.attempts).toBe(seen.length)
    }).pipe(Effect.withRandom(Random.make("reconnect-clock jitter"))))

  it.scoped("maxAttempts 3 → exactly 3 attempts, then messages/ready fail with the last error, state Failed", () =>
    Effect.gen(function*() {
      const { events, fake, ws } = yield* start(() => "fail", {
        reconnect: { base: 100, jitter: false, maxAttempts: 3 }
      })
      for (let i = 0; i < 10; i++) {
        yield* TestClock.adjust(1000)
        yield* settle
      }
      expect(fake.log.attempts).toBe(3)
      const exit = yield* Effect.exit(ws.ready)
      expect(Exit.isFailure(exit)).toBe(true)
      const error = yield* Effect.flip(Stream.runDrain(ws.messages))
      expect((error as ConnectionRefusedError).reason).toBe("refused #3")
      expect(yield* ws.state).toBe("Failed")
      const fatal = events.filter((e) => e._tag === "Error" && e.fatal)
      expect(fatal).toHaveLength(1)
    }))

  it.scoped("a fatal error is never retried: one attempt, Error { fatal: true }, state Failed", () =>
    Effect.gen(function*() {
      const { events, fake, ws } = yield* start(() => "fatal", { reconnect: { base: 10, jitter: false } })
      yield* TestClock.adjust(10_000)
      yield* settle
      expect(fake.log.attempts).toBe(1)
      const error = yield* Effect.flip(ws.ready)
      expect(error._tag).toBe("ConnectionRefusedError")
      expect(yield* ws.state).toBe("Failed")
      expect(events.some((e) => e._tag === "Error" && e.fatal)).toBe(true)
      expect(events.some((e) => e._tag === "Reconnecting")).toBe(false)
    }))

  it.scoped("shouldReconnect rejecting an error makes it fatal", () =>
    Effect.gen(function*() {
      const { fake, ws } = yield* start(() => "fail", {
        reconnect: { base: 10, jitter: false },
        shouldReconnect: (error: JetSocketError) => !(error._tag === "ConnectionRefusedError" && error.reason === "refused #2")
      })
      for (let i = 0; i < 5; i++) {
        yield* TestClock.adjust(1000)
        yield* settle
      }
      expect(fake.log.attempts).toBe(2)
      const error = yield* Effect.flip(Stream.runDrain(ws.messages))
      expect((error as ConnectionRefusedError).reason).toBe("refused #2")
    }))

  it.scoped("maxElapsed gives up an outage", () =>
    Effect.gen(function*() {
      const { fake, ws } = yield* start(() => "fail", {
        reconnect: { base: 100, jitter: false, maxElapsed: "1 second" }
      })
      for (let i = 0; i < 20; i++) {
        yield* TestClock.adjust(100)
        yield* settle
      }
      // Attempts at 0, 100, 300, 700 and 1500 ms; the next would start after 1 s of outage.
      expect(fake.log.attempts).toBe(5)
      expect((yield* Effect.flip(ws.ready))._tag).toBe("ConnectionRefusedError")
      expect(yield* ws.state).toBe("Failed")
    }))

  it.scoped("resetAfter: a short-lived connection continues the schedule; a stable one restarts it from attempt 1", () =>
    Effect.gen(function*() {
      // 1 fail, 2 fail, 3 open (short), 4 open (stable), 5 fail, 6 open
      const plan: Array<Outcome> = ["fail", "fail", "open", "open", "fail", "open"]
      const { delays, events, fake, ws } = yield* start((n) => plan[n - 1] ?? "open", {
        reconnect: { base: 100, jitter: false, resetAfter: "1 second" }
      })
      yield* TestClock.adjust(100)
      yield* settle
      yield* TestClock.adjust(200)
      yield* settle
      expect(fake.log.attempts).toBe(3)
      expect(yield* ws.state).toBe("Connected")
      expect(delays()).toEqual([100, 200])

      // Up 999 ms only (< resetAfter): the outage continues the schedule → 400 ms.
      yield* TestClock.adjust(999)
      fake.drop()
      yield* settle
      expect(delays()).toEqual([100, 200, 400])
      expect(fake.log.attempts).toBe(3)
      yield* TestClock.adjust(400)
      yield* settle
      expect(fake.log.attempts).toBe(4)
      expect(yield* ws.state).toBe("Connected")

      // Up exactly resetAfter: the next outage starts afresh — reconnect at once (attempt 1),
      // and its first backoff delay is base again.
      yield* TestClock.adjust(1000)
      fake.drop()
      yield* settle
      expect(fake.log.attempts).toBe(5)
      const connecting = events.filter((e) => e._tag === "Connecting")
      expect(connecting[connecting.length - 1]).toMatchObject({ attempt: 1 })
      expect(delays()).toEqual([100, 200, 400, 100])
      yield* TestClock.adjust(100)
      yield* settle
      expect(fake.log.attempts).toBe(6)
      expect(yield* ws.state).toBe("Connected")
      const reconnected = events.filter((e) => e._tag === "Reconnected")
      expect(reconnected).toHaveLength(2)
      expect(reconnected[1]).toMatchObject({ attempts: 2 })
      expect(Duration.toMillis((reconnected[1] as any).downtime)).toBe(100)
      const disconnected = events.filter((e) => e._tag === "Disconnected")
      expect(disconnected).toHaveLength(2)
      expect(disconnected[0]).toMatchObject({ code: 1006, reason: "dropped" })
    }))

  it.scoped("a user Schedule governs the first connect and every reconnect", () =>
    Effect.gen(function*() {
      const { delays, fake } = yield* start((n) => (n === 3 ? "open" : "fail"), {
        reconnect: Schedule.spaced("250 millis")
      })
      yield* TestClock.adjust(250)
      yield* settle
      yield* TestClock.adjust(250)
      yield* settle
      expect(fake.log.attempts).toBe(3)
      fake.drop()
      yield* settle
      yield* TestClock.adjust(250)
      yield* settle
      expect(fake.log.attempts).toBe(4)
      expect(delays()).toEqual([250, 250, 250, 250])
      yield* TestClock.adjust(250)
      yield* settle
      expect(fake.log.attempts).toBe(5)
    }))

  it.scoped("close during backoff: no further attempt, state Closed, messages ends", () =>
    Effect.gen(function*() {
      const { fake, ws } = yield* start(() => "fail", { reconnect: { base: 1000, jitter: false } })
      expect(yield* ws.state).toBe("BackingOff")
      const fiber = yield* Effect.fork(Stream.runCollect(ws.messages))
      yield* ws.close()
      yield* ws.close()
      yield* TestClock.adjust(60_000)
      yield* settle
      expect(fake.log.attempts).toBe(1)
      expect(yield* ws.state).toBe("Closed")
      expect([...(yield* Fiber.join(fiber))]).toEqual([])
      expect((yield* Effect.flip(ws.send({ a: 1 })))._tag).toBe("InvalidStateError")
    }))
})



