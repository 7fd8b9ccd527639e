/**
 * Options are validated when a client, multiplexer or pool is made: an
 * invalid value is a defect (an `InvalidOptionsError` naming every problem),
 * raised at once, before any socket is opened — at every entry point.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Schedule } from "effect"
import { PassThrough } from "node:stream"
import * as ConnectionPool from "../src/ConnectionPool.js"
import { parseArgs, program } from "../src/internal/cli.js"
import * as JetSocket from "../src/JetSocket.js"
import { InvalidOptionsError, isInvalidOptionsError } from "../src/JetSocketError.js"
import * as Multiplex from "../src/Multiplex.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as Presets from "../src/Presets.js"
import { connect as promiseConnect } from "../src/promise.js"
import * as TestServer from "../src/TestServer.js"

/** The `InvalidOptionsError` an Exit died with (fails the test when it did anything else). */
const diedWith = <A, E>(exit: Exit.Exit<A, E>): InvalidOptionsError => {
  expect(Exit.isFailure(exit)).toBe(true)
  if (Exit.isSuccess(exit)) throw new Error("succeeded")
  const defect = Cause.dieOption(exit.cause)
  expect(defect._tag).toBe("Some")
  if (defect._tag === "None" || !isInvalidOptionsError(defect.value)) throw new Error(`not an InvalidOptionsError: ${Cause.pretty(exit.cause)}`)
  return defect.value
}

const optionsOf = (error: InvalidOptionsError) => error.problems.map((p) => p.option)

const live = <A, E>(name: string, body: () => Effect.Effect<A, E, any>) =>
  it.scopedLive(name, () => body().pipe(Effect.provide(NodeTransport.layer)), 30_000)

describe("options validated when the client is made", () => {
  live("JetSocket.connect dies at once with every problem named, and opens no socket", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      const exit = yield* Effect.exit(JetSocket.connect(server.url, {
        heartbeat: { interval: -1, timeout: "0 seconds" },
        connectTimeout: 0,
        closeTimeout: Number.NaN,
        maxConnectionAge: "soon" as any,
        reconnect: { base: -5, cap: "-1 seconds", multiplier: 0.5, maxAttempts: 1.5, resetAfter: 0 },
        buffer: { capacity: 0, overflowPolicy: "drop_everything" as any, dedup: { window: -1, key: "id" as any } },
        sendQueue: -1,
        maxMessageSize: 0,
        compression: { threshold: -1 },
        shouldReconnect: true as any,
        codec: "yaml" as any
      }))
      const error = diedWith(exit)
      expect(optionsOf(error).sort()).toEqual([
        "buffer.capacity",
        "buffer.dedup.key",
        "buffer.dedup.window",
        "buffer.overflowPolicy",
        "closeTimeout",
        "codec",
        "compression.threshold",
        "connectTimeout",
        "heartbeat.interval",
        "heartbeat.timeout",
        "maxConnectionAge",
        "maxMessageSize",
        "reconnect.base",
        "reconnect.cap",
        "reconnect.maxAttempts",
        "reconnect.multiplier",
        "reconnect.resetAfter",
        "sendQueue",
        "shouldReconnect"
      ])
      expect(error.message).toContain("heartbeat.interval must be a positive duration, got -1")
      expect(error.message).toContain("maxConnectionAge must be a duration")
      expect(error.fatal).toBe(true)
      expect(server.upgradeCount()).toBe(0)
    }))

  live("a negative heartbeat shorthand, a sub-millisecond or an over-long duration is rejected (never a ping flood)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      for (
        const [options, option, reason] of [
          [{ heartbeat: -1 }, "heartbeat", "must be a positive duration, got -1"],
          [{ heartbeat: "-20 seconds" }, "heartbeat", "must be a positive duration"],
          [{ heartbeat: { interval: "1 nanos" } }, "heartbeat.interval", "must be at least 1 millisecond"],
          [{ connectTimeout: Infinity }, "connectTimeout", "must be finite"],
          [{ closeTimeout: "30 days" }, "closeTimeout", "must be at most 2147483647 ms"],
          [{ maxConnectionAge: [-1, 0] as const }, "maxConnectionAge", "must be a positive duration"]
        ] as const
      ) {
        const error = diedWith(yield* Effect.exit(JetSocket.connect(server.url, options as JetSocket.JetSocket.Options)))
        expect(optionsOf(error)).toEqual([option])
        expect(error.problems[0]!.reason).toContain(reason)
      }
      expect(server.upgradeCount()).toBe(0)
    }))

  live("a reconnect that is neither a boolean, a BackoffConfig nor a Schedule is rejected; a Schedule is accepted", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      for (const reconnect of [5, "yes", null]) {
        const error = diedWith(yield* Effect.exit(JetSocket.make(server.url, { reconnect: reconnect as any })))
        expect(optionsOf(error)).toEqual(["reconnect"])
        expect(error.message).toContain("must be true, false, a BackoffConfig or a Schedule")
      }
      const ws = yield* JetSocket.connect(server.url, { reconnect: Schedule.spaced("10 millis"), heartbeat: false })
      expect(yield* ws.state).toBe("Connected")
    }))

  live("every preset is valid", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      for (const preset of [Presets.trading, Presets.llmStream, Presets.dashboard, Presets.minimal]) {
        const ws = yield* JetSocket.connect(server.url, preset)
        yield* ws.close()
      }
      expect(server.upgradeCount()).toBe(4)
    }))

  live("per-call timeouts: recv, request and ping die with the option named", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      const ws = yield* JetSocket.connect(server.url, { heartbeat: false })
      expect(optionsOf(diedWith(yield* Effect.exit(ws.recv({ timeout: -1 }))))).toEqual(["recv timeout"])
      expect(optionsOf(diedWith(yield* Effect.exit(ws.request({ id: 1 }, { match: () => true, timeout: 0 }))))).toEqual([
        "request timeout"
      ])
      expect(optionsOf(diedWith(yield* Effect.exit(ws.ping({ timeout: "-1 seconds" }))))).toEqual(["ping timeout"])
      // The client is unharmed.
      yield* ws.send({ still: "fine" })
      expect(yield* ws.recv({ timeout: "5 seconds" })).toEqual({ still: "fine" })
    }))

  live("each option's invalid value is rejected on its own, named, before any socket (client, pool, multiplexer)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      const client: ReadonlyArray<readonly [string, JetSocket.JetSocket.Options]> = [
        ["reconnect.maxElapsed", { reconnect: { maxElapsed: -1 } }],
        ["reconnect.jitter", { reconnect: { jitter: "yes" as any } }],
        ["replay", { replay: 5 as any }],
        ["replay.mode", { replay: { mode: "sometimes" as any } }],
        ["replay.mode", { replay: {} as any }],
        ["replay.sequenceKey", { replay: { mode: "sequence_id", sequenceKey: "seq" as any } }],
        ["replay.onReplay", { replay: { mode: "sequence_id", onReplay: true as any } }],
        ["headers", { headers: { "x-a": 1 } as any }],
        ["headers", { headers: "x-a: 1" as any }],
        ["protocols", { protocols: ["a", 2] as any }],
        ["protocols", { protocols: 7 as any }],
        ["heartbeat.pongMatcher", { heartbeat: { interval: "1 second", pongMatcher: "pong" as any } }],
        ["strict", { strict: "yes" as any }],
        ["schema", { schema: {} as any }],
        ["compression", { compression: "gzip" as any }],
        ["buffer", { buffer: 0 }]
      ]
      for (const [option, options] of client) {
        const error = diedWith(yield* Effect.exit(JetSocket.make(server.url, options)))
        expect(optionsOf(error), JSON.stringify(options)).toEqual([option])
        expect(error.message).toContain(option)
      }
      const pool: ReadonlyArray<readonly [string, ConnectionPool.ConnectionPool.Config]> = [
        ["baseUrl", { baseUrl: 5 as any }],
        ["healthCheckInterval", { healthCheckInterval: -1 }],
        ["healthCheckTimeout", { healthCheckTimeout: 0 }],
        ["connectOptions.replay.mode", { connectOptions: { replay: { mode: "x" as any } } }]
      ]
      for (const [option, config] of pool) {
        const error = diedWith(yield* Effect.exit(ConnectionPool.make(config)))
        expect(optionsOf(error), JSON.stringify(config)).toEqual([option])
      }
      const mux: ReadonlyArray<readonly [string, Multiplex.Multiplex.Options]> = [
        ["channelExtractor", { channelExtractor: "channel" as any }],
        ["unsubscribeMessage", { unsubscribeMessage: {} as any }],
        ["overflowPolicy", { overflowPolicy: "never" as any }]
      ]
      for (const [option, options] of mux) {
        const error = diedWith(yield* Effect.exit(Multiplex.make(server.url, options)))
        expect(optionsOf(error), option).toEqual([option])
      }
      const m = yield* Multiplex.make(server.url, { channelKey: "channel", heartbeat: false })
      expect(optionsOf(diedWith(yield* Effect.exit(m.subscribe("a", { strict: 1 as any }))))).toEqual(["strict"])
      expect(server.upgradeCount()).toBe(1)
    }))

  live("Multiplex.make and subscribe validate their own options too", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      const error = diedWith(
        yield* Effect.exit(Multiplex.make(server.url, { queueSize: 0, channelKey: 3 as any, heartbeat: -1, subscribeMessage: "x" as any }))
      )
      expect(optionsOf(error).sort()).toEqual(["channelKey", "heartbeat", "queueSize", "subscribeMessage"])
      expect(server.upgradeCount()).toBe(0)
      const mux = yield* Multiplex.make(server.url, { channelKey: "channel", heartbeat: false })
      const bad = diedWith(yield* Effect.exit(mux.subscribe("a", { queueSize: -3, overflowPolicy: "never" as any })))
      expect(optionsOf(bad).sort()).toEqual(["overflowPolicy", "queueSize"])
      expect(yield* mux.subscriptions).toEqual([])
    }))

  live("ConnectionPool.layer dies when built with a bad config or bad connectOptions; acquire validates its timeout", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      const bad = ConnectionPool.layer({
        baseUrl: server.url,
        maxConnections: 0,
        maxIdleTime: -1,
        acquireTimeout: "0 millis",
        connectOptions: { heartbeat: { interval: -1 } }
      }).pipe(Layer.provide(NodeTransport.layer))
      const error = diedWith(yield* Effect.exit(Effect.scoped(Layer.build(bad))))
      expect(optionsOf(error).sort()).toEqual(["acquireTimeout", "connectOptions.heartbeat.interval", "maxConnections", "maxIdleTime"])
      const pool = yield* ConnectionPool.make({ baseUrl: server.url, maxConnections: 1, connectOptions: { heartbeat: false } })
      const acquired = yield* Effect.exit(Effect.scoped(pool.acquire("/", { timeout: -1 })))
      expect(optionsOf(diedWith(acquired))).toEqual(["acquire timeout"])
      expect(server.upgradeCount()).toBe(0)
    }))

  live("the Promise API rejects with the InvalidOptionsError itself", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      const rejected = yield* Effect.promise(() =>
        promiseConnect(server.url, { heartbeat: { interval: -1 } }).then(() => undefined, (error: unknown) => error)
      )
      expect(rejected).toBeInstanceOf(InvalidOptionsError)
      expect((rejected as InvalidOptionsError).option).toBe("heartbeat.interval")
      expect(server.upgradeCount()).toBe(0)
    }))

  live("the CLI prints the problem and exits 2 for a flag value the client rejects", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      // 1e-7 s passes the flag parser (a positive number) but is below the timers' 1 ms resolution.
      const parsed = parseArgs([server.url, "--heartbeat", "0.0000001", "--no-reconnect"])
      if (parsed._tag !== "Run") throw new Error(`not parsed: ${JSON.stringify(parsed)}`)
      const stderr = new PassThrough()
      let text = ""
      stderr.on("data", (d: Buffer) => (text += d.toString("utf8")))
      const code = yield* program(parsed.options, { stdin: undefined, stdout: new PassThrough(), stderr })
      expect(code).toBe(2)
      expect(text).toContain("heartbeat.interval must be at least 1 millisecond")
      expect(server.upgradeCount()).toBe(0)
    }))
})
