/**
 * Close is prompt while backpressure has paused reading: the peer's close
 * frame sits behind unread data, so a paused socket would wait the whole
 * `closeTimeout` (30 s here, so that the old behaviour cannot pass the 2 s
 * bound). Checked against a plain `ws` server and the kit's TestServer, by
 * what the server observes: the close code and when it saw it.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import type { WebSocket } from "ws"
import * as JetSocket from "../src/JetSocket.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"
import { wsServer } from "./fixtures/wsServer.js"

const FLOOD = 20_000
const CAPACITY = 16
const payload = JSON.stringify({ pad: "x".repeat(100) })

const live = <A, E>(name: string, body: () => Effect.Effect<A, E, any>) =>
  it.scopedLive(name, () => body().pipe(Effect.provide(NodeTransport.layer)), 30_000)

const until = (predicate: () => boolean | Promise<boolean>, what: string, ms = 10_000) =>
  Effect.promise(async () => {
    const deadline = Date.now() + ms
    while (!(await predicate())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise((r) => setTimeout(r, 5))
    }
  })

/**
 * A client with a lagging consumer under "backpressure", run in its own
 * fiber; returns once reading is paused (the buffer is full).
 */
const lagging = (url: string) =>
  Effect.gen(function*() {
    let client: JetSocket.JetSocket<unknown> | undefined
    let taken = 0
    const program = Effect.gen(function*() {
      const ws = yield* JetSocket.connect(url, {
        heartbeat: false,
        reconnect: false,
        closeTimeout: "30 seconds",
        buffer: { capacity: CAPACITY, overflowPolicy: "backpressure" }
      })
      client = ws
      // Takes one message, then lags "forever".
      yield* ws.messages.pipe(Stream.tap(() => Effect.sync(() => taken++).pipe(Effect.zipRight(Effect.sleep("1 hour")))), Stream.runDrain)
    }).pipe(Effect.scoped)
    const fiber = yield* Effect.forkDaemon(program)
    yield* until(() => taken === 1, "the first message")
    yield* until(
      () => Effect.runPromise(client!.stats).then((s) => s.bufferSize >= CAPACITY),
      "the buffer to fill (reading paused)"
    )
    return fiber
  })

describe("close while backpressure has paused reading", () => {
  live("interrupting a lagging consumer: a ws server sees close 1000 in well under a second (closeTimeout 30 s)", () =>
    Effect.gen(function*() {
      const observed: Array<{ readonly code: number; readonly at: number }> = []
      const server = yield* wsServer({
        onConnection: (socket: WebSocket) => {
          socket.on("close", (code) => observed.push({ code, at: Date.now() }))
          for (let i = 0; i < FLOOD; i++) socket.send(payload)
        }
      })
      const fiber = yield* lagging(server.url)
      const started = Date.now()
      yield* Fiber.interrupt(fiber)
      const interruptedAfter = Date.now() - started
      yield* until(() => observed.length === 1, "the server to see the close", 5_000)
      expect(observed.map((o) => o.code)).toEqual([1000])
      const serverSawAfter = observed[0]!.at - started
      expect(serverSawAfter).toBeLessThan(2_000)
      expect(interruptedAfter).toBeLessThan(2_000)
      // The handshake completed: the server's socket closed cleanly with the client's code.
      expect(server.closes).toEqual([{ code: 1000, reason: "" }])
    }))

  live("ws.close(4000) on a paused TestServer connection: the server sees 4000 at once, close returns promptly", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({
        handler: (connection) => {
          for (let i = 0; i < FLOOD; i++) connection.send(payload)
        }
      })
      const ws = yield* JetSocket.connect(server.url, {
        heartbeat: false,
        reconnect: false,
        closeTimeout: "30 seconds",
        buffer: { capacity: CAPACITY, overflowPolicy: "backpressure" }
      })
      // Nobody consumes: the buffer fills and reading pauses.
      yield* until(() => Effect.runPromise(ws.stats).then((s) => s.bufferSize >= CAPACITY), "the buffer to fill")
      const started = Date.now()
      yield* ws.close(4000, "bye")
      const closedAfter = Date.now() - started
      yield* until(() => server.closes().length === 1, "the server to see the close", 5_000)
      expect(server.closes().map((c) => [c.code, c.reason])).toEqual([[4000, "bye"]])
      expect(closedAfter).toBeLessThan(2_000)
      expect(yield* ws.state).toBe("Closed")
    }))
})
