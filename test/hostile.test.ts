/** Hostile peers: bombs, oversize messages, bad handshakes. */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Option, Stream } from "effect"
import * as zlib from "node:zlib"
import * as JetSocket from "../src/JetSocket.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as RawServer from "../src/RawServer.js"

const opts = { codec: "text" as const, reconnect: false, heartbeat: false as const, closeTimeout: Duration.seconds(2) }
const failure = (ws: JetSocket.JetSocket<unknown>) =>
  ws.messages.pipe(Stream.runDrain, Effect.flip, Effect.timeout(Duration.seconds(20)))

describe("hostile peers", () => {
  it.live("a decompression bomb → InvalidFrameError 1009, memory bounded", () =>
    Effect.gen(function*() {
      // 256 MiB of zeros compresses to ~256 KiB; maxMessageSize 1 MiB
      const inflated = 256 * 1024 * 1024
      const z = zlib.deflateRawSync(Buffer.alloc(inflated), { finishFlush: zlib.constants.Z_SYNC_FLUSH, level: 9 })
      const bomb = RawServer.frame(0x1, z.subarray(0, z.length - 4), { rsv1: true })
      const server = yield* RawServer.make({ deflate: true, handler: (c) => c.write(bomb) })
      global.gc?.()
      const before = process.memoryUsage().rss
      const ws = yield* JetSocket.connect<unknown>(server.url, { ...opts, compression: true, maxMessageSize: 1024 * 1024 })
      const error = yield* failure(ws)
      const growth = process.memoryUsage().rss - before
      // eslint-disable-next-line no-console
      console.log(`hostile: bomb ${bomb.length} B compressed → ${inflated} B; rss growth ${(growth / 1048576).toFixed(1)} MiB`)
      expect(error).toMatchObject({ _tag: "InvalidFrameError", closeCode: 1009 })
      expect(growth).toBeLessThan(64 * 1024 * 1024)
    }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer)), 60_000)

  it.live("a 123-byte close reason is accepted; a 124-byte one (126-byte control payload) is 1002", () =>
    Effect.gen(function*() {
      const ok = yield* RawServer.make({ handler: (c) => c.write(RawServer.frame(0x8, RawServer.closePayload(4000, "r".repeat(123)))) })
      const a = yield* JetSocket.connect<unknown>(ok.url, opts)
      // accepted: the stream ends with the peer's close, code and full reason intact (not a protocol error)
      const closed = yield* ws_end(a)
      expect(Either.getLeft(closed).pipe(Option.getOrUndefined)).toMatchObject({
        _tag: "ConnectionClosedError",
        code: 4000,
        reason: "r".repeat(123)
      })
      const bad = yield* RawServer.make({ handler: (c) => c.write(RawServer.frame(0x8, RawServer.closePayload(4000, "r".repeat(124)))) })
      const b = yield* JetSocket.connect<unknown>(bad.url, opts)
      expect(yield* failure(b)).toMatchObject({ _tag: "InvalidFrameError", closeCode: 1002 })
    }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer)), 60_000)

  it.live("wrong Sec-WebSocket-Accept, unrequested extension and unrequested subprotocol are refused", () =>
    Effect.gen(function*() {
      // the server broke RFC 6455 in its handshake: InvalidFrameError 1002 (docs/errors.md), naming what
      const cases = [
        { options: { accept: "d3JvbmcK" }, reason: "Invalid Sec-WebSocket-Accept header" },
        { options: { extensions: "permessage-deflate" }, reason: "Sec-WebSocket-Extensions header but no extension was requested" },
        { options: { protocol: "chat" }, reason: "subprotocol but none was requested" }
      ]
      for (const c of cases) {
        const server = yield* RawServer.make(c.options)
        const error = yield* Effect.flip(JetSocket.connect<unknown>(server.url, opts))
        expect(error).toMatchObject({ _tag: "InvalidFrameError", closeCode: 1002, url: server.url })
        expect(error._tag === "InvalidFrameError" && error.reason).toContain(c.reason)
        expect(server.connectionCount()).toBe(1)
      }
    }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer)), 60_000)
})

const ws_end = (ws: JetSocket.JetSocket<unknown>) =>
  ws.messages.pipe(Stream.runDrain, Effect.either, Effect.timeout(Duration.seconds(20)))
