// jetsocket/promise used the way non-Effect code uses it: no `effect` import in this file.
import { afterEach, describe, expect, it } from "vitest"
import { WebSocketServer } from "ws"
import type { AddressInfo } from "node:net"
import * as http from "node:http"
import { ConnectionClosedError, ConnectionRefusedError, ConnectionTimeoutError, InvalidMessageError } from "../src/JetSocketError.js"
import { connect } from "../src/promise.js"

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((f) => f()))
})

interface Msg {
  readonly id: number
  readonly body?: string
}

/** A server answering each `{ id }` with `{ id, body: "re:" + id }`, in reverse order once `batch` requests arrived. */
const replyServer = (batch: number) =>
  new Promise<{ url: string; server: WebSocketServer; closeCodes: Array<number> }>((resolve) => {
    const closeCodes: Array<number> = []
    const server: WebSocketServer = new WebSocketServer({ host: "127.0.0.1", port: 0 }, (): void =>
      resolve({ url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, server, closeCodes }))
    server.on("connection", (socket) => {
      const seen: Array<Msg> = []
      socket.on("message", (data) => {
        seen.push(JSON.parse(String(data)) as Msg)
        if (seen.length % batch === 0) {
          for (const m of seen.splice(0).reverse()) socket.send(JSON.stringify({ id: m.id, body: `re:${m.id}` }))
        }
      })
      socket.on("close", (code) => closeCodes.push(code))
    })
    cleanups.push(() => new Promise((r) => server.close(r)))
  })

const waitFor = async (pred: () => boolean) => {
  for (let i = 0; i < 500 && !pred(); i++) await new Promise((r) => setTimeout(r, 10))
  expect(pred()).toBe(true)
}

describe("jetsocket/promise (no Effect)", () => {
  it("round trip and 20 concurrent requests answered out of order", async () => {
    const { url, closeCodes } = await replyServer(1)
    const ws = await connect<Msg>(url, { heartbeat: false })
    await ws.send({ id: 0 })
    expect(await ws.recv({ timeout: "10 seconds" })).toEqual({ id: 0, body: "re:0" })
    await ws.close()
    await waitFor(() => closeCodes.length === 1)
    expect(closeCodes).toEqual([1000])

    const batch = await replyServer(20)
    const ws2 = await connect<Msg>(batch.url, { heartbeat: false })
    const ids = Array.from({ length: 20 }, (_, i) => i + 1)
    const replies = await Promise.all(
      ids.map((id) => ws2.request({ id }, { match: (m) => m.id === id, timeout: "20 seconds" }))
    )
    expect(replies.map((r) => r.body)).toEqual(ids.map((id) => `re:${id}`))
    const stats = await ws2.stats()
    expect(stats.messagesSent).toBe(20)
    await ws2.close()
  })

  it("for await with break closes cleanly (code 1000)", async () => {
    const { url, closeCodes } = await replyServer(1)
    const ws = await connect<Msg>(url, { heartbeat: false })
    for (let id = 1; id <= 5; id++) await ws.send({ id })
    const seen: Array<number> = []
    for await (const m of ws) {
      seen.push(m.id)
      if (seen.length === 3) break
    }
    expect(seen).toEqual([1, 2, 3])
    expect(await ws.state()).toBe("Closed")
    await waitFor(() => closeCodes.length === 1)
    expect(closeCodes).toEqual([1000])
  })

  it("a refused upgrade rejects with ConnectionRefusedError (instanceof, status)", async () => {
    const server = http.createServer((_, res) => res.end())
    server.on("upgrade", (_req, socket) => {
      socket.end("HTTP/1.1 401 Unauthorized\r\nContent-Length: 6\r\nConnection: close\r\n\r\ndenied")
    })
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r))
    cleanups.push(() => new Promise((r) => server.close(r)))
    const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      await connect(url, { heartbeat: false, reconnect: false })
      expect.unreachable("connect should have rejected")
    } catch (error) {
      expect(error).toBeInstanceOf(ConnectionRefusedError)
      if (error instanceof ConnectionRefusedError) {
        expect(error._tag).toBe("ConnectionRefusedError")
        expect(error.status).toBe(401)
        expect(error.fatal).toBe(true)
      }
    }
  })

  it("timeouts, invalid messages and a dead connection reject with the original error classes", async () => {
    const { url, server } = await replyServer(1)
    const ws = await connect<Msg>(url, { heartbeat: false, reconnect: false })
    await expect(ws.request({ id: 1 }, { match: (m) => m.id === 999, timeout: "100 millis" })).rejects.toBeInstanceOf(
      ConnectionTimeoutError
    )
    // the reply to the timed-out request is an ordinary message now
    expect(await ws.recv({ timeout: "10 seconds" })).toEqual({ id: 1, body: "re:1" })
    // a non-JSON text frame from the server
    for (const client of server.clients) client.send("{broken")
    await expect(ws.recv({ timeout: "10 seconds" })).rejects.toBeInstanceOf(InvalidMessageError)

    const ws2 = await connect<Msg>(url, { heartbeat: false, reconnect: false })
    const pending = ws2.recv({ timeout: "30 seconds" }).catch((e: unknown) => e)
    await waitFor(() => server.clients.size >= 1)
    for (const client of server.clients) client.close(1008, "policy")
    const error = await pending
    expect(error).toBeInstanceOf(ConnectionClosedError)
    expect((error as ConnectionClosedError).code).toBe(1008)
    await ws2.close()
    await ws.close()
  })
})
