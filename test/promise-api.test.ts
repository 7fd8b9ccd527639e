// The Promise API as a non-Effect user sees it: no `effect` import here.
import { afterEach, describe, expect, it } from "vitest"
import { WebSocketServer } from "ws"
import type { AddressInfo } from "node:net"
import { ConnectionRefusedError, ConnectionTimeoutError, InvalidStateError } from "../src/JetSocketError.js"
import { connect } from "../src/promise.js"

const servers: Array<WebSocketServer> = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))))
})

/** An echo server (or, with `feed`, a server that sends `feed` on connect). */
const startServer = (feed?: ReadonlyArray<unknown>) =>
  new Promise<{ url: string; server: WebSocketServer; closeCodes: Array<number> }>((resolve) => {
    const closeCodes: Array<number> = []
    const server: WebSocketServer = new WebSocketServer({ host: "127.0.0.1", port: 0 }, (): void =>
      resolve({ url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, server, closeCodes }))
    server.on("connection", (socket) => {
      socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary }))
      socket.on("close", (code) => closeCodes.push(code))
      for (const message of feed ?? []) socket.send(JSON.stringify(message))
    })
    servers.push(server)
  })

describe("jetsocket/promise", () => {
  it("round trip: send, recv, stats, close", async () => {
    const { url, closeCodes } = await startServer()
    const ws = await connect(url, { heartbeat: false })
    await ws.send({ hello: "promise" })
    expect(await ws.recv({ timeout: "5 seconds" })).toEqual({ hello: "promise" })
    await ws.sendText("plain")
    await expect(ws.recv({ timeout: "5 seconds" })).rejects.toMatchObject({ _tag: "InvalidMessageError" })
    const stats = await ws.stats()
    expect(stats.messagesSent).toBe(2)
    expect(stats.messagesReceived).toBe(2)
    expect(await ws.state()).toBe("Connected")
    await ws.close()
    await ws.close() // twice is safe
    expect(await ws.state()).toBe("Closed")
    await expect(ws.send({ late: true })).rejects.toBeInstanceOf(InvalidStateError)
    for (let i = 0; i < 100 && closeCodes.length === 0; i++) await new Promise((r) => setTimeout(r, 10))
    expect(closeCodes).toEqual([1000])
  })

  it("for await delivers messages in order; break closes the connection", async () => {
    const { url, closeCodes } = await startServer([1, 2, 3, 4, 5].map((seq) => ({ seq })))
    const ws = await connect<{ seq: number }>(url, { heartbeat: false })
    const seen: Array<number> = []
    for await (const message of ws) {
      seen.push(message.seq)
      if (message.seq === 3) break
    }
    expect(seen).toEqual([1, 2, 3])
    expect(await ws.state()).toBe("Closed")
    for (let i = 0; i < 100 && closeCodes.length === 0; i++) await new Promise((r) => setTimeout(r, 10))
    expect(closeCodes).toEqual([1000])
  })

  it("rejects with the tagged error classes: a refused connection, a recv timeout", async () => {
    const error = await connect("ws://127.0.0.1:1/", { reconnect: false, heartbeat: false }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ConnectionRefusedError)
    expect((error as ConnectionRefusedError)._tag).toBe("ConnectionRefusedError")
    expect((error as ConnectionRefusedError).message).toContain("127.0.0.1:1")

    const { url } = await startServer()
    const ws = await connect(url, { heartbeat: false })
    const timeout = await ws.recv({ timeout: "50 millis" }).catch((e: unknown) => e)
    expect(timeout).toBeInstanceOf(ConnectionTimeoutError)
    expect((timeout as ConnectionTimeoutError).operation).toBe("recv")
    await ws.close()
  })

  it("onEvent reports lifecycle events", async () => {
    const { url, server } = await startServer()
    const ws = await connect(url, { heartbeat: false, reconnect: { base: "10 millis", jitter: false } })
    const events: Array<string> = []
    const stop = ws.onEvent((event) => events.push(event._tag))
    await new Promise((r) => setTimeout(r, 20))
    for (const client of server.clients) client.terminate()
    for (let i = 0; i < 300 && !events.includes("Reconnected"); i++) await new Promise((r) => setTimeout(r, 10))
    expect(events).toContain("Disconnected")
    expect(events).toContain("Reconnected")
    stop()
    await ws.close()
  })
})
