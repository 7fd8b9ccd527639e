import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, Scope } from "effect"
import * as ConnectionPool from "../src/ConnectionPool.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"
import type * as Transport from "../src/Transport.js"

// The public contract (SPEC §15).
const contract: Layer.Layer<ConnectionPool.ConnectionPool, never, Transport.Transport> = ConnectionPool.layer({
  baseUrl: "ws://127.0.0.1:1",
  maxConnections: 2
})

const poll = (predicate: () => boolean, what: string, timeoutMs = 10_000) =>
  TestServer.waitUntil(predicate, timeoutMs).pipe(Effect.orDieWith(() => new Error(`timed out waiting for ${what}`)))

/** Polls the pool's stats until `predicate` holds. */
const waitStats = (
  pool: ConnectionPool.ConnectionPool,
  predicate: (stats: ConnectionPool.PoolStats) => boolean,
  timeoutMs = 10_000
) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (true) {
      const stats = yield* pool.stats
      if (predicate(stats)) return stats
      if (Date.now() >= deadline) return yield* Effect.dieMessage(`stats never matched: ${JSON.stringify(stats)}`)
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 5)))
    }
  })

describe("ConnectionPool (live clock)", () => {
  it.scopedLive("50 concurrent acquirers share at most 5 connections, and all complete", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const pool = yield* ConnectionPool.make({ baseUrl: server.url, maxConnections: 5, acquireTimeout: "20 seconds" })
      const replies = yield* Effect.forEach(
        Array.from({ length: 50 }, (_, i) => i),
        (i) =>
          Effect.scoped(Effect.gen(function*() {
            const ws = yield* pool.acquire("/echo")
            yield* ws.send({ i })
            const reply = yield* ws.recv({ timeout: "10 seconds" })
            // Hold the connection a little so that acquirers really queue up.
            yield* Effect.sleep("2 millis")
            return reply
          })),
        { concurrency: "unbounded" }
      )
      expect(replies).toEqual(Array.from({ length: 50 }, (_, i) => ({ i })))
      // 50 at once against a limit of 5: exactly 5 opened (docs/connection-pool.md), all reused
      expect(server.peakConnections()).toBe(5)
      expect(server.connectionCount()).toBe(5)
      const stats = yield* pool.stats
      expect(stats).toMatchObject({ active: 0, waiting: 0, messagesSent: 50, messagesReceived: 50 })
      expect(stats.idle).toBe(stats.total)
      console.log(
        `50 acquirers / max 5: server peak ${server.peakConnections()}, connections opened ${server.connectionCount()}`
      )
    }).pipe(Effect.provide(NodeTransport.layer)))

  it.scopedLive("reuse: acquire, release, acquire on one URL is one server-side connection", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const pool = yield* ConnectionPool.make({ baseUrl: server.url, maxConnections: 3 })
      const first = yield* Effect.scoped(Effect.flatMap(pool.acquire("/feed"), (ws) => Effect.as(ws.sendText("\"a\""), ws)))
      expect((yield* pool.stats)).toMatchObject({ total: 1, active: 0, idle: 1 })
      // Let the echo of "a" arrive while the connection is idle.
      yield* poll(() => Effect.runSync(first.stats).bufferSize === 1, "the unread echo")
      const second = yield* Effect.scoped(Effect.gen(function*() {
        const ws = yield* pool.acquire(`${server.url}/feed`)
        expect((yield* pool.stats)).toMatchObject({ total: 1, active: 1, idle: 0 })
        // The echo of "a" was never read by the first borrower: it must not leak into this lease.
        yield* ws.sendText("\"b\"")
        expect(yield* ws.recv({ timeout: "5 seconds" })).toBe("b")
        return ws
      }))
      expect(second).toBe(first)
      expect(server.connectionCount()).toBe(1)
      expect(server.connections()[0]!.url).toBe("/feed")
      expect((yield* pool.stats)).toMatchObject({ created: 1, messagesSent: 2 })
    }).pipe(Effect.provide(NodeTransport.layer)))

  it.scopedLive("the limit is global: a new URL evicts the idle connection of another", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const pool = yield* ConnectionPool.make({ baseUrl: server.url, maxConnections: 1 })
      yield* Effect.scoped(pool.acquire("/a"))
      const ws = yield* Effect.scoped(Effect.gen(function*() {
        const ws = yield* pool.acquire("/b")
        expect(server.peakConnections()).toBe(1)
        return ws
      }))
      expect(server.closes()).toEqual([{ connection: 0, code: 1000, reason: "" }])
      expect(server.connections().map((c) => c.url)).toEqual(["/b"])
      expect(yield* ws.state).toBe("Connected")
      expect((yield* pool.stats)).toMatchObject({ total: 1, idle: 1, created: 2, closed: 1 })
    }).pipe(Effect.provide(NodeTransport.layer)))

  it.scopedLive("a connection that failed or was closed while checked out is discarded", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const pool = yield* ConnectionPool.make({ baseUrl: server.url, maxConnections: 2 })
      yield* Effect.scoped(Effect.gen(function*() {
        const ws = yield* pool.acquire("/x")
        server.dropAll()
        yield* poll(() => Effect.runSync(ws.state) === "Failed", "the drop to be seen")
      }))
      yield* waitStats(pool, (s) => s.total === 0 && s.idle === 0 && s.closed === 1)
      yield* Effect.scoped(Effect.flatMap(pool.acquire("/x"), (ws) => ws.close()))
      yield* waitStats(pool, (s) => s.total === 0 && s.closed === 2)
      const ws = yield* Effect.scoped(pool.acquire("/x"))
      expect(yield* ws.state).toBe("Connected")
      expect(server.connectionCount()).toBe(3)
    }).pipe(Effect.provide(NodeTransport.layer)))

  it.scopedLive("a lease that ends in failure or interruption discards its connection (a reply may be in flight)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const pool = yield* ConnectionPool.make({ baseUrl: server.url, maxConnections: 2 })
      const failed = yield* Effect.flip(Effect.scoped(Effect.gen(function*() {
        const ws = yield* pool.acquire("/rpc")
        yield* ws.send({ id: 1 })
        return yield* Effect.fail("gave up waiting" as const)
      })))
      expect(failed).toBe("gave up waiting")
      yield* server.waitUntil(() => server.closes().length === 1)
      expect(server.closes()[0]!.code).toBe(1000)
      yield* waitStats(pool, (s) => s.total === 0 && s.closed === 1)
      const reply = yield* Effect.scoped(Effect.gen(function*() {
        const ws = yield* pool.acquire("/rpc")
        yield* ws.send({ id: 2 })
        return yield* ws.recv({ timeout: "5 seconds" })
      }))
      expect(reply).toEqual({ id: 2 })
      expect(server.connectionCount()).toBe(2)
    }).pipe(Effect.provide(NodeTransport.layer)))

  it.scopedLive("waiters are served in arrival order", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const pool = yield* ConnectionPool.make({ baseUrl: server.url, maxConnections: 1 })
      const order: Array<string> = []
      const holder = yield* Deferred.make<void>()
      const held = yield* Effect.fork(Effect.scoped(Effect.zipRight(pool.acquire("/a"), Deferred.await(holder))))
      yield* waitStats(pool, (s) => s.active === 1)
      const fibers: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
      for (const [name, path] of [["1", "/a"], ["2", "/b"], ["3", "/a"], ["4", "/b"]] as const) {
        fibers.push(yield* Effect.fork(Effect.scoped(Effect.zipRight(pool.acquire(path), Effect.sync(() => order.push(name))))))
        yield* waitStats(pool, (s) => s.waiting === fibers.length)
      }
      yield* Deferred.succeed(holder, undefined)
      yield* Fiber.join(held)
      for (const fiber of fibers) yield* Fiber.join(fiber)
      expect(order).toEqual(["1", "2", "3", "4"])
      expect(server.peakConnections()).toBe(1)
    }).pipe(Effect.provide(NodeTransport.layer)))

  it.scopedLive("an interrupted waiter leaks nothing; a failed connect frees its slot", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const pool = yield* ConnectionPool.make({ baseUrl: server.url, maxConnections: 1 })
      const scope = yield* Scope.make()
      yield* pool.acquire("/a").pipe(Scope.extend(scope))
      const waiter = yield* Effect.fork(Effect.scoped(pool.acquire("/a")))
      yield* waitStats(pool, (s) => s.waiting === 1)
      yield* Fiber.interrupt(waiter)
      expect((yield* pool.stats)).toMatchObject({ waiting: 0, active: 1, total: 1 })
      yield* Scope.close(scope, Exit.void)
      expect((yield* pool.stats)).toMatchObject({ waiting: 0, active: 0, idle: 1, total: 1 })

      server.setUpgrade(TestServer.refuse(503))
      const error = yield* Effect.flip(Effect.scoped(pool.acquire("/other")))
      expect(error._tag).toBe("ConnectionRefusedError")
      // The idle "/a" connection was closed to make room; the failed connect gave its slot back.
      yield* waitStats(pool, (s) => s.total === 0 && s.active === 0 && s.waiting === 0)
      server.setUpgrade(() => "accept")
      const ws = yield* Effect.scoped(pool.acquire("/other"))
      expect(yield* ws.state).toBe("Connected")

      const invalid = yield* Effect.flip(Effect.scoped(pool.acquire("http://127.0.0.1:1/x")))
      expect(invalid._tag).toBe("ConnectionRefusedError")
    }).pipe(Effect.provide(NodeTransport.layer)))

  it.scopedLive("stats count messages across the pool, closed connections included", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const pool = yield* ConnectionPool.make({ baseUrl: server.url, maxConnections: 1 })
      for (const path of ["/a", "/b", "/a"]) {
        yield* Effect.scoped(Effect.gen(function*() {
          const ws = yield* pool.acquire(path)
          yield* ws.send({ path })
          yield* ws.recv({ timeout: "5 seconds" })
        }))
      }
      const stats = yield* waitStats(pool, (s) => s.closing === 0)
      expect(stats).toMatchObject({ total: 1, idle: 1, created: 3, closed: 2, messagesSent: 3, messagesReceived: 3 })
    }).pipe(Effect.provide(NodeTransport.layer)))

  it.scopedLive("used as a Layer: the service tag, Layer.provide, lazy connections", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      // Building the contract layer opens nothing (its URL is never dialled).
      yield* Effect.scoped(Layer.build(contract.pipe(Layer.provide(NodeTransport.layer))))
      const PoolLive = ConnectionPool.layer({ baseUrl: server.url, maxConnections: 2 }).pipe(
        Layer.provide(NodeTransport.layer)
      )
      const result = yield* Effect.gen(function*() {
        const pool = yield* ConnectionPool.ConnectionPool
        expect(ConnectionPool.isConnectionPool(pool)).toBe(true)
        expect(pool.maxConnections).toBe(2)
        expect((yield* pool.stats).total).toBe(0)
        return yield* Effect.scoped(Effect.gen(function*() {
          const ws = yield* pool.acquire("/svc")
          yield* ws.send({ hello: "pool" })
          return yield* ws.recv({ timeout: "5 seconds" })
        }))
      }).pipe(Effect.provide(PoolLive))
      expect(result).toEqual({ hello: "pool" })
      yield* server.waitUntil(() => server.closes().length === 1)
      expect(server.closes()[0]!.code).toBe(1000)
    }))

  it.scopedLive("closing the layer closes every connection with 1000 and fails waiters", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        ConnectionPool.layer({ baseUrl: server.url, maxConnections: 3 }).pipe(Layer.provide(NodeTransport.layer)),
        scope
      )
      const pool = yield* Effect.provide(ConnectionPool.ConnectionPool, context)
      const leases = yield* Scope.make()
      // Two idle, one active, one waiting.
      yield* Effect.scoped(Effect.all([pool.acquire("/a"), pool.acquire("/b")]))
      yield* pool.acquire("/c").pipe(Scope.extend(leases))
      yield* pool.acquire("/c").pipe(Scope.extend(leases))
      yield* pool.acquire("/a").pipe(Scope.extend(leases))
      const waiter = yield* Effect.fork(Effect.scoped(pool.acquire("/d", { timeout: "20 seconds" })))
      yield* waitStats(pool, (s) => s.waiting === 1)
      yield* server.waitUntil(() => server.connections().length === 3)
      yield* Scope.close(scope, Exit.void)
      const failed = yield* Effect.flip(Fiber.join(waiter))
      expect(failed._tag).toBe("InvalidStateError")
      yield* server.waitUntil(() => server.connections().length === 0, "10 seconds")
      const opened = server.connectionCount()
      expect(server.closes()).toHaveLength(opened)
      expect(server.closes().every((c) => c.code === 1000)).toBe(true)
      yield* Scope.close(leases, Exit.void)
      const after = yield* Effect.flip(Effect.scoped(pool.acquire("/a")))
      expect(after._tag).toBe("InvalidStateError")
    }))
})
