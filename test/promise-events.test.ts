// The Promise API as a non-Effect user sees it: no `effect` import here.
import { afterEach, describe, expect, it } from "vitest"
import { WebSocketServer } from "ws"
import type { AddressInfo } from "node:net"
import { connect } from "../src/promise.js"

const servers: Array<WebSocketServer> = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))))
})

/** An echo server. */
const startServer = () =>
  new Promise<{ url: string; server: WebSocketServer; closeCodes: Array<number> }>((resolve) => {
    const closeCodes: Array<number> = []
    const server: WebSocketServer = new WebSocketServer({ host: "127.0.0.1", port: 0 }, (): void =>
      resolve({ url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, server, closeCodes }))
    server.on("connection", (socket) => {
      socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary }))
      socket.on("close", (code) => closeCodes.push(code))
    })
    servers.push(server)
  })

describe("jetsocket/promise events", () => {
  it("onEvent reports lifecycle events", async () => {
    const { url, server } = await startServer()
    const ws = await connect(url, { heartbeat: false, reconnect: { base: "10 millis", jitter: false } })
    const events: Array<string> = []
    const stop = ws.onEvent((event) => events.push(event._tag))
    // No wait: the listener's fiber starts (and subscribes) before the client can see the drop below,
    // which reaches it through a later turn of the event loop.
    for (const client of server.clients) client.terminate()
    for (let i = 0; i < 300 && !events.includes("Reconnected"); i++) await new Promise((r) => setTimeout(r, 10))
    expect(events).toContain("Disconnected")
    expect(events).toContain("Reconnected")
    // docs/promise-api.md: onEvent "returns an unsubscribe function". A second listener, still
    // subscribed, proves the Closed event was published; the stopped one never gets it.
    const later: Array<string> = []
    ws.onEvent((event) => later.push(event._tag))
    stop()
    await ws.close()
    for (let i = 0; i < 300 && !later.includes("Closed"); i++) await new Promise((r) => setTimeout(r, 10))
    expect(later).toEqual(["Closed"])
    expect(events).not.toContain("Closed")
  })
})
