import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Fiber, TestClock } from "effect"
import * as ConnectionPool from "../src/ConnectionPool.js"
import type * as JetSocket from "../src/JetSocket.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"

const realPoll = (predicate: () => boolean, what: string, timeoutMs = 10_000) =>
  TestServer.waitUntil(predicate, timeoutMs).pipe(Effect.orDieWith(() => new Error(`timed out waiting for ${what}`)))

/**
 * Bounds a step that must finish: `Effect.disconnect` lets the bound fire even
 * when the step is stuck in an uninterruptible region (the bug this guards),
 * so the test fails instead of hanging.
 */
const within = <A, E, R>(effect: Effect.Effect<A, E, R>, what: string) =>
  Effect.disconnect(effect).pipe(
    Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error(`${what} did not return within 5 s`) }),
    Effect.orDie
  )

/**
 * A pool of one connection to a server that answers a message saying "poison"
 * with a frame that is not JSON (and echoes the rest), under `strict: false`
 * (the client skips undecodable frames), and `poison`: on a lease, leaves the
 * undecodable answer unread in the connection's buffer.
 */
const poisonedPool = Effect.gen(function*() {
  const server = yield* TestServer.make({
    handler: (connection) =>
      connection.onMessage((data) => connection.send(String(data).includes("poison") ? "{not json" : data))
  })
  const pool = yield* ConnectionPool.make({ baseUrl: server.url, maxConnections: 1, connectOptions: { strict: false } })
  const poison = (ws: JetSocket.JetSocket<unknown>) =>
    Effect.zipRight(
      ws.send({ op: "poison" }),
      realPoll(() => Effect.runSync(ws.stats).bufferSize === 1, "the undecodable frame")
    )
  return { server, pool, poison }
})

/** Sends `message` and returns the echo. */
const echo = (ws: JetSocket.JetSocket<unknown>, message: unknown) =>
  Effect.zipRight(ws.send(message), ws.recv({ timeout: "5 seconds" }))

describe("ConnectionPool acquire is bounded", () => {
  it.scopedLive("a frame the client skips (strict: false) left unread does not hang the next acquire", () =>
    Effect.gen(function*() {
      const { pool, poison, server } = yield* poisonedPool
      // Released without reading the undecodable reply, once it is in the buffer.
      const first = yield* Effect.scoped(Effect.tap(pool.acquire("/bad"), poison))
      const reply = yield* within(
        Effect.scoped(Effect.gen(function*() {
          const ws = yield* pool.acquire("/bad", { timeout: "1 second" })
          expect(ws).toBe(first)
          return yield* echo(ws, { op: "fresh" })
        })),
        "the second acquire"
      )
      expect(reply).toEqual({ op: "fresh" })
      expect(server.connectionCount()).toBe(1)
      expect(yield* pool.stats).toMatchObject({ total: 1, idle: 1, active: 0, waiting: 0 })
    }).pipe(Effect.provide(NodeTransport.layer)))

  it.scopedLive("a waiter handed such a connection at release is bounded by its timeout too", () =>
    Effect.gen(function*() {
      const { pool, poison } = yield* poisonedPool
      const waiter = yield* Effect.scoped(Effect.gen(function*() {
        yield* Effect.tap(pool.acquire("/bad"), poison)
        // A second borrower queues; it gets the connection when this lease ends.
        const waiter = yield* Effect.fork(
          Effect.scoped(Effect.flatMap(pool.acquire("/bad", { timeout: "1 second" }), (ws) => echo(ws, { op: "after" })))
        )
        yield* realPoll(() => Effect.runSync(pool.stats).waiting === 1, "the waiter to queue")
        return waiter
      }))
      const exit = yield* within(Effect.either(Fiber.join(waiter)), "the waiter")
      expect(exit).toEqual(Either.right({ op: "after" }))
    }).pipe(Effect.provide(NodeTransport.layer)))

  it.scoped("opening a connection is bounded by what is left of the acquire timeout (TestClock)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      // The handshake never completes; the connect's own timeout is far longer than the acquire's.
      server.setUpgrade(TestServer.hang)
      const pool = yield* ConnectionPool.make({
        baseUrl: server.url,
        maxConnections: 1,
        connectOptions: { connectTimeout: "1 hour", heartbeat: false }
      })
      const acquirer = yield* Effect.fork(Effect.scoped(pool.acquire("/slow", { timeout: "2 seconds" })))
      yield* realPoll(() => server.upgradeCount() === 1, "the upgrade request")
      yield* TestClock.adjust("1999 millis")
      expect(acquirer.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      yield* realPoll(() => acquirer.unsafePoll() !== null, "the acquire to end")
      const error = yield* Effect.flip(Fiber.join(acquirer))
      expect(error._tag).toBe("ConnectionTimeoutError")
      if (error._tag === "ConnectionTimeoutError") {
        expect(error.operation).toBe("connect")
        expect(Duration.toMillis(error.timeout)).toBe(2000)
      }
      // The slot was given back.
      expect(Effect.runSync(pool.stats)).toMatchObject({ total: 0, active: 0, waiting: 0 })
    }).pipe(Effect.provide(NodeTransport.layer)))
})
