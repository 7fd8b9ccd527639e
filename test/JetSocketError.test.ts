import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import * as JetSocketError from "../src/JetSocketError.js"

const {
  BufferOverflowError,
  CallbackError,
  ConnectionClosedError,
  ConnectionRefusedError,
  ConnectionTimeoutError,
  InvalidFrameError,
  InvalidMessageError,
  InvalidOptionsError,
  InvalidStateError,
  PoolExhaustedError
} = JetSocketError

const url = "ws://127.0.0.1:9/feed"

const samples: ReadonlyArray<JetSocketError.JetSocketError> = [
  new ConnectionClosedError({ code: 4000, reason: "bye", wasClean: true, url }),
  new ConnectionTimeoutError({ timeout: Duration.millis(1500), operation: "connect", url }),
  new ConnectionRefusedError({ reason: "ECONNREFUSED", url, status: 503, fatal: false }),
  new InvalidFrameError({ closeCode: 1009, reason: "Max payload size exceeded", url }),
  new InvalidMessageError({ reason: "not valid JSON", preview: "nope{" }),
  new BufferOverflowError({ capacity: 100, buffer: "receive" }),
  new PoolExhaustedError({ maxConnections: 4, timeout: Duration.seconds(2), url }),
  new InvalidStateError({ state: "Closed", operation: "send" }),
  new InvalidOptionsError({ problems: [{ option: "heartbeat.interval", reason: "must be a positive duration, got -1" }] }),
  new CallbackError({ callback: "shouldReconnect", cause: new TypeError("boom") })
]

describe("JetSocketError", () => {
  it.effect("each of the 10 tags is caught by Effect.catchTag", () =>
    Effect.gen(function*() {
      for (const error of samples) {
        const caught = yield* Effect.fail(error).pipe(
          Effect.catchTags({
            ConnectionClosedError: (e) => Effect.succeed(`closed ${e.code}`),
            ConnectionTimeoutError: (e) => Effect.succeed(`timeout ${e.operation}`),
            ConnectionRefusedError: (e) => Effect.succeed(`refused ${e.status}`),
            InvalidFrameError: (e) => Effect.succeed(`frame ${e.closeCode}`),
            InvalidMessageError: (e) => Effect.succeed(`message ${e.preview}`),
            BufferOverflowError: (e) => Effect.succeed(`overflow ${e.capacity}`),
            PoolExhaustedError: (e) => Effect.succeed(`pool ${e.maxConnections}`),
            InvalidStateError: (e) => Effect.succeed(`state ${e.state}`),
            InvalidOptionsError: (e) => Effect.succeed(`options ${e.option}`),
            CallbackError: (e) => Effect.succeed(`callback ${e.callback}`)
          })
        )
        expect(caught.split(" ")[0]).toBe(
          {
            ConnectionClosedError: "closed",
            ConnectionTimeoutError: "timeout",
            ConnectionRefusedError: "refused",
            InvalidFrameError: "frame",
            InvalidMessageError: "message",
            BufferOverflowError: "overflow",
            PoolExhaustedError: "pool",
            InvalidStateError: "state",
            InvalidOptionsError: "options",
            CallbackError: "callback"
          }[error._tag]
        )
        // Single-tag catchTag, too: it narrows the error to that class.
        const single = yield* Effect.fail(error).pipe(
          Effect.catchTag(error._tag, (e) => Effect.succeed(e._tag)),
          Effect.either
        )
        expect(single).toMatchObject({ _tag: "Right", right: error._tag })
      }
      const narrowed = yield* Effect.fail(new ConnectionTimeoutError({ timeout: Duration.seconds(1), operation: "recv" })).pipe(
        Effect.catchTag("ConnectionTimeoutError", (e) => Effect.succeed(Duration.toMillis(e.timeout)))
      )
      expect(narrowed).toBe(1000)
    }))

  it.effect("each category is caught by Effect.catchIf with its guard", () =>
    Effect.gen(function*() {
      const categoryOf = (error: JetSocketError.JetSocketError) =>
        Effect.fail(error).pipe(
          Effect.catchIf(JetSocketError.isConnectionError, () => Effect.succeed("connection")),
          Effect.catchIf(JetSocketError.isProtocolError, () => Effect.succeed("protocol")),
          Effect.catchIf(JetSocketError.isBufferError, () => Effect.succeed("buffer")),
          Effect.catchIf(JetSocketError.isPoolError, () => Effect.succeed("pool")),
          Effect.catchIf(JetSocketError.isJetSocketError, () => Effect.succeed("root"))
        )
      const categories: Array<string> = []
      for (const error of samples) categories.push(yield* categoryOf(error))
      expect(categories).toEqual(["connection", "connection", "connection", "protocol", "protocol", "buffer", "pool", "root", "root", "root"])
      for (const error of samples) {
        expect(JetSocketError.isJetSocketError(error)).toBe(true)
        expect(error).toBeInstanceOf(Error)
        expect(error[JetSocketError.TypeId]).toBe(JetSocketError.TypeId)
      }
      expect(JetSocketError.isInvalidStateError(samples[7])).toBe(true)
      expect(JetSocketError.isInvalidOptionsError(samples[8])).toBe(true)
      expect(JetSocketError.isCallbackError(samples[9])).toBe(true)
      expect(JetSocketError.isCallbackError(samples[8])).toBe(false)
      // Foreign errors and look-alikes are not JetSocket errors.
      for (const other of [new Error("x"), { _tag: "ConnectionClosedError" }, null, "ConnectionClosedError"]) {
        expect(JetSocketError.isJetSocketError(other)).toBe(false)
        expect(JetSocketError.isConnectionError(other)).toBe(false)
      }
      const foreign = yield* Effect.fail(new Error("not ours")).pipe(
        Effect.catchIf(JetSocketError.isJetSocketError, () => Effect.succeed("caught")),
        Effect.either
      )
      expect(foreign._tag).toBe("Left")
    }))

  it("messages name what happened and the values involved", () => {
    const [closed, timeout, refused, frame, message, overflow, pool, state, options, callback] = samples.map((e) => e.message)
    expect(closed).toContain(url)
    expect(closed).toContain("4000")
    expect(closed).toContain("bye")
    expect(timeout).toContain(url)
    expect(timeout).toContain("connect")
    expect(timeout).toContain("1s 500ms")
    expect(refused).toContain(url)
    expect(refused).toContain("503")
    expect(refused).toContain("ECONNREFUSED")
    expect(frame).toContain("1009")
    expect(frame).toContain(url)
    expect(message).toContain("nope{")
    expect(overflow).toContain("100")
    expect(overflow).toContain("receive")
    expect(pool).toContain("4")
    expect(pool).toContain("2s")
    expect(pool).toContain(url)
    expect(state).toContain("send")
    expect(state).toContain("Closed")
    expect(options).toContain("heartbeat.interval")
    expect(options).toContain("-1")
    expect(callback).toContain("shouldReconnect")
    expect(callback).toContain("boom")
    expect(new ConnectionClosedError({ code: 1006, reason: "", wasClean: false }).message).toContain("not clean")
  })

  it("fatal vs retriable is a property of the error", () => {
    expect(new ConnectionClosedError({ code: 1006, reason: "", wasClean: false }).fatal).toBe(false)
    for (const code of JetSocketError.fatalCloseCodes) {
      expect(new ConnectionClosedError({ code, reason: "", wasClean: true }).fatal).toBe(true)
    }
    expect(new ConnectionRefusedError({ reason: "401", status: 401, fatal: true }).fatal).toBe(true)
    expect(new ConnectionRefusedError({ reason: "ECONNREFUSED", fatal: false }).fatal).toBe(false)
    expect([...JetSocketError.fatalUpgradeStatuses].sort()).toEqual([401, 403, 404, 410])
    expect(new ConnectionTimeoutError({ timeout: Duration.seconds(1), operation: "pong" }).fatal).toBe(false)
    expect(new InvalidFrameError({ closeCode: 1002, reason: "" }).fatal).toBe(false)
    expect(new InvalidMessageError({ reason: "", preview: "" }).fatal).toBe(false)
    expect(new BufferOverflowError({ capacity: 1, buffer: "receive" }).fatal).toBe(true)
    expect(new BufferOverflowError({ capacity: 1, buffer: "send" }).fatal).toBe(false)
    expect(new PoolExhaustedError({ maxConnections: 1, timeout: Duration.seconds(1) }).fatal).toBe(false)
    expect(new InvalidStateError({ state: "Closed", operation: "send" }).fatal).toBe(true)
    expect(new InvalidOptionsError({ problems: [] }).fatal).toBe(true)
    expect(new CallbackError({ callback: "x", cause: 1 }).fatal).toBe(true)
    expect(samples.map(JetSocketError.isFatal)).toEqual(samples.map((e) => e.fatal))
  })
})
