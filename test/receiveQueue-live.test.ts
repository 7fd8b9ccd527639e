import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import * as JetSocket from "../src/JetSocket.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"
import { ioTurns } from "./fixtures/helpers.js"

/** 30 000 messages of about 1 KiB: ~30 MB, more than loopback's kernel buffers hold. */
const TOTAL = 30_000
const CAPACITY = 50
const PAD = "p".repeat(1000)
type Item = { readonly seq: number; readonly pad: string }

const realSleep = (ms: number) => Effect.promise(() => new Promise<void>((r) => setTimeout(r, ms)))

/** Polls (real time, bounded) until `predicate` holds. */
const until = (predicate: () => Effect.Effect<boolean>, timeoutMs = 30_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (!(yield* predicate())) {
      if (Date.now() > deadline) return yield* Effect.die(new Error("condition not reached in time"))
      yield* realSleep(10)
    }
  })

describe("backpressure buffer (the back-pressure Queue) against a real feed", () => {
  it.scopedLive("reading pauses at capacity (the feed stalls in TCP), resumes as the consumer drains, all delivered in order", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({
        handler: TestServer.sequenced({ to: TOTAL, batch: 200, make: () => ({ pad: PAD }) })
      })
      const ws = yield* JetSocket.make<Item>(server.url, { buffer: { capacity: CAPACITY, overflowPolicy: "backpressure" } })
      yield* ws.ready
      // Nobody consumes: the buffer fills up to capacity and the socket is paused.
      yield* until(() => Effect.map(ws.stats, (s) => s.bufferSize >= CAPACITY))
      // The stall reaches the server: its socket holds unsent bytes, so the client's kernel buffer
      // is full of unread data; a few I/O turns later a reading socket would have taken some.
      yield* until(() => Effect.sync(() => server.connections()[0]!.socket.bufferedAmount > 0))
      const paused = yield* ws.stats
      yield* ioTurns(5)
      const later = yield* ws.stats
      // Paused: nothing more is read (the rest waits in the kernel and on the server).
      expect(later.messagesReceived).toBe(paused.messagesReceived)
      expect(paused.messagesReceived).toBeLessThan(TOTAL)
      // At most one socket read (~64 KiB, ~63 messages here) past the bound.
      expect(paused.bufferSize).toBeLessThanOrEqual(CAPACITY + 100)
      expect(server.connections()[0]!.socket.bufferedAmount).toBeGreaterThan(0)
      // Draining resumes reading: every message arrives, in order, none dropped.
      const seqs = yield* ws.messages.pipe(
        Stream.take(TOTAL),
        Stream.map((m) => m.seq),
        Stream.runCollect,
        Effect.map(Chunk.toReadonlyArray),
        // a lost message would leave `take` waiting: fail instead
        Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error("not every message was delivered") })
      )
      expect(seqs.length).toBe(TOTAL)
      expect(seqs.every((seq, i) => seq === i + 1)).toBe(true)
      const end = yield* ws.stats
      expect(end.dropped).toBe(0)
      expect(end.messagesReceived).toBe(TOTAL)
    }).pipe(Effect.provide(NodeTransport.layer)), 120_000)
})
