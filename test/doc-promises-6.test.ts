/**
 * Promises of docs/connection-pool.md that had no test: path resolution against `baseUrl`, what a
 * borrower sees when the pool closes, and `reconnect` on in `connectOptions` (a connection that is
 * reconnecting when returned is kept). Black-box through the public API against a real server on
 * 127.0.0.1.
 */
import { describe, expect } from "@effect/vitest"
import { Effect, Exit, Layer, Scope } from "effect"
import * as ConnectionPool from "../src/ConnectionPool.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"
import { live, until } from "./fixtures/clock.js"

describe("docs/connection-pool.md", () => {
  // "with `baseUrl: "ws://host:8080/api"`, `acquire("quotes")` opens `ws://host:8080/api/quotes` and
  // `acquire("/quotes")` opens `ws://host:8080/quotes`"; "absolute `ws:`/`wss:` URLs are used as they
  // are"; "Each distinct URL has its own idle connections".
  live("paths resolve against baseUrl: relative under its path, absolute from the root; absolute URLs as they are", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const other = yield* TestServer.make({ handler: TestServer.echo })
      const pool = yield* ConnectionPool.make({ baseUrl: `${server.url}/api`, connectOptions: { heartbeat: false } })
      yield* Effect.scoped(pool.acquire("quotes"))
      yield* Effect.scoped(pool.acquire("/quotes"))
      yield* Effect.scoped(pool.acquire(`${other.url}/elsewhere`))
      expect(server.connections().map((c) => c.url)).toEqual(["/api/quotes", "/quotes"])
      expect(other.connections().map((c) => c.url)).toEqual(["/elsewhere"])
      // each URL reuses its own idle connection
      yield* Effect.scoped(pool.acquire("quotes"))
      yield* Effect.scoped(pool.acquire("/quotes"))
      expect(server.connectionCount()).toBe(2)
      expect(yield* pool.stats).toMatchObject({ idle: 3, total: 3 })
    }))

  // "After the pool is closed, `acquire` fails with `InvalidStateError { operation: "acquire" }`";
  // Closing: "A borrower that still holds a connection sees it `Closed`; returning it afterwards is
  // harmless."
  live("after the pool closes: a borrower's connection is Closed, returning it is harmless, acquire fails", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        ConnectionPool.layer({ baseUrl: server.url, connectOptions: { heartbeat: false } }).pipe(Layer.provide(NodeTransport.layer)),
        scope
      )
      const pool = yield* Effect.provide(ConnectionPool.ConnectionPool, context)
      const lease = yield* Scope.make()
      const ws = yield* pool.acquire("/a").pipe(Scope.extend(lease))
      yield* Scope.close(scope, Exit.void)
      expect(yield* ws.state).toBe("Closed")
      expect(server.closes().map((c) => c.code)).toEqual([1000])
      yield* Scope.close(lease, Exit.void)
      const error = yield* Effect.flip(Effect.scoped(pool.acquire("/a")))
      expect(error).toMatchObject({ _tag: "InvalidStateError", operation: "acquire" })
      expect(server.connectionCount()).toBe(1)
    }))

  // "With `reconnect` on, a connection that is reconnecting when it is returned is kept (the client
  // heals it); one that is `Closed` or `Failed` is still discarded."
  live("with reconnect on, a connection returned while reconnecting is kept; with it off, discarded", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const pool = yield* ConnectionPool.make({
        baseUrl: server.url,
        connectOptions: { heartbeat: false, reconnect: { base: "1 hour", jitter: false } }
      })
      const lease = yield* Scope.make()
      const ws = yield* pool.acquire("/a").pipe(Scope.extend(lease))
      server.dropAll()
      // it drops, steps the schedule and waits an hour before reconnecting
      yield* until(() => Effect.runSync(ws.state) === "BackingOff", "BackingOff")
      yield* Scope.close(lease, Exit.void)
      expect(yield* pool.stats).toMatchObject({ idle: 1, total: 1, closed: 0 })
      const again = yield* pool.acquire("/a").pipe(Effect.scoped)
      expect(again).toBe(ws)
      // with reconnect off (the pool's default), the same drop discards it
      const plain = yield* ConnectionPool.make({ baseUrl: server.url, connectOptions: { heartbeat: false } })
      const lease2 = yield* Scope.make()
      const ws2 = yield* plain.acquire("/b").pipe(Scope.extend(lease2))
      server.dropAll()
      yield* until(() => Effect.runSync(ws2.state) === "Failed", "Failed")
      yield* Scope.close(lease2, Exit.void)
      yield* until(() => Effect.runSync(plain.stats).total === 0, "the discard")
      expect(yield* plain.stats).toMatchObject({ idle: 0 })
    }))
})
