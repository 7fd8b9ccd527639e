import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Option, Stream } from "effect"
import { JetSocket } from "../src/index.js"
import { NodeTransport } from "../src/node.js"
import { TestServer } from "../src/testing.js"

interface Msg {
  readonly id: number
  readonly kind: string
}

/** Collects `count` requests, then answers them in reverse order (and an unsolicited message in between). */
const answerReversed = (count: number): TestServer.Handler => (connection) => {
  const seen: Array<Msg> = []
  connection.onMessage((data) => {
    seen.push(JSON.parse(String(data)) as Msg)
    if (seen.length === count) {
      connection.send(JSON.stringify({ id: -1, kind: "push" }))
      for (const m of [...seen].reverse()) connection.send(JSON.stringify({ id: m.id, kind: "reply" }))
    }
  })
}

describe("request/reply", () => {
  it.scopedLive("100 concurrent requests answered in reverse order each get their own reply", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: answerReversed(100) })
      const ws = yield* JetSocket.connect<Msg>(server.url, { heartbeat: false, reconnect: false })
      const ids = Array.from({ length: 100 }, (_, i) => i)
      const replies = yield* Effect.forEach(
        ids,
        (id) => ws.request({ id, kind: "req" }, { match: (m) => m.id === id && m.kind === "reply", timeout: "20 seconds" }),
        { concurrency: "unbounded" }
      )
      expect(replies.map((r) => r.id)).toEqual(ids)
      expect(replies.every((r) => r.kind === "reply")).toBe(true)
      // the matched replies were not also delivered to messages: only the unsolicited push is
      const next = yield* ws.recv({ timeout: "10 seconds" })
      expect(next).toEqual({ id: -1, kind: "push" })
    }).pipe(Effect.provide(NodeTransport.layer)), 40_000)

  it.scopedLive("a request with no reply fails with ConnectionTimeoutError { operation: 'request' }", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const ws = yield* JetSocket.connect<Msg>(server.url, { heartbeat: false, reconnect: false })
      const error = yield* ws.request({ id: 1, kind: "req" }, { match: (m) => m.id === 1, timeout: "200 millis" }).pipe(
        Effect.flip
      )
      expect(error._tag).toBe("ConnectionTimeoutError")
      if (error._tag === "ConnectionTimeoutError") expect(error.operation).toBe("request")
    }).pipe(Effect.provide(NodeTransport.layer)), 20_000)

  it.scopedLive("pending requests fail with the connection's error when it dies for good", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const ws = yield* JetSocket.connect<Msg>(server.url, { heartbeat: false, reconnect: false })
      const fiber = yield* Effect.fork(
        Effect.forEach([1, 2, 3], (id) => ws.request({ id, kind: "req" }, { match: (m) => m.id === id, timeout: "30 seconds" }).pipe(Effect.exit), { concurrency: "unbounded" })
      )
      yield* server.waitUntil(() => server.received().length >= 3, 10_000)
      server.closeAll(1008, "policy")
      const exits = yield* fiber.await.pipe(Effect.flatMap((e) => e))
      for (const exit of exits) {
        expect(Exit.isFailure(exit)).toBe(true)
        if (Exit.isFailure(exit)) {
          const error = Cause.failureOption(exit.cause)
          expect(Option.map(error, (e) => e._tag)).toEqual(Option.some("ConnectionClosedError"))
        }
      }
      const rest = yield* Stream.runCollect(ws.messages).pipe(Effect.flip)
      expect(rest._tag).toBe("ConnectionClosedError")
    }).pipe(Effect.provide(NodeTransport.layer)), 20_000)
})
