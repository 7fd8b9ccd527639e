/**
 * Promises the docs make (docs/reconnection.md, docs/concepts.md) that no
 * other test covered, each against a real TestServer on 127.0.0.1 and
 * decided by the events and server records themselves (bounded waits, no
 * sleep decides an outcome).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Supervisor } from "effect"
import * as JetSocket from "../src/JetSocket.js"
import { ConnectionRefusedError } from "../src/JetSocketError.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"
import { recordEvents } from "./fixtures/helpers.js"

const live = <A, E>(name: string, body: () => Effect.Effect<A, E, any>) =>
  it.scopedLive(name, () => body().pipe(Effect.provide(NodeTransport.layer)), 60_000)

const until = (predicate: () => boolean, what: string, timeoutMs = 20_000) =>
  TestServer.waitUntil(predicate, timeoutMs).pipe(Effect.orDieWith(() => new Error(`timed out waiting for ${what}`)))

describe("promises in docs/reconnection.md and docs/concepts.md", () => {
  live("a connect timeout is retried: the hung first upgrade times out, the second attempt connects", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({
        handler: TestServer.echo,
        upgrade: (request) => request.index === 0 ? "hang" : "accept"
      })
      const ws = yield* JetSocket.make(server.url, {
        connectTimeout: 300,
        heartbeat: false,
        reconnect: { base: 20, jitter: false }
      })
      const events = yield* recordEvents(ws)
      yield* ws.ready
      expect(server.upgradeCount()).toBe(2)
      expect(server.connectionCount()).toBe(1)
      const errors = events.flatMap((e) => e._tag === "Error" ? [e.error] : [])
      expect(errors).toHaveLength(1)
      expect(errors[0]).toMatchObject({ _tag: "ConnectionTimeoutError", operation: "connect" })
      yield* ws.send({ after: "timeout" })
      expect(yield* ws.recv({ timeout: "10 seconds" })).toEqual({ after: "timeout" })
    }))

  live("a failing url or headers Effect is retriable: the next attempt evaluates it again and connects", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      let urlCalls = 0
      let headerCalls = 0
      const url = Effect.suspend(() => ++urlCalls === 1 ? Effect.fail("discovery down") : Effect.succeed(server.url))
      const headers = Effect.suspend(() =>
        ++headerCalls === 1 ? Effect.fail(new Error("token service down")) : Effect.succeed({ authorization: `Bearer t${headerCalls}` })
      )
      const ws = yield* JetSocket.connect(url, { headers, heartbeat: false, reconnect: { base: 20, jitter: false } })
      // attempt 1: url fails; attempt 2: url ok, headers fail; attempt 3: both ok
      expect(urlCalls).toBe(3)
      expect(headerCalls).toBe(2)
      expect(server.upgradeCount()).toBe(1)
      expect(server.requestHeaders()[0]!["authorization"]).toBe("Bearer t2")
      expect(yield* ws.state).toBe("Connected")
    }))

  live("a url or headers Effect failing with a fatal JetSocketError is not retried", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      let calls = 0
      const revoked = new ConnectionRefusedError({ reason: "credentials revoked", fatal: true })
      const headers = Effect.suspend(() => (calls++, Effect.fail(revoked)))
      const error = yield* Effect.flip(
        JetSocket.connect(server.url, { headers, heartbeat: false, reconnect: { base: 20, jitter: false } }).pipe(
          // a hang guard: a retried fatal error would keep connecting
          Effect.timeoutFail({ duration: "15 seconds", onTimeout: () => new Error(`still connecting after ${calls} calls`) })
        )
      )
      expect(error).toBe(revoked)
      expect(calls).toBe(1)
      expect(server.upgradeCount()).toBe(0)
    }))

  live("a rotation whose replacement cannot open keeps the old connection and is retried until it succeeds", () =>
    Effect.gen(function*() {
      let refuse = true
      const server = yield* TestServer.make({
        handler: TestServer.echo,
        upgrade: (request) => request.index === 0 || !refuse ? "accept" : { status: 503 }
      })
      const ws = yield* JetSocket.connect(server.url, {
        heartbeat: false,
        maxConnectionAge: 300,
        reconnect: { base: 20, cap: 100, jitter: false }
      })
      const events = yield* recordEvents(ws)
      // Two replacements refused (upgrade requests 1 and 2): the first connection stays.
      yield* until(() => server.upgradeCount() >= 3, "two refused rotations")
      expect(server.connectionCount()).toBe(1)
      expect(server.connections()).toHaveLength(1)
      expect(server.closes()).toEqual([])
      expect(yield* ws.state).toBe("Connected")
      expect(events.some((e) => e._tag === "Disconnected")).toBe(false)
      yield* ws.send({ on: "old" })
      expect(yield* ws.recv({ timeout: "10 seconds" })).toEqual({ on: "old" })
      expect(server.received().map((r) => r.connection)).toEqual([0])
      // Replacements allowed again: the next rotation goes through and closes the old one as rotated.
      refuse = false
      yield* until(() => server.closes().some((c) => c.connection === 0), "the rotation to complete")
      expect(server.closes()[0]).toMatchObject({ connection: 0, code: 1000, reason: "connection rotated" })
      yield* ws.send({ on: "new" })
      expect(yield* ws.recv({ timeout: "10 seconds" })).toEqual({ on: "new" })
      expect(server.received().at(-1)!.connection).toBeGreaterThan(0)
    }))

  live("a connected idle client holds one fiber, its supervisor, and close() leaves none (heartbeat off)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({
        handler: TestServer.echo,
        upgrade: (request) => request.index === 0 ? "hang" : "accept"
      })
      const supervisor = yield* Supervisor.track
      const liveFibers = () => Effect.runSync(supervisor.value).length
      const ws = yield* JetSocket.make(server.url, {
        connectTimeout: 500,
        heartbeat: false,
        reconnect: { base: 20, jitter: false }
      }).pipe(Effect.supervised(supervisor))
      // The user's Supervisor sees the client's fibers: while the first upgrade hangs, the client's supervisor is alive.
      yield* until(() => server.upgradeCount() >= 1, "the first upgrade")
      expect(liveFibers()).toBeGreaterThanOrEqual(1)
      yield* ws.ready
      yield* ws.send({ ping: 1 })
      expect(yield* ws.recv({ timeout: "10 seconds" })).toEqual({ ping: 1 })
      // Connected and idle: the client's supervisor is its one live fiber (others end asynchronously: bounded wait).
      yield* until(() => liveFibers() === 1, "one live fiber while connected and idle", 5_000)
      yield* ws.close()
      expect(yield* ws.state).toBe("Closed")
      expect(liveFibers()).toBe(0)
    }))

  live("on reconnect the order is: onConnect hook, then the replay request, then the queued sends", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      const ws = yield* JetSocket.connect<{ seq?: number; queued?: number; after?: number }>(server.url, {
        heartbeat: false,
        reconnect: { base: 300, jitter: false },
        replay: {
          mode: "sequence_id",
          sequenceKey: (m) => m.seq,
          onReplay: (last, send) => send({ replay: last ?? null })
        }
      })
      yield* ws.onConnect((context) => context.sendText(JSON.stringify({ hook: true })))
      yield* until(() => server.connections().length === 1, "the first connection")
      server.broadcast({ seq: 7 })
      expect(yield* ws.recv({ timeout: "10 seconds" })).toEqual({ seq: 7 })
      server.dropAll()
      yield* until(() => Effect.runSync(ws.state) !== "Connected", "the drop to be seen")
      // Sent while disconnected: queued, flushed after the hook and the replay request.
      yield* ws.send({ queued: 1 })
      yield* ws.send({ queued: 2 })
      yield* until(() => server.received().filter((r) => r.connection === 1).length >= 4, "four messages on the new connection")
      yield* ws.send({ after: 1 })
      yield* until(() => server.received().filter((r) => r.connection === 1).length >= 5, "the later send")
      const second = server.received().filter((r) => r.connection === 1).map((r) => JSON.parse(String(r.data)))
      expect(second).toEqual([{ hook: true }, { replay: 7 }, { queued: 1 }, { queued: 2 }, { after: 1 }])
      expect(server.received().filter((r) => r.connection === 0)).toEqual([])
    }))
})
