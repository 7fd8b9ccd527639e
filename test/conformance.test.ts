/**
 * Autobahn-style conformance: each case's bytes replayed from RawServer,
 * whole and octet by octet; the client must echo, or fail with the typed
 * error and the right close code.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Either, Option, Stream, TestClock } from "effect"
import * as JetSocket from "../src/JetSocket.js"
import type { JetSocketEvent } from "../src/JetSocketEvent.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as RawServer from "../src/RawServer.js"
import { type Case, conformanceCases, type Message } from "./conformance-cases.js"
import { ioTurns, recordEvents } from "./fixtures/helpers.js"

/** Cases larger than this are delivered octet by octet for their first OCTET_PREFIX bytes, then the rest whole. */
const OCTET_LIMIT = 16 * 1024
const OCTET_PREFIX = 4 * 1024

let total = 0
let passed = 0

const norm = (m: unknown): string =>
  typeof m === "string" ? `t:${m.length}:${m}` : m instanceof Uint8Array ? `b:${Buffer.from(m).toString("hex")}` : `?:${String(m)}`
const normExpected = (m: Message): string =>
  "text" in m ? `t:${m.text.length}:${m.text}` : `b:${Buffer.from(m.binary).toString("hex")}`

/** Reassembles the client's data frames (after the handshake) into messages. */
const echoedMessages = (frames: ReadonlyArray<RawServer.Frame>): Array<string> => {
  const out: Array<string> = []
  let parts: Array<Buffer> = []
  let opcode = 0
  let compressed = false
  // the client compresses with context takeover: inflate the cumulative stream, keep the new suffix
  const stream: Array<Buffer> = []
  let inflatedSoFar = 0
  for (const f of frames) {
    if (f.opcode >= 8) continue
    if (f.opcode !== 0) {
      opcode = f.opcode
      compressed = f.rsv1
      parts = []
    }
    parts.push(Buffer.from(f.payload))
    if (f.fin) {
      let data: Buffer = Buffer.concat(parts)
      if (compressed) {
        stream.push(data, Buffer.from([0x00, 0x00, 0xff, 0xff]))
        const all = RawServer.inflate(Buffer.concat(stream).subarray(0, -4))
        data = all.subarray(inflatedSoFar)
        inflatedSoFar = all.length
      }
      out.push(opcode === 1 ? `t:${data.toString("utf8").length}:${data.toString("utf8")}` : `b:${data.toString("hex")}`)
    }
  }
  return out
}

const deliver = (connection: RawServer.RawConnection, bytes: Buffer, octets: boolean) => {
  if (!octets) return connection.write(bytes)
  if (bytes.length <= OCTET_LIMIT) return void connection.writeOctets(bytes)
  void connection.writeOctets(bytes.subarray(0, OCTET_PREFIX)).then(() => connection.write(bytes.subarray(OCTET_PREFIX)))
}

const runCase = (c: Case, octets: boolean) =>
  Effect.gen(function*() {
    const server = yield* RawServer.make({
      deflate: c.deflate ?? false,
      handler: (connection) => deliver(connection, c.bytes, octets)
    })
    const ws = yield* JetSocket.connect<unknown>(server.url, {
      codec: "text",
      reconnect: false,
      heartbeat: false,
      compression: c.deflate ? { threshold: 0 } : false,
      closeTimeout: Duration.seconds(2),
      ...(c.maxMessageSize !== undefined ? { maxMessageSize: c.maxMessageSize } : {})
    })
    const outcome = c.outcome
    const expected = (outcome.messages ?? []).map(normExpected)
    if (outcome.kind === "echo") {
      const got = yield* ws.messages.pipe(
        Stream.take(expected.length),
        Stream.tap((m) => typeof m === "string" ? ws.sendText(m) : ws.sendBinary(m as Uint8Array)),
        Stream.runCollect,
        Effect.timeoutFail({ duration: Duration.seconds(20), onTimeout: () => new Error(`${c.id}: timed out`) })
      )
      expect(Chunk.toArray(got).map(norm)).toEqual(expected)
      const conn = () => server.connections()[0]
      yield* server.waitUntil(() => {
        const frames = conn()?.frames() ?? []
        return echoedMessages(frames).length >= expected.length &&
          frames.filter((f) => f.opcode === 0xa).length >= (outcome.pongs?.length ?? 0)
      }, 20_000)
      const frames = conn()!.frames()
      expect(echoedMessages(frames)).toEqual(expected)
      const pongs = frames.filter((f) => f.opcode === 0xa).map((f) => Buffer.from(f.payload).toString("hex"))
      expect(pongs).toEqual((outcome.pongs ?? []).map((p) => Buffer.from(p).toString("hex")))
      expect(server.connectionCount()).toBe(1)
    } else {
      // every message the stream delivers, in order, including those before a failure
      const delivered: Array<string> = []
      const result = yield* ws.messages.pipe(
        Stream.tap((m) => Effect.sync(() => delivered.push(norm(m)))),
        Stream.runDrain,
        Effect.either,
        Effect.timeoutFail({ duration: Duration.seconds(20), onTimeout: () => new Error(`${c.id}: timed out`) })
      )
      if (outcome.kind === "error") {
        expect(Either.isLeft(result), `${c.id} should fail`).toBe(true)
        expect(Either.getLeft(result).pipe(Option.getOrUndefined)).toMatchObject({
          _tag: "InvalidFrameError",
          closeCode: outcome.closeCode
        })
        // the messages before the violation are delivered, in order, and none is invented
        expect(delivered, `${c.id}: messages before the violation`).toEqual(expected)
        // the client tells the server why: a close frame with exactly that code (dropping TCP is not enough)
        yield* server.waitUntil(
          () => server.connections()[0]?.closed() === true || (server.connections()[0]?.frames() ?? []).some((f) => f.opcode === 8),
          10_000
        )
        const close = server.connections()[0]!.frames().find((f) => f.opcode === 8)
        expect(close, `${c.id}: the client sent a close frame`).toBeDefined()
        expect(close!.payload.length, `${c.id}: close frame carries a code`).toBeGreaterThanOrEqual(2)
        expect(Buffer.from(close!.payload).readUInt16BE(0)).toBe(outcome.closeCode)
      } else {
        // a peer close: with reconnect off, messages fails with the peer's code and reason
        // (docs/reconnection.md: "any other close (1000 and 1001 from the server included)")
        expect(Either.isLeft(result), `${c.id} should fail with ConnectionClosedError`).toBe(true)
        expect(Either.getLeft(result).pipe(Option.getOrUndefined)).toMatchObject({
          _tag: "ConnectionClosedError",
          code: outcome.echoCode,
          reason: outcome.reason ?? "",
          wasClean: true
        })
        expect(delivered, `${c.id}: messages before the close`).toEqual(expected)
        yield* server.waitUntil(() => (server.connections()[0]?.frames() ?? []).some((f) => f.opcode === 8), 10_000)
        const close = server.connections()[0]!.frames().find((f) => f.opcode === 8)!
        const echoed = close.payload.length >= 2 ? Buffer.from(close.payload).readUInt16BE(0) : 1005
        expect(echoed).toBe(outcome.echoCode === 1005 ? 1005 : outcome.echoCode)
      }
      expect(server.connectionCount()).toBe(1)
    }
  }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))

describe("conformance (Autobahn client cases, replayed)", () => {
  afterAll(() => {
    // eslint-disable-next-line no-console
    console.log(`conformance: ${total} cases, ${passed} passed`)
  })
  for (const mode of ["whole", "octets"] as const) {
    describe(mode, () => {
      for (const c of conformanceCases) {
        it.live(`${c.id} ${c.description}`, () => {
          total++
          return runCase(c, mode === "octets").pipe(Effect.tap(() => Effect.sync(() => passed++)))
        }, 60_000)
      }
    })
  }

  // TestClock: the backoff runs on the Effect Clock, so "not before its delay" is exact: one
  // millisecond short of each delay no new connection comes, at the delay it does.
  it.effect("a protocol violation is not retried in a tight loop: each retry waits its backoff", () =>
    Effect.gen(function*() {
      const server = yield* RawServer.make({ handler: (connection) => connection.write(RawServer.frame(0x3, "x")) })
      const ws = yield* JetSocket.make<unknown>(server.url, { codec: "text", heartbeat: false, reconnect: { base: 100, jitter: false } })
      const events = yield* recordEvents(ws)
      const backingOff = (n: number) =>
        server.waitUntil(() => events.filter((e) => e._tag === "Reconnecting").length === n, 10_000)
      for (const [i, delay] of [100, 200, 400].entries()) {
        yield* backingOff(i + 1)
        const reconnecting = events.filter((e): e is Extract<JetSocketEvent, { _tag: "Reconnecting" }> => e._tag === "Reconnecting")
        expect(Duration.toMillis(reconnecting[i]!.delay)).toBe(delay)
        expect(server.connectionCount()).toBe(i + 1)
        yield* TestClock.adjust(delay - 1)
        yield* ioTurns(5)
        expect(server.connectionCount()).toBe(i + 1)
        yield* TestClock.adjust(1)
        yield* server.waitUntil(() => server.connectionCount() === i + 2, 10_000)
      }
      yield* ws.close()
    }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer)), 30_000)
})
