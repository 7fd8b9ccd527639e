import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Fiber, Stream } from "effect"
import * as JetSocket from "../src/JetSocket.js"
import type { JetSocketEvent } from "../src/JetSocketEvent.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"
import { recordEvents } from "./fixtures/helpers.js"

type Item = { readonly seq: number }


const until = (predicate: () => boolean, timeoutMs = 30_000, what = "condition") =>
  TestServer.waitUntil(predicate, timeoutMs).pipe(Effect.orDieWith(() => new Error(`${what} not reached in time`)))

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

const live = <A, E>(name: string, body: () => Effect.Effect<A, E, any>, timeout = 120_000) =>
  it.scopedLive(name, () => body().pipe(Effect.provide(NodeTransport.layer)), timeout)

/** Fast reconnects that never grow past 50 ms, even when drops follow each other closely. */
const reconnect = { base: "5 millis", cap: "50 millis", jitter: false } as const

/** Reads `n` messages while the server drops the connection `drops` times, spread over the run. */
const consumeAcrossDrops = (ws: JetSocket.JetSocket<{ seq: number }>, server: TestServer.TestServer, n: number, drops: number) =>
  Effect.gen(function*() {
    const seqs: Array<number> = []
    const consumer = yield* ws.messages.pipe(
      Stream.take(n),
      Stream.runForEach((m) => Effect.sync(() => seqs.push(m.seq))),
      Effect.fork
    )
    for (let drop = 1; drop <= drops; drop++) {
      yield* until(() => seqs.length >= Math.floor((drop * n) / (drops + 2)), 60_000, `progress before drop ${drop}`)
      yield* until(() => server.connections().length === 1, 30_000, `connection ${drop}`)
      server.dropAll()
      yield* until(() => server.connectionCount() === drop + 1, 30_000, `reconnect ${drop}`)
    }
    yield* Fiber.join(consumer)
    return seqs
  })

describe("dedup", () => {
  live("a server that repeats a range after a reconnect: each key is delivered once", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({
        handler: (connection) =>
          connection.id === 0
            ? TestServer.sequenced({ from: 1, to: 60 })(connection)
            // After the reconnect the server starts over from 41: 41..60 are repeats.
            : TestServer.sequenced({ from: 41, to: 100 })(connection)
      })
      const ws = yield* JetSocket.connect<Item>(server.url, {
        reconnect,
        buffer: { capacity: 1000, dedup: { window: 100, key: (m) => m.seq } }
      })
      yield* until(() => Effect.runSync(ws.stats).messagesReceived === 60, 10_000, "first 60 received")
      server.dropAll()
      const delivered = Chunk.toReadonlyArray(yield* ws.messages.pipe(Stream.take(100), Stream.runCollect))
      expect(delivered.map((m) => m.seq)).toEqual(range(1, 100))
      const stats = yield* ws.stats
      expect(stats.deduplicated).toBe(20)
      expect(stats.messagesReceived).toBe(120)
      expect(stats.reconnects).toBe(1)
      expect(stats.bufferSize).toBe(0)
    }))
})

/** A feed that resumes after the sequence number the client asks for with `{ resume }`. */
const resumableFeed = (to: number, options: { readonly overlap?: number } = {}) => (connection: TestServer.ServerConnection) => {
  const feed = (from: number) => TestServer.sequenced({ from, to, batch: 20, intervalMs: 1 })(connection)
  if (connection.id === 0) return feed(1)
  let started = false
  connection.onMessage((data) => {
    if (started || typeof data !== "string") return
    const message = JSON.parse(data) as { resume?: number | null }
    if (!("resume" in message)) return
    started = true
    feed((message.resume ?? 0) + 1 - (options.overlap ?? 0))
  })
}

describe("sequence_id replay", () => {
  live("20 forced drops: onReplay asks to resume from the last sequence id; 1..N exactly once, in order", () =>
    Effect.gen(function*() {
      const N = 4000
      const DROPS = 20
      const server = yield* TestServer.make({ handler: resumableFeed(N) })
      const resumes: Array<unknown> = []
      const ws = yield* JetSocket.connect<Item>(server.url, {
        reconnect,
        replay: {
          mode: "sequence_id",
          sequenceKey: (m) => m.seq,
          // takes 10 ms (so ReplayCompleted's duration is measurable) and returns how many
          // replays so far (ReplayCompleted's `replayed` is what onReplay returns)
          onReplay: (lastSequenceId, send) =>
            send({ resume: lastSequenceId }).pipe(
              Effect.zipRight(Effect.sleep("10 millis")),
              Effect.zipRight(Effect.sync(() => resumes.push(lastSequenceId)))
            )
        }
      })
      const events = yield* recordEvents(ws)
      const seqs = yield* consumeAcrossDrops(ws, server, N, DROPS)
      expect(seqs.length).toBe(N)
      expect(seqs).toEqual(range(1, N))
      expect(server.connectionCount()).toBe(DROPS + 1)
      // onReplay ran once per reconnect, each time with the last id delivered so far (increasing).
      expect(resumes.length).toBe(DROPS)
      expect(resumes.every((id, i) => typeof id === "number" && (i === 0 || id >= (resumes[i - 1] as number)))).toBe(true)
      yield* until(() => events.filter((e) => e._tag === "ReplayCompleted").length === DROPS, 5_000, "replay events")
      const started = events.filter((e): e is Extract<JetSocketEvent, { _tag: "ReplayStarted" }> => e._tag === "ReplayStarted")
      expect(started.length).toBe(DROPS)
      expect(started.map((e) => e.lastSequenceId)).toEqual(resumes)
      expect(started.every((e) => e.mode === "sequence_id")).toBe(true)
      const completed = events.filter((e): e is Extract<JetSocketEvent, { _tag: "ReplayCompleted" }> => e._tag === "ReplayCompleted")
      expect(completed.map((e) => e.replayed)).toEqual(range(1, DROPS))
      // each replay's duration is the time from its ReplayStarted to its ReplayCompleted (≥ the 10 ms onReplay took)
      completed.forEach((e, i) => {
        const ms = Duration.toMillis(e.duration)
        expect(ms).toBeGreaterThanOrEqual(10)
        expect(Math.abs(ms - (e.timestamp - started[i]!.timestamp))).toBeLessThanOrEqual(1)
      })
      // Each ReplayStarted comes before its ReplayCompleted, and both before the Connected of that reconnect.
      const tags = events.map((e) => e._tag).filter((t) => t === "ReplayStarted" || t === "ReplayCompleted" || t === "Connected")
      // (subscribed after the first Connected)
      expect(tags.slice(0, 6)).toEqual(["ReplayStarted", "ReplayCompleted", "Connected", "ReplayStarted", "ReplayCompleted", "Connected"])
      expect((yield* ws.stats).reconnects).toBe(DROPS)
    }))

  live("replay plus dedup: a server that resumes a little early (overlap) still yields each id once", () =>
    Effect.gen(function*() {
      const N = 2000
      const DROPS = 5
      const server = yield* TestServer.make({ handler: resumableFeed(N, { overlap: 10 }) })
      const ws = yield* JetSocket.connect<Item>(server.url, {
        reconnect,
        buffer: { dedup: { window: 1000, key: (m) => m.seq } },
        replay: { mode: "sequence_id", sequenceKey: (m) => m.seq, onReplay: (last, send) => send({ resume: last }) }
      })
      const seqs = yield* consumeAcrossDrops(ws, server, N, DROPS)
      expect(seqs).toEqual(range(1, N))
      expect((yield* ws.stats).deduplicated).toBeGreaterThanOrEqual(DROPS * 10 - 10)
    }))
})

describe("full_buffer replay", () => {
  live("sends queued while disconnected are re-sent in order on the next connection, framed by replay events", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const ws = yield* JetSocket.connect(server.url, { reconnect, replay: { mode: "full_buffer" } })
      const events = yield* recordEvents(ws)
      yield* ws.send({ n: 0 })
      yield* server.waitUntil(() => server.received().length === 1)
      yield* server.stop
      yield* until(() => {
        const state = Effect.runSync(ws.state)
        return state === "BackingOff" || state === "Reconnecting"
      }, 10_000, "disconnected")
      for (const n of range(1, 5)) yield* ws.send({ n })
      expect((yield* ws.stats).sendQueueSize).toBe(5)
      yield* server.start
      yield* server.waitUntil(() => server.received().length === 6, "10 seconds")
      expect(server.receivedJson()).toEqual(range(0, 5).map((n) => ({ n })))
      expect(server.received().slice(1).every((r) => r.connection === 1)).toBe(true)
      yield* until(() => events.some((e) => e._tag === "ReplayCompleted"), 5_000, "ReplayCompleted")
      const started = events.find((e) => e._tag === "ReplayStarted")
      const completed = events.find((e) => e._tag === "ReplayCompleted")
      expect(started).toMatchObject({ _tag: "ReplayStarted", mode: "full_buffer" })
      expect(completed).toMatchObject({ _tag: "ReplayCompleted", replayed: 5 })
      expect((yield* ws.stats).sendQueueSize).toBe(0)
      // New sends go after the replayed ones.
      yield* ws.send({ n: 6 })
      yield* server.waitUntil(() => server.received().length === 7)
      expect(server.receivedJson()[6]).toEqual({ n: 6 })
    }))

  live("frames the dead socket never confirmed writing are re-sent in order on the next connection", () =>
    Effect.gen(function*() {
      const M = 5
      const K = 400
      const server = yield* TestServer.make({
        handler: (connection) => {
          // The first connection reads the first M messages, then stops reading at the TCP level:
          // the client's later writes back up.
          if (connection.id !== 0) return
          let read = 0
          connection.onMessage(() => {
            if (++read === M) (connection.socket as unknown as { _socket: { pause(): void } })._socket.pause()
          })
        }
      })
      const ws = yield* JetSocket.connect(server.url, { reconnect, replay: { mode: "full_buffer" }, heartbeat: false })
      const events = yield* recordEvents(ws)
      for (let n = 1; n <= M; n++) yield* ws.send({ n })
      // The event that proves the first M writes confirmed: the server has read every byte of them
      // (nothing else was written yet), so each write request holding them has completed, and its
      // callback runs before the client can see the drop below (a later turn of the event loop).
      yield* server.waitUntil(() => server.received().length === M)
      const chunk = "c".repeat(64 * 1024)
      for (let n = M + 1; n <= M + K; n++) yield* ws.send({ n, chunk })
      // ~25.6 MB cannot all fit in the loopback socket buffers (a few MB: the reader is paused, so
      // its receive buffer does not grow): part of it is unconfirmed, whenever the drop comes.
      server.dropAll()
      yield* until(() => events.some((e) => e._tag === "ReplayCompleted"), 30_000, "ReplayCompleted")
      const completed = events.find((e): e is Extract<JetSocketEvent, { _tag: "ReplayCompleted" }> => e._tag === "ReplayCompleted")!
      const replayed = completed.replayed
      expect(replayed).toBeGreaterThan(0)
      expect(replayed).toBeLessThanOrEqual(K)
      yield* server.waitUntil(() => server.received().filter((r) => r.connection === 1).length === replayed, "30 seconds")
      const resent = server.received().filter((r) => r.connection === 1).map((r) => (JSON.parse(r.data as string) as { n: number }).n)
      // The unconfirmed tail, in order, ending with the last send; the confirmed first M never again.
      expect(resent).toEqual(range(M + K - replayed + 1, M + K))
      expect(server.received().filter((r) => r.connection === 0).map((r) => (JSON.parse(r.data as string) as { n: number }).n)).toEqual(range(1, M))
      console.log(`full_buffer: ${replayed} of ${K} frames (64 KiB) were unconfirmed at the drop and re-sent`)
    }))

  live("mode none: no replay events, onReplay is not involved", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const ws = yield* JetSocket.connect(server.url, { reconnect, replay: { mode: "none" } })
      const events = yield* recordEvents(ws)
      server.dropAll()
      yield* until(() => server.connectionCount() === 2 && Effect.runSync(ws.state) === "Connected", 10_000, "reconnected")
      yield* ws.send({ ok: true })
      expect(yield* ws.recv({ timeout: "5 seconds" })).toEqual({ ok: true })
      expect(events.some((e) => e._tag === "ReplayStarted" || e._tag === "ReplayCompleted")).toBe(false)
      expect(events.some((e) => e._tag === "Reconnected")).toBe(true)
    }))
})
