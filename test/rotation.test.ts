/**
 * maxConnectionAge: make-before-break rotation over a sequenced feed.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import * as JetSocket from "../src/JetSocket.js"
import type { JetSocketEvent } from "../src/JetSocketEvent.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"

const live = <A, E>(name: string, body: () => Effect.Effect<A, E, any>) =>
  it.scopedLive(name, () => body().pipe(Effect.provide(NodeTransport.layer)), 60_000)

const realSleep = (ms: number) => Effect.promise(() => new Promise<void>((r) => setTimeout(r, ms)))
const until = (predicate: () => boolean, timeoutMs = 20_000) =>
  TestServer.waitUntil(predicate, timeoutMs).pipe(Effect.orDie)

/**
 * A pub/sub feed like an exchange's: every subscribed connection receives the
 * same global sequence, one message every ~2 ms, until `total`.
 */
const feedServer = (total: number) =>
  Effect.gen(function*() {
    const subscribed = new Set<TestServer.ServerConnection>()
    const server = yield* TestServer.make({
      handler: (connection) => {
        connection.onMessage((data) => {
          if (JSON.parse(String(data)).op === "subscribe") subscribed.add(connection)
        })
        connection.onClose(() => subscribed.delete(connection))
      }
    })
    let seq = 0
    yield* Effect.acquireRelease(
      Effect.sync(() =>
        setInterval(() => {
          if (seq >= total || subscribed.size === 0) return
          seq++
          for (const connection of subscribed) if (connection.isOpen()) connection.send({ seq })
        }, 2)
      ),
      (timer) => Effect.sync(() => clearInterval(timer))
    )
    return { server, sent: () => seq }
  })

describe("maxConnectionAge", () => {
  live("rotation over a sequenced feed: nothing lost, nothing duplicated, old sockets closed with 1000, none leaked", () =>
    Effect.gen(function*() {
      const total = 600
      const { sent, server } = yield* feedServer(total)
      const ws = yield* JetSocket.connect<{ seq: number }>(server.url, {
        heartbeat: false,
        maxConnectionAge: 250,
        buffer: { capacity: 10_000, dedup: { window: 1000, key: (m) => m.seq } }
      })
      const events: Array<JetSocketEvent> = []
      const stream = yield* ws.subscribeEvents
      yield* Effect.forkScoped(Stream.runForEach(stream, (e) => Effect.sync(() => events.push(e))))
      // Subscribe now, and again on every later connection (before messages flow).
      yield* ws.onConnect((context) => context.sendText(JSON.stringify({ op: "subscribe" })))
      yield* ws.sendText(JSON.stringify({ op: "subscribe" }))
      const got: Array<number> = []
      yield* Effect.forkScoped(Stream.runForEach(ws.messages, (m) => Effect.sync(() => got.push(m.seq))))
      yield* until(() => got.length > 0 && got[got.length - 1] === total && sent() === total)
      const rotations = server.closes().filter((c) => c.code === 1000 && c.reason === "connection rotated").length
      console.log(`[figure] ${total} sequenced messages over ${server.connectionCount()} connections (${rotations} rotations), dedup dropped ${(yield* ws.stats).deduplicated}`)
      expect(got).toEqual(Array.from({ length: total }, (_, i) => i + 1))
      expect(rotations).toBeGreaterThanOrEqual(2)
      expect(server.connectionCount()).toBeGreaterThanOrEqual(3)
      // Make-before-break: never more than old + new at once, and only the newest is left open.
      expect(server.peakConnections()).toBeLessThanOrEqual(2)
      yield* until(() => server.connections().length === 1)
      // Rotation is not an outage.
      expect(events.some((e) => e._tag === "Disconnected" || e._tag === "Reconnecting")).toBe(false)
      expect(yield* ws.state).toBe("Connected")
      yield* ws.close()
      yield* until(() => server.connections().length === 0)
    }))

  live("sends during rotation arrive once, in order", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const ws = yield* JetSocket.connect<{ n: number }>(server.url, { heartbeat: false, maxConnectionAge: 100 })
      for (let n = 1; n <= 300; n++) {
        yield* ws.send({ n })
        if (n % 20 === 0) yield* realSleep(20)
      }
      yield* until(() => server.receivedJson().length >= 300)
      // one more rotation after everything arrived (one that re-sent anything would do it now),
      // then a last message: when it arrives, whatever was sent before it has
      const connections = server.connectionCount()
      yield* until(() => server.connectionCount() > connections)
      yield* ws.send({ n: 301 })
      yield* until(() => server.receivedJson().some((m: any) => m.n === 301))
      expect(server.receivedJson().map((m: any) => m.n)).toEqual(Array.from({ length: 301 }, (_, i) => i + 1))
      expect(server.connectionCount()).toBeGreaterThanOrEqual(3)
    }))
})
