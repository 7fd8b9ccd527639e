// restart → flowing: an in-process blaster on a fixed port is killed (listener closed, every socket destroyed)
// and listens again on the same port at once; we time from the kill to the first message on the new connection.
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as Socket from "@effect/platform/Socket"
import { Effect, Fiber, Schedule, Stream } from "effect"
import type * as net from "node:net"
import ReconnectingWebSocket from "partysocket/ws"
import WebSocket from "ws"
import { JetSocket } from "../src/index.js"
import { NodeTransport } from "../src/node.js"
import { start } from "./blaster.js"

const open = (name: string, url: string, onMessage: () => void): () => void => {
  if (name === "partysocket") {
    const ws = new ReconnectingWebSocket(url, [], {
      WebSocket,
      minReconnectionDelay: 100,
      maxReconnectionDelay: 10_000
    })
    ws.onmessage = onMessage
    return () => ws.close()
  }
  if (name === "jetsocket") {
    const fiber = Effect.runFork(
      Effect.scoped(Effect.gen(function*() {
        const ws = yield* JetSocket.connect(url, { reconnect: { base: "100 millis" }, heartbeat: "30 seconds" })
        yield* ws.messages.pipe(Stream.runForEach(() => Effect.sync(onMessage)))
      })).pipe(Effect.provide(NodeTransport.layer))
    )
    return () => void Effect.runFork(Fiber.interrupt(fiber))
  }
  // @effect/platform Socket: the documented pattern, runRaw in a retry loop (clean close → fail → retry)
  const fiber = Effect.runFork(
    Effect.gen(function*() {
      const socket = yield* Socket.makeWebSocket(url)
      yield* socket.runRaw(() => onMessage()).pipe(
        Effect.zipRight(Effect.fail("closed" as const)),
        Effect.retry(Schedule.exponential("100 millis").pipe(Schedule.jittered))
      )
    }).pipe(Effect.provide(NodeSocket.layerWebSocketConstructor))
  )
  return () => void Effect.runFork(Fiber.interrupt(fiber))
}

export const restartProbe = async (name: string): Promise<number> => {
  const sockets = new Set<net.Socket>()
  const track = (server: net.Server) => server.on("connection", (s) => {
    sockets.add(s)
    s.on("close", () => sockets.delete(s))
  })
  let server = await start(0)
  track(server)
  const port = (server.address() as net.AddressInfo).port
  let messages = 0
  let waiter: (() => void) | undefined
  const close = open(name, `ws://127.0.0.1:${port}/feed?n=1`, () => {
    messages++
    waiter?.()
  })
  const nextMessage = () => new Promise<void>((r) => (waiter = r))
  await nextMessage()
  // kill: stop listening and destroy every connection, then restart on the same port immediately
  const t0 = performance.now()
  const flowing = nextMessage()
  const closed = new Promise((r) => server.close(r))
  for (const s of sockets) s.destroy()
  await closed
  server = await start(port)
  track(server)
  await flowing
  const ms = performance.now() - t0
  close()
  for (const s of sockets) s.destroy()
  await new Promise((r) => server.close(r))
  return ms
}
