/**
 * The client against a peer that is not `ws`: Debian's python3-websockets (10.x), so that close
 * codes, fragmentation, compression and pings are not tested `ws` against `ws` (the engine the
 * Node transport uses). The peer is test/fixtures/python_server.py. Without python3-websockets
 * the tests are skipped with a printed line; under CI=true (`.ci/run` installs it) they run.
 */
import { describe, expect } from "@effect/vitest"
import { Effect, Stream } from "effect"
import * as JetSocket from "../src/JetSocket.js"
import { announceSkip, HAS_PYTHON_WEBSOCKETS, liveWithPeer, pythonPeer } from "./fixtures/peers.js"

announceSkip("python3-websockets", HAS_PYTHON_WEBSOCKETS, "apt-get install python3-websockets")

const live = liveWithPeer(HAS_PYTHON_WEBSOCKETS, "python3 -c 'import websockets' failed (CI=true requires it)")

describe("client against python3-websockets", () => {
  live("close codes and reasons sent by the server reach messages as ConnectionClosedError", () =>
    Effect.gen(function*() {
      const peer = yield* pythonPeer()
      // 1000 and 1001 are retriable closes like any other; 4401 is fatal by default (fatalCloseCodes)
      const cases = [
        { code: 1000, reason: "done", fatal: false },
        { code: 1001, reason: "going away", fatal: false },
        { code: 1011, reason: "ünïcödé reason ✓", fatal: false },
        { code: 4001, reason: "app specific", fatal: false },
        { code: 4401, reason: "token expired", fatal: true }
      ]
      for (const c of cases) {
        const ws = yield* JetSocket.connect<string>(peer.url, { codec: "text", reconnect: false })
        yield* ws.sendText(`close ${c.code} ${c.reason}`)
        const error = yield* Effect.flip(ws.messages.pipe(Stream.runDrain))
        expect(error).toMatchObject({ _tag: "ConnectionClosedError", code: c.code, reason: c.reason, wasClean: true, fatal: c.fatal })
      }
    }))

  live("a fatal close code ends a reconnecting client without a retry", () =>
    Effect.gen(function*() {
      const peer = yield* pythonPeer()
      const ws = yield* JetSocket.connect<string>(peer.url, { codec: "text", reconnect: { base: "10 millis", jitter: false } })
      yield* ws.sendText("close 4403 forbidden")
      const error = yield* Effect.flip(ws.messages.pipe(Stream.runDrain))
      expect(error).toMatchObject({ _tag: "ConnectionClosedError", code: 4403, reason: "forbidden", fatal: true })
      expect(yield* ws.state).toBe("Failed")
    }))

  live("a message the server fragments into continuation frames arrives whole (text and binary)", () =>
    Effect.gen(function*() {
      const peer = yield* pythonPeer()
      const text = yield* JetSocket.connect<string>(peer.url, { codec: "text", reconnect: false })
      // multi-byte characters in every fragment: each fragment is valid UTF-8 on its own here,
      // the message is what the client must assemble
      yield* text.sendText("fragments 7 héllo wörld ")
      expect(yield* text.recv({ timeout: "10 seconds" })).toBe("héllo wörld ".repeat(7))
      // and the next message is separate
      yield* text.sendText("plain")
      expect(yield* text.recv({ timeout: "10 seconds" })).toBe("plain")

      const binary = yield* JetSocket.connect<Uint8Array>(peer.url, { codec: "binary", reconnect: false })
      yield* binary.sendText("binfragments 4 70000")
      const bytes = yield* binary.recv({ timeout: "10 seconds" })
      expect(bytes.byteLength).toBe(4 * 70000)
      const expected = Buffer.concat(Array.from({ length: 4 }, () => Buffer.from(Array.from({ length: 70000 }, (_, i) => i % 251))))
      expect(Buffer.compare(Buffer.from(bytes), expected)).toBe(0)
    }))

  live("permessage-deflate with server_no_context_takeover and server_max_window_bits=10", () =>
    Effect.gen(function*() {
      const peer = yield* pythonPeer({ deflate: { server_no_context_takeover: true, server_max_window_bits: 10 } })
      const ws = yield* JetSocket.connect<string>(peer.url, { codec: "text", compression: true, reconnect: false })
      yield* ws.sendText("info")
      const info = JSON.parse(yield* ws.recv({ timeout: "10 seconds" })) as { extensions: string | null }
      // the server's answer as negotiated: both parameters accepted by the client
      expect(info.extensions).toContain("permessage-deflate")
      expect(info.extensions).toContain("server_no_context_takeover")
      expect(info.extensions).toContain("server_max_window_bits=10")
      // several compressible messages in a row: without context takeover each is inflated alone,
      // with a 1 KiB window the back references are short
      yield* ws.sendText("repeat 5 200000")
      for (let i = 0; i < 5; i++) {
        const message = yield* ws.recv({ timeout: "10 seconds" })
        expect(message.length).toBe(200000)
        expect(message).toBe(String.fromCharCode(97 + i).repeat(200000))
      }
      // what the client compresses (context kept, its default) the server inflates
      const big = Array.from({ length: 3000 }, (_, i) => `line ${i % 50} of a compressible text`).join("\n")
      for (let i = 0; i < 3; i++) {
        yield* ws.sendText(big)
        expect(yield* ws.recv({ timeout: "10 seconds" })).toBe(big)
      }
    }))

  live("permessage-deflate offered by the client and not accepted: plain frames both ways", () =>
    Effect.gen(function*() {
      const peer = yield* pythonPeer()
      const ws = yield* JetSocket.connect<string>(peer.url, { codec: "text", compression: true, reconnect: false })
      yield* ws.sendText("info")
      expect(JSON.parse(yield* ws.recv({ timeout: "10 seconds" }))).toMatchObject({ extensions: null })
      yield* ws.sendText("x".repeat(100_000))
      expect(yield* ws.recv({ timeout: "10 seconds" })).toBe("x".repeat(100_000))
    }))

  live("pings from the server are answered with a pong carrying the same payload", () =>
    Effect.gen(function*() {
      const peer = yield* pythonPeer()
      const ws = yield* JetSocket.connect<string>(peer.url, { codec: "text", reconnect: false })
      // the server's ping waiter resolves only on a pong with this exact payload
      for (const payload of ["a", "payload-2", "ünï"]) {
        yield* ws.sendText(`ping ${payload}`)
        expect(yield* ws.recv({ timeout: "10 seconds" })).toBe(`pong ${payload}`)
      }
    }))
})
