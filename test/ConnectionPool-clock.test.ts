import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Scope, TestClock } from "effect"
import * as ConnectionPool from "../src/ConnectionPool.js"
import { PoolExhaustedError } from "../src/JetSocketError.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"

// Timers run on the TestClock here; network I/O is real, so waits on I/O poll with real time.
const realPoll = (predicate: () => boolean, what: string, timeoutMs = 10_000) =>
  TestServer.waitUntil(predicate, timeoutMs).pipe(Effect.orDieWith(() => new Error(`timed out waiting for ${what}`)))

/** Pongs the client has seen (its latency histogram counts each round trip once). */
const pongs = (ws: { readonly stats: Effect.Effect<{ readonly latencyHistogram: ReadonlyArray<{ readonly count: number }> }> }) =>
  Effect.runSync(ws.stats).latencyHistogram.reduce((sum, bucket) => sum + bucket.count, 0)

const statsNow = (pool: ConnectionPool.ConnectionPool) => Effect.runSync(pool.stats)

// The client's own heartbeat is off so that only the pool's health check pings.
const connectOptions = { heartbeat: false } as const

describe("ConnectionPool (TestClock)", () => {
  it.scoped("exhaustion fails with PoolExhaustedError carrying maxConnections after the timeout", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const pool = yield* ConnectionPool.make({
        baseUrl: server.url,
        maxConnections: 2,
        acquireTimeout: "30 seconds",
        connectOptions
      })
      yield* pool.acquire("/a")
      yield* pool.acquire("/b")
      const waiter = yield* Effect.fork(Effect.scoped(pool.acquire("/a", { timeout: "5 seconds" })))
      yield* realPoll(() => statsNow(pool).waiting === 1, "the waiter to queue")
      yield* TestClock.adjust("4999 millis")
      expect(waiter.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      const error = yield* Effect.flip(Fiber.join(waiter))
      expect(error).toBeInstanceOf(PoolExhaustedError)
      const exhausted = error as PoolExhaustedError
      expect(exhausted.maxConnections).toBe(2)
      expect(Duration.toMillis(exhausted.timeout)).toBe(5000)
      expect(exhausted.message).toContain("all 2 connections busy")
      expect(statsNow(pool)).toMatchObject({ waiting: 0, active: 2, total: 2 })
      expect(server.peakConnections()).toBe(2)

      // The pool-wide default applies when acquire gives no timeout.
      const second = yield* Effect.fork(Effect.scoped(pool.acquire("/c")))
      yield* realPoll(() => statsNow(pool).waiting === 1, "the second waiter to queue")
      yield* TestClock.adjust("30 seconds")
      const error2 = yield* Effect.flip(Fiber.join(second))
      expect(error2._tag).toBe("PoolExhaustedError")
      expect(statsNow(pool).waiting).toBe(0)
    }).pipe(Effect.provide(NodeTransport.layer)))

  it.scoped("idle connections are closed after maxIdleTime", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const pool = yield* ConnectionPool.make({
        baseUrl: server.url,
        maxConnections: 3,
        maxIdleTime: "10 seconds",
        healthCheckInterval: false,
        connectOptions
      })
      yield* Effect.scoped(Effect.all([pool.acquire("/a"), pool.acquire("/b")]))
      expect(statsNow(pool)).toMatchObject({ idle: 2, total: 2 })
      yield* TestClock.adjust("6 seconds")
      // Using "/a" again restarts its idle time; "/b" keeps aging.
      yield* Effect.scoped(pool.acquire("/a"))
      expect(server.connectionCount()).toBe(2)
      yield* TestClock.adjust("4 seconds")
      yield* server.waitUntil(() => server.closes().length === 1)
      expect(server.closes()).toEqual([{ connection: 1, code: 1000, reason: "" }])
      yield* realPoll(() => statsNow(pool).total === 1, "the close of /b to finish")
      expect(statsNow(pool)).toMatchObject({ idle: 1, total: 1, closed: 1 })
      yield* TestClock.adjust("6 seconds")
      yield* server.waitUntil(() => server.closes().length === 2)
      yield* realPoll(() => statsNow(pool).total === 0, "the close of /a to finish")
      expect(server.closes().map((c) => c.code)).toEqual([1000, 1000])
      expect(server.connections()).toHaveLength(0)
    }).pipe(Effect.provide(NodeTransport.layer)))

  it.scoped("idle connections are pinged; one that stops answering is closed and removed", () =>
    Effect.gen(function*() {
      let pings = 0
      const server = yield* TestServer.make({
        handler: (connection) => {
          connection.socket.on("ping", () => pings++)
          TestServer.echo(connection)
        }
      })
      const pool = yield* ConnectionPool.make({
        baseUrl: server.url,
        maxConnections: 2,
        maxIdleTime: "1 hour",
        healthCheckInterval: "5 seconds",
        healthCheckTimeout: "1 second",
        connectOptions
      })
      const first = yield* Effect.scoped(pool.acquire("/a"))
      // Healthy: answered pings keep it in the pool.
      for (let i = 1; i <= 3; i++) {
        yield* TestClock.adjust("5 seconds")
        yield* realPoll(() => pings === i, `ping ${i}`)
        yield* realPoll(() => pongs(first) === i, `pong ${i}`)
      }
      expect(statsNow(pool)).toMatchObject({ idle: 1, total: 1 })
      expect(yield* Effect.scoped(pool.acquire("/a"))).toBe(first)
      expect(server.connectionCount()).toBe(1)

      // The server stops answering pings.
      server.setAutoPong(false)
      const before = pings
      yield* TestClock.adjust("5 seconds")
      yield* realPoll(() => pings === before + 1, "the unanswered ping")
      expect(statsNow(pool).idle).toBe(1)
      yield* TestClock.adjust("1 second")
      yield* server.waitUntil(() => server.closes().length === 1)
      expect(server.closes()[0]!.code).toBe(1000)
      yield* realPoll(() => statsNow(pool).total === 0, "the eviction")
      expect(statsNow(pool)).toMatchObject({ idle: 0, active: 0, closed: 1 })

      // The next acquire opens a fresh connection.
      server.setAutoPong(true)
      const fresh = yield* Effect.scoped(pool.acquire("/a"))
      expect(fresh).not.toBe(first)
      expect(server.connectionCount()).toBe(2)
    }).pipe(Effect.provide(NodeTransport.layer)))

  it.scoped("an idle connection that died is never handed out", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const pool = yield* ConnectionPool.make({ baseUrl: server.url, maxConnections: 1, connectOptions })
      const first = yield* Effect.scoped(pool.acquire("/a"))
      server.dropAll()
      yield* realPoll(() => Effect.runSync(first.state) === "Failed", "the drop to be seen")
      const scope = yield* Scope.make()
      const second = yield* pool.acquire("/a").pipe(Scope.extend(scope))
      expect(second).not.toBe(first)
      expect(yield* second.state).toBe("Connected")
      yield* Scope.close(scope, Exit.void)
      expect(statsNow(pool)).toMatchObject({ idle: 1, active: 0, total: 1, created: 2 })
    }).pipe(Effect.provide(NodeTransport.layer)))
})
