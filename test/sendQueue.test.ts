/**
 * The send queue: sends while not connected are queued in order (bounded),
 * flushed before any later send, and a send the dead socket never wrote is
 * re-sent on the next connection.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, TestClock } from "effect"
import * as JetSocket from "../src/JetSocket.js"
import { ConnectionClosedError } from "../src/JetSocketError.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"
import * as Transport from "../src/Transport.js"
import { recordEvents } from "./fixtures/helpers.js"

const live = <A, E>(name: string, body: () => Effect.Effect<A, E, any>) =>
  it.scopedLive(name, () => body().pipe(Effect.provide(NodeTransport.layer)), 60_000)

const until = (predicate: () => boolean, timeoutMs = 15_000) =>
  TestServer.waitUntil(predicate, timeoutMs).pipe(Effect.orDie)

/** Puts the client into an outage: the connection drops and every upgrade is refused (503) until `heal`. */
const outage = (server: TestServer.TestServer, ws: JetSocket.JetSocket<any>) =>
  Effect.gen(function*() {
    server.setUpgrade(TestServer.refuse(503))
    server.dropAll()
    yield* until(() => Effect.runSync(ws.state) === "BackingOff")
  })
const heal = (server: TestServer.TestServer) => server.setUpgrade(() => "accept")

const fast = { base: 20, cap: 100, jitter: false } as const

describe("send queue, live", () => {
  live("sends made during an outage arrive once, in order, before later sends", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const ws = yield* JetSocket.connect<{ n: number }>(server.url, { reconnect: fast, heartbeat: false })
      const events = yield* recordEvents(ws)
      yield* ws.send({ n: 0 })
      yield* until(() => server.receivedJson().length === 1)
      yield* outage(server, ws)
      for (let n = 1; n <= 200; n++) yield* ws.send({ n })
      expect((yield* ws.stats).sendQueueSize).toBe(200)
      heal(server)
      yield* until(() => events.some((e) => e._tag === "Reconnected"))
      for (let n = 201; n <= 210; n++) yield* ws.send({ n })
      // a last message on the same connection: when it arrives, everything sent before it has (TCP keeps the order)
      yield* ws.send({ n: 211 })
      yield* until(() => server.receivedJson().some((m: any) => m.n === 211))
      const seen = server.receivedJson().map((m: any) => m.n)
      expect(seen).toEqual(Array.from({ length: 212 }, (_, i) => i))
      expect((yield* ws.stats).sendQueueSize).toBe(0)
    }))

  live("a full send queue → BufferOverflowError { buffer: send } for that send; the queued ones still arrive", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const ws = yield* JetSocket.connect<{ n: number }>(server.url, { reconnect: fast, heartbeat: false, sendQueue: 5 })
      yield* outage(server, ws)
      for (let n = 1; n <= 5; n++) yield* ws.send({ n })
      const error = yield* Effect.flip(ws.send({ n: 6 }))
      expect(error).toMatchObject({ _tag: "BufferOverflowError", buffer: "send", capacity: 5 })
      heal(server)
      // a later message on the same connection: when it arrives, the queue's flush (before it) has, without 6
      yield* until(() => Effect.runSync(ws.state) === "Connected")
      yield* ws.send({ n: 7 })
      yield* until(() => server.receivedJson().some((m: any) => m.n === 7))
      expect(server.receivedJson().map((m: any) => m.n)).toEqual([1, 2, 3, 4, 5, 7])
    }))

  live("sendQueue: false → send while reconnecting fails with InvalidStateError; after close too", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const ws = yield* JetSocket.connect<{ n: number }>(server.url, { reconnect: fast, heartbeat: false, sendQueue: false })
      yield* outage(server, ws)
      const error = yield* Effect.flip(ws.send({ n: 1 }))
      expect(error).toMatchObject({ _tag: "InvalidStateError", operation: "send" })
      heal(server)
      yield* ws.ready
      yield* until(() => Effect.runSync(ws.state) === "Connected")
      yield* ws.send({ n: 2 })
      yield* until(() => server.receivedJson().length === 1)
      expect(server.receivedJson()).toEqual([{ n: 2 }])
      yield* ws.close()
      expect((yield* Effect.flip(ws.send({ n: 3 })))._tag).toBe("InvalidStateError")
    }))

  live("queue: false on a send fails instead of queueing (default queue on)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const ws = yield* JetSocket.connect<{ n: number }>(server.url, { reconnect: fast, heartbeat: false })
      yield* outage(server, ws)
      expect((yield* Effect.flip(ws.send({ n: 1 }, { queue: false })))._tag).toBe("InvalidStateError")
      yield* ws.send({ n: 2 })
      heal(server)
      yield* until(() => server.receivedJson().length === 1)
      expect(server.receivedJson()).toEqual([{ n: 2 }])
    }))
})

/** A transport whose sockets only confirm writes when told to, and can die. */
const holdingTransport = () => {
  const sockets: Array<{ handlers: Transport.Handlers; sent: Array<string>; unconfirmed: Array<() => void>; open: boolean }> = []
  const transport = Transport.make("holding", (request) =>
    Effect.sync(() => {
      const socket = { handlers: request.handlers, sent: [] as Array<string>, unconfirmed: [] as Array<() => void>, open: true }
      sockets.push(socket)
      const connection: Transport.Connection = {
        protocol: "",
        extensions: "",
        canPing: false,
        isOpen: () => socket.open,
        send: (data, onWritten) => {
          socket.sent.push(String(data))
          if (onWritten) socket.unconfirmed.push(() => onWritten())
        },
        ping: () => {},
        pause: () => {},
        resume: () => {},
        close: () => Effect.sync(() => (socket.open = false, true))
      }
      return connection
    }))
  return { layer: Layer.succeed(Transport.Transport, transport), sockets }
}

describe("send queue, at-least-once across a dying socket", () => {
  it.scoped("a send the socket never confirmed is re-sent first on the next connection; confirmed ones are not", () =>
    Effect.gen(function*() {
      const fake = holdingTransport()
      const ws = yield* JetSocket.connect<string>("ws://fake", { codec: "text", heartbeat: false, reconnect: { base: 10, jitter: false } }).pipe(
        Effect.provide(fake.layer)
      )
      yield* ws.sendText("a")
      yield* ws.sendText("b")
      yield* ws.sendText("c")
      const first = fake.sockets[0]!
      first.unconfirmed[0]!() // "a" reached the OS; "b" and "c" did not
      first.open = false
      first.handlers.onClose(new ConnectionClosedError({ code: 1006, reason: "", wasClean: false }))
      yield* Effect.repeatN(Effect.yieldNow(), 20)
      yield* ws.sendText("d") // queued during the outage
      yield* TestClock.adjust(10)
      yield* Effect.repeatN(Effect.yieldNow(), 20)
      yield* ws.sendText("e")
      expect(fake.sockets).toHaveLength(2)
      expect(fake.sockets[1]!.sent).toEqual(["b", "c", "d", "e"])
      expect(first.sent).toEqual(["a", "b", "c"])
    }))
})
