import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import * as path from "node:path"
import { JetSocket } from "../src/index.js"
import { parseArgs } from "../src/internal/cli.js"
import { NodeTransport } from "../src/node.js"
import { FaultProxy, TestServer } from "../src/testing.js"
import { recordEvents } from "./fixtures/helpers.js"
import { recordedLines, spawnCli, tempDir } from "./fixtures/recorder.js"
import { WebSocket } from "ws"

// Record with the real CLI (a child process), replay with the test kit, read with a real client.
// The gaps are real time by nature (a recording is timing on the wall clock): 300-600 ms, so that
// 20 % (60-120 ms) absorbs a timer or a process that a loaded 2-core machine holds back for tens of
// ms; they are compared to what the source really sent (its own clock), not to what it meant to.

const binary = (length: number, seed: number) => Uint8Array.from({ length }, (_, i) => (i * seed + 7) % 256)

/** What the source sends on its first connection, each `gap` ms after the previous one. */
const script: ReadonlyArray<{ readonly gap: number; readonly data: string | Uint8Array }> = [
  { gap: 0, data: "{\"n\":1,\"price\":64012.5}" },
  { gap: 400, data: binary(4, 1) },
  { gap: 600, data: "plain text, ünïcödé ✓" },
  { gap: 300, data: binary(3000, 13) },
  { gap: 500, data: "{\"n\":5}" }
]

const comparable = (data: unknown) => (data instanceof Uint8Array ? Array.from(data) : data)
const gaps = (times: ReadonlyArray<number>) => times.slice(1).map((time, i) => time - times[i]!)

/**
 * A source that plays `script` to a connection once it subscribed (`--subscribe go`), and notes
 * when it really sent each message. It starts 250 ms after the subscription: a process that just
 * started (node, tsx, the client) is still busy for tens of ms, and would stamp the first message
 * late.
 */
const scriptedSource = () => {
  const sentAt: Array<number> = []
  const handler: TestServer.Handler = (connection) => {
    let i = 0
    const next = () => {
      if (i === script.length || !connection.isOpen()) return
      connection.send(script[i]!.data)
      sentAt.push(performance.now())
      i++
      if (i < script.length) setTimeout(next, script[i]!.gap)
    }
    connection.onMessage((data) => data === "go" && setTimeout(next, 250))
  }
  return { handler, sentAt }
}

/**
 * Reads from `url` with a plain `ws` client, stamping each message in its socket callback (the
 * replayer's timing, not a consumer's): until `count` messages (then it hangs up) or until the
 * server closes (with the code it sent).
 */
const readRaw = (url: string, count = Infinity) =>
  Effect.async<{ readonly messages: ReadonlyArray<{ readonly data: string | Uint8Array; readonly at: number }>; readonly code: number | undefined }, Error>((resume) => {
    const socket = new WebSocket(url)
    const messages: Array<{ data: string | Uint8Array; at: number }> = []
    socket.on("message", (data: Buffer, isBinary: boolean) => {
      // What the socket had parsed already may still come after the hang-up.
      if (messages.length === count) return
      messages.push({ data: isBinary ? new Uint8Array(data) : data.toString("utf8"), at: performance.now() })
      if (messages.length === count) {
        socket.terminate()
        resume(Effect.succeed({ messages, code: undefined }))
      }
    })
    socket.on("close", (code: number) => resume(Effect.succeed({ messages, code })))
    socket.on("error", (error) => resume(Effect.fail(error)))
    return Effect.sync(() => socket.terminate())
  })

describe("record with the CLI, replay with TestServer.replay", () => {
  it.scopedLive("round trip: the same payloads in the same order; at speed 1 the same gaps (within 20 %), at 2 half, at Infinity none", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = path.join(dir, "feed.jsonl")
      const source = scriptedSource()
      const server = yield* TestServer.make({ handler: source.handler })
      // User info and query values must not reach the file.
      const url = `ws://alice:s3cret@127.0.0.1:${server.port}/feed?token=abc&depth=5`
      const cli = yield* spawnCli([url, "--subscribe", "go", "--record", file, "--count", String(script.length), "--heartbeat", "off", "--quiet"])
      const run = yield* cli.exited
      expect(run.code).toBe(0)
      // --quiet: neither messages nor status lines, only the count.
      expect(run.stdout).toBe("")
      expect(run.stderr).toBe(`jetsocket: recorded ${script.length} messages (0 drops) to ${file}\n`)

      const lines = recordedLines(file)
      expect(lines[0]).toEqual({
        format: "jetsocket-recording",
        version: 1,
        url: `ws://127.0.0.1:${server.port}/feed?token=&depth=`,
        startedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
      })
      expect(lines[1]).toMatchObject({ at: 0 })
      // The recorded `at`s keep the gaps the source really left.
      const recordedGaps = gaps(lines.slice(1).map((line) => line.at as number))
      gaps(source.sentAt).forEach((sent, i) => expect(Math.abs(recordedGaps[i]! - sent)).toBeLessThanOrEqual(0.2 * sent))

      const recording = yield* TestServer.loadRecording(file)
      expect(recording).toMatchObject({ path: file, messages: script.length, drops: 0, url: lines[0]!.url })
      expect(TestServer.isRecording(recording)).toBe(true)

      const replayAt = (speed: number) =>
        Effect.gen(function*() {
          const replayer = yield* TestServer.make({ handler: TestServer.replay(recording, { speed }) })
          const { code, messages } = yield* readRaw(replayer.url)
          expect(messages.map(({ data }) => comparable(data))).toEqual(script.map(({ data }) => comparable(data)))
          // Text stays text and binary stays binary.
          expect(messages.map(({ data }) => typeof data)).toEqual(script.map(({ data }) => typeof data))
          // The end of the recording: the server closes with 1000.
          expect(code).toBe(1000)
          return gaps(messages.map(({ at }) => at))
        })

      const sent = gaps(source.sentAt)
      const atSpeed1 = yield* replayAt(1)
      sent.forEach((gap, i) => expect(Math.abs(atSpeed1[i]! - gap)).toBeLessThanOrEqual(0.2 * gap))
      // Twice as fast: half the time from the first message to the last (over the whole span, where a
      // timer late by a few tens of ms on a loaded machine weighs little).
      const sum = (values: ReadonlyArray<number>) => values.reduce((a, b) => a + b, 0)
      const atSpeed2 = yield* replayAt(2)
      expect(Math.abs(sum(atSpeed2) - sum(atSpeed1) / 2)).toBeLessThanOrEqual(0.2 * (sum(atSpeed1) / 2))
      // As fast as the socket takes it: the whole 1.8-second recording in a fraction of its shortest gap.
      const atInfinity = yield* replayAt(Infinity)
      expect(sum(atInfinity)).toBeLessThan(0.5 * Math.min(...sent))
    }).pipe(Effect.provide(NodeTransport.layer)), { timeout: 90_000 })

  it.scopedLive("a recording across drops (1006, then a close with 4001) replayed with drops: true through a FaultProxy", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = path.join(dir, "drops.jsonl")
      // Connection 0: a, b, then the TCP connection vanishes; 1: c, d, then a close with 4001; 2: e.
      const source = yield* TestServer.make({
        handler: (connection) => {
          const sends: Record<number, ReadonlyArray<string>> = { 0: ["a", "b"], 1: ["c", "d"], 2: ["e"] }
          for (const data of sends[connection.id] ?? []) connection.send(data)
          if (connection.id === 0) setTimeout(() => connection.drop(), 100)
          if (connection.id === 1) setTimeout(() => connection.close(4001, "custom"), 100)
        }
      })
      const cli = yield* spawnCli([source.url, "--record", file, "--count", "5", "--heartbeat", "off", "-q"])
      const run = yield* cli.exited
      expect(run.code).toBe(0)
      expect(run.stderr).toBe(`jetsocket: recorded 5 messages (2 drops) to ${file}\n`)
      const kinds = recordedLines(file).slice(1).map((line) => line.text ?? `${line.event}${line.code === undefined ? "" : ` ${line.code}`}`)
      expect(kinds).toEqual(["a", "b", "disconnected 1006", "connected", "c", "d", "disconnected 4001", "connected", "e"])
      const recording = yield* TestServer.loadRecording(file)
      expect(recording).toMatchObject({ messages: 5, drops: 2 })

      // drops: true — the connection ends where the recording's did, the reconnecting client gets what followed.
      const server = yield* TestServer.make({ handler: TestServer.replay(recording, { drops: true, speed: 4 }) })
      const proxy = yield* FaultProxy.make({ target: { host: "127.0.0.1", port: server.port } })
      const ws = yield* JetSocket.connect(proxy.url, { codec: "text", reconnect: { base: "20 millis", jitter: false }, heartbeat: false })
      const events = yield* recordEvents(ws)
      const got = yield* ws.messages.pipe(Stream.take(5), Stream.runCollect)
      expect(Chunk.toReadonlyArray(got)).toEqual(["a", "b", "c", "d", "e"])
      // Then the last part ends the recording: a close with 1000 (and the client, reconnecting, gets the
      // last part again: the handler's position stays after the last drop).
      yield* server.waitUntil(() => server.closes().length >= 3)
      expect(server.closes().slice(0, 3).map(({ code }) => code)).toEqual([1006, 4001, 1000])
      expect(events.flatMap((event) => (event._tag === "Disconnected" ? [event.code] : [])).slice(0, 2)).toEqual([1006, 4001])

      // Without drops, one connection plays it all through, then closes with 1000.
      const through = yield* TestServer.make({ handler: TestServer.replay(recording, { speed: Infinity }) })
      const all = yield* readRaw(through.url)
      expect(all).toMatchObject({ code: 1000, messages: ["a", "b", "c", "d", "e"].map((data) => ({ data })) })
    }).pipe(Effect.provide(NodeTransport.layer)), { timeout: 90_000 })

  it.scopedLive("loop: the recording starts over instead of closing (recorded without --quiet: the messages are printed too)", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = path.join(dir, "loop.jsonl")
      const source = yield* TestServer.make({ handler: TestServer.feed(["x", "y"]) })
      const run = yield* (yield* spawnCli([source.url, "--record", file, "--count", "2"])).exited
      expect(run.code).toBe(0)
      expect(run.stdout).toBe("x\ny\n")
      expect(run.stderr).toContain("* connected to")
      const recording = yield* TestServer.loadRecording(file)
      const server = yield* TestServer.make({ handler: TestServer.replay(recording, { speed: Infinity, loop: true }) })
      const got = yield* readRaw(server.url, 7)
      expect(got.messages.map(({ data }) => data)).toEqual(["x", "y", "x", "y", "x", "y", "x"])
      // Seven messages on one connection (the client does not reconnect): the recording started over.
      expect(server.connectionCount()).toBe(1)
    }).pipe(Effect.provide(NodeTransport.layer)), { timeout: 60_000 })

  it.scopedLive("a recorder killed with SIGKILL leaves a file that loads, up to its last line", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = path.join(dir, "killed.jsonl")
      // An endless feed, one message every 10 ms.
      const source = yield* TestServer.make({
        handler: (connection) => {
          let seq = 0
          const timer = setInterval(() => connection.send({ seq: ++seq }), 10)
          connection.onClose(() => clearInterval(timer))
        }
      })
      const cli = yield* spawnCli([source.url, "--record", file, "--heartbeat", "off", "-q"])
      // Kill it once 20 messages are in the file (header + 20 lines), as another process sees it.
      yield* TestServer.waitUntil(() => recordedLines(file).length >= 21, "30 seconds")
      cli.child.kill("SIGKILL")
      const run = yield* cli.exited
      expect(run.signal).toBe("SIGKILL")
      expect(run.stderr).toBe("") // killed: no summary

      const recording = yield* TestServer.loadRecording(file)
      expect(recording.messages).toBeGreaterThanOrEqual(20)
      const texts = recordedLines(file).slice(1).map((line) => JSON.parse(line.text as string).seq)
      expect(texts).toEqual(Array.from({ length: recording.messages }, (_, i) => i + 1))
      // And it replays: every recorded message once, in order.
      const server = yield* TestServer.make({ handler: TestServer.replay(recording, { speed: Infinity }) })
      const got = yield* readRaw(server.url)
      expect(got.code).toBe(1000)
      expect(got.messages.map(({ data }) => JSON.parse(data as string).seq)).toEqual(texts)
    }).pipe(Effect.provide(NodeTransport.layer)), { timeout: 60_000 })
})

describe("jetsocket --record: the end of a run", () => {
  it.scopedLive("--no-reconnect: the server's close is recorded as the last line", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = path.join(dir, "closed.jsonl")
      const source = yield* TestServer.make({
        handler: (connection) => {
          connection.send("a")
          setTimeout(() => connection.close(4001, "bye"), 100)
        }
      })
      const run = yield* (yield* spawnCli([source.url, "--record", file, "--no-reconnect", "--heartbeat", "off", "-q"])).exited
      expect(run.code).toBe(1) // an abnormal close ends the command with 1
      expect(run.stderr).toContain(`jetsocket: recorded 1 message (1 drop) to ${file}\n`)
      expect(recordedLines(file).slice(1)).toEqual([
        { at: 0, text: "a" },
        { at: expect.any(Number), event: "disconnected", code: 4001 }
      ])
    }), { timeout: 60_000 })
})

describe("jetsocket --record: arguments and an unwritable file", () => {
  it("parses --record FILE; a missing value is a usage error", () => {
    expect(parseArgs(["ws://127.0.0.1:1", "--record", "feed.jsonl", "-q"])).toMatchObject({
      _tag: "Run",
      options: { record: "feed.jsonl", quiet: true }
    })
    expect(parseArgs(["ws://127.0.0.1:1", "--record=feed.jsonl"])).toMatchObject({ _tag: "Run", options: { record: "feed.jsonl" } })
    expect(parseArgs(["ws://127.0.0.1:1"])).toMatchObject({ _tag: "Run", options: { record: undefined } })
    expect(parseArgs(["ws://127.0.0.1:1", "--record"])).toEqual({ _tag: "Invalid", message: "--record needs a value" })
    expect(parseArgs(["ws://127.0.0.1:1", "--record="])).toEqual({ _tag: "Invalid", message: "--record needs a file name" })
  })

  it.scopedLive("a file it cannot create: exit 1 with the reason, before connecting", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const file = path.join(dir, "missing-dir", "feed.jsonl")
      const run = yield* (yield* spawnCli([server.url, "--record", file])).exited
      expect(run.code).toBe(1)
      expect(run.stderr).toBe(`jetsocket: cannot write the recording ${file}: ENOENT: no such file or directory, open '${file}'\n`)
      expect(server.upgradeCount()).toBe(0)
    }), { timeout: 60_000 })
})
