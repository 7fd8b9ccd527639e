/**
 * A pending `request` across a reconnect: its reply can only come on the
 * connection it went out on, so a drop fails it at once with the error that
 * ended the connection — not after its own (30 s here) timeout — unless the
 * caller asked for `resendOnReconnect`, which sends it again on the next
 * connection. Against a plain `ws` server, the RawServer and the TestServer.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type { WebSocket } from "ws"
import * as JetSocket from "../src/JetSocket.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as RawServer from "../src/RawServer.js"
import * as TestServer from "../src/TestServer.js"
import { wsServer } from "./fixtures/wsServer.js"

const live = <A, E>(name: string, body: () => Effect.Effect<A, E, any>) =>
  it.scopedLive(name, () => body().pipe(Effect.provide(NodeTransport.layer)), 30_000)

const reconnect = { base: "10 millis", jitter: false } as const
const match = (id: number) => (message: any) => message?.id === id

/** Runs `effect`, returning its failure and how long it took (a 10 s bound turns a hang into "hung"). */
const timedFailure = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const started = Date.now()
    const error = yield* effect.pipe(
      Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => "hung" as const }),
      Effect.flip
    )
    return { error, ms: Date.now() - started }
  })

describe("a pending request across a reconnect", () => {
  live("fails at once with ConnectionClosedError 1006 when a ws server drops the connection (timeout 30 s)", () =>
    Effect.gen(function*() {
      const server = yield* wsServer({
        onConnection: (socket: WebSocket) => socket.on("message", () => socket.terminate())
      })
      const ws = yield* JetSocket.connect(server.url, { heartbeat: false, reconnect })
      const { error, ms } = yield* timedFailure(ws.request({ id: 1 }, { match: match(1), timeout: "30 seconds" }))
      expect(error).toMatchObject({ _tag: "ConnectionClosedError", code: 1006, wasClean: false })
      expect(ms).toBeLessThan(2_000)
      // The client reconnects and carries on (the server accepts before the client sees it open: wait for both).
      for (let i = 0; i < 500 && !(server.sockets.length === 2 && (yield* ws.state) === "Connected"); i++) {
        yield* Effect.promise(() => new Promise((r) => setTimeout(r, 10)))
      }
      expect(server.sockets.length).toBe(2)
      expect(yield* ws.state).toBe("Connected")
    }))

  live("fails at once with the server's close code (TestServer closes with 4000)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: (c) => c.onMessage(() => c.close(4000, "go away")) })
      const ws = yield* JetSocket.connect(server.url, { heartbeat: false, reconnect })
      const { error, ms } = yield* timedFailure(ws.request({ id: 7 }, { match: match(7), timeout: "30 seconds" }))
      expect(error).toMatchObject({ _tag: "ConnectionClosedError", code: 4000, reason: "go away" })
      expect(ms).toBeLessThan(2_000)
    }))

  live("fails at once when a RawServer destroys the TCP connection mid-request", () =>
    Effect.gen(function*() {
      const server = yield* RawServer.make({
        handler: (connection) => connection.onFrame((frame) => (frame.opcode === 0x1 ? connection.destroy() : undefined))
      })
      const ws = yield* JetSocket.connect(server.url, { heartbeat: false, reconnect })
      const { error, ms } = yield* timedFailure(ws.request({ id: 2 }, { match: match(2), timeout: "30 seconds" }))
      expect(error).toMatchObject({ _tag: "ConnectionClosedError", code: 1006 })
      expect(ms).toBeLessThan(2_000)
    }))

  live("with resendOnReconnect it is sent again on the next connection and answered there (ws server)", () =>
    Effect.gen(function*() {
      const seen: Array<{ readonly connection: number; readonly data: string }> = []
      let connections = 0
      const server = yield* wsServer({
        onConnection: (socket: WebSocket) => {
          const connection = ++connections
          socket.on("message", (data) => {
            seen.push({ connection, data: String(data) })
            // The first connection dies with the request unanswered; the second answers it.
            if (connection === 1) socket.terminate()
            else socket.send(JSON.stringify({ id: JSON.parse(String(data)).id, reply: "pong" }))
          })
        }
      })
      const ws = yield* JetSocket.connect(server.url, { heartbeat: false, reconnect })
      const reply = yield* ws.request({ id: 3 }, { match: match(3), timeout: "10 seconds", resendOnReconnect: true })
      expect(reply).toEqual({ id: 3, reply: "pong" })
      expect(seen).toEqual([{ connection: 1, data: "{\"id\":3}" }, { connection: 2, data: "{\"id\":3}" }])
    }))
})
