/**
 * The test kit's WebSocket server (`TestServer.make`): an HTTP server on
 * 127.0.0.1 that hands upgrades to `ws`, runs the per-connection script and
 * records what happened. Its public face and models are in `TestServer.ts`.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as http from "node:http"
import type * as net from "node:net"
import { WebSocket, WebSocketServer } from "ws"
import type {
  Handler,
  Options,
  Received,
  ServerConnection,
  TestServer
} from "../TestServer.js"
import type { sequenced as Sequenced } from "../TestServer.js"

/** @internal */
export const TypeId: unique symbol = Symbol.for("jetsocket/TestServer")

/** @internal */
export const encode = (message: unknown): string | Buffer =>
  typeof message === "string"
    ? message
    : message instanceof Uint8Array
    ? Buffer.from(message.buffer, message.byteOffset, message.byteLength)
    : JSON.stringify(message)

/** @internal Polls every 5 ms on real timers, so it works under `TestClock` too. */
export const waitUntil = (predicate: () => boolean, timeout: Duration.DurationInput = Duration.seconds(5)): Effect.Effect<void, Error> =>
  Effect.promise(() => {
    const deadline = Date.now() + Duration.toMillis(Duration.decode(timeout))
    return new Promise<boolean>((resolve) => {
      const check = () => {
        if (predicate()) return resolve(true)
        if (Date.now() >= deadline) return resolve(false)
        setTimeout(check, 5)
      }
      check()
    })
  }).pipe(
    Effect.flatMap((ok) =>
      ok ? Effect.void : Effect.fail(new Error(`TestServer.waitUntil: timed out after ${Duration.format(Duration.decode(timeout))}`))
    )
  )

/** @internal `TestServer.sequenced`. */
export const sequenced = (options: Parameters<typeof Sequenced>[0]): Handler => (connection) => {
  let seq = typeof options.from === "function" ? options.from(connection) : options.from ?? 1
  const batch = options.batch ?? 100
  const pump = () => {
    if (!connection.isOpen()) return
    const socket = connection.socket
    for (let i = 0; i < batch && seq <= options.to; i++, seq++) {
      socket.send(JSON.stringify({ seq, ...(options.make?.(seq) ?? {}) }))
    }
    if (seq > options.to) return options.onDone?.(connection)
    // Wait for the kernel to take the data before writing more.
    if (socket.bufferedAmount > 1 << 20) setTimeout(pump, 5)
    else if (options.intervalMs !== undefined) setTimeout(pump, options.intervalMs)
    else setImmediate(pump)
  }
  pump()
}

/** @internal `handler` is the script when `options.handler` is not given. */
export const start = async (options: Options, defaultHandler: Handler): Promise<TestServer> => {
  let handler = options.handler ?? defaultHandler
  let upgrade = options.upgrade ?? (() => "accept" as const)
  let autoPong = options.autoPong ?? true
  let nextId = 0
  let upgrades = 0
  let peak = 0
  const open = new Map<number, ServerConnection>()
  const received: Array<Received> = []
  const headers: Array<http.IncomingHttpHeaders> = []
  const closes: Array<{ connection: number; code: number; reason: string }> = []
  const sockets = new Set<net.Socket>()

  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: options.perMessageDeflate ?? false,
    maxPayload: options.maxPayload ?? 100 * 1024 * 1024,
    autoPong: true,
    handleProtocols: (offered) => {
      const list = [...offered]
      if (options.selectProtocol) return options.selectProtocol(list)
      return list[0] ?? false
    }
  })

  const accept = (socket: WebSocket, request: http.IncomingMessage) => {
    const id = nextId++
    const messageListeners: Array<(data: string | Uint8Array) => void> = []
    const closeListeners: Array<(code: number, reason: string) => void> = []
    const connection: ServerConnection = {
      id,
      url: request.url ?? "/",
      headers: request.headers,
      protocol: socket.protocol,
      socket,
      send: (message) => {
        if (socket.readyState === WebSocket.OPEN) socket.send(encode(message))
      },
      close: (code = 1000, reason = "") => {
        if (socket.readyState === WebSocket.OPEN) socket.close(code, reason)
      },
      drop: () => socket.terminate(),
      sendRaw: (bytes) => {
        const raw = (socket as unknown as { _socket: net.Socket })._socket
        raw.write(bytes)
      },
      isOpen: () => socket.readyState === WebSocket.OPEN,
      onMessage: (listener) => messageListeners.push(listener),
      onClose: (listener) => closeListeners.push(listener)
    }
    open.set(id, connection)
    peak = Math.max(peak, open.size)
    socket.on("error", () => {})
    socket.on("message", (data: Buffer, isBinary: boolean) => {
      const value = isBinary ? new Uint8Array(data) : data.toString("utf8")
      received.push({ connection: id, data: value })
      for (const listener of messageListeners) listener(value)
    })
    socket.on("close", (code: number, reason: Buffer) => {
      open.delete(id)
      closes.push({ connection: id, code, reason: reason.toString("utf8") })
      for (const listener of closeListeners) listener(code, reason.toString("utf8"))
    })
    handler(connection)
  }

  const server = http.createServer((_, res) => {
    res.writeHead(426, { "content-type": "text/plain" }).end("WebSocket only")
  })
  server.on("connection", (socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
  })
  server.on("upgrade", (request: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    const index = upgrades++
    headers.push(request.headers)
    socket.on("error", () => {})
    const decision = upgrade({ index, url: request.url ?? "/", headers: request.headers })
    if (decision === "hang") {
      // Never answer, but notice the client leaving so no server-side socket lingers.
      socket.resume()
      socket.on("end", () => socket.destroy())
      return
    }
    if (decision !== "accept") {
      const body = decision.body ?? ""
      const lines = [
        `HTTP/1.1 ${decision.status} ${http.STATUS_CODES[decision.status] ?? "Refused"}`,
        "Connection: close",
        "Content-Type: text/plain",
        `Content-Length: ${Buffer.byteLength(body)}`,
        ...Object.entries(decision.headers ?? {}).map(([name, value]) => `${name}: ${value}`)
      ]
      socket.end(`${lines.join("\r\n")}\r\n\r\n${body}`)
      return
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      // ws answers pings itself; route its answer through the current autoPong setting
      // so a test can stall pongs on live connections too.
      const pong = ws.pong.bind(ws)
      ws.pong = (...args: Parameters<WebSocket["pong"]>) => {
        if (autoPong) pong(...args)
      }
      accept(ws, request)
    })
  })

  let port = options.port ?? 0
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject)
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject)
        port = (server.address() as net.AddressInfo).port
        resolve()
      })
    })
  await listen()

  const dropAll = () => {
    for (const connection of open.values()) connection.drop()
  }
  const stop = Effect.promise(() =>
    new Promise<void>((resolve) => {
      dropAll()
      for (const socket of sockets) socket.destroy()
      if (!server.listening) return resolve()
      server.close(() => resolve())
    })
  )

  return {
    [TypeId]: TypeId,
    url: `ws://127.0.0.1:${port}`,
    port,
    setHandler: (next) => {
      handler = next
    },
    setUpgrade: (next) => {
      upgrade = next
    },
    setAutoPong: (next) => {
      autoPong = next
    },
    connections: () => [...open.values()],
    connectionCount: () => nextId,
    upgradeCount: () => upgrades,
    peakConnections: () => peak,
    received: () => received,
    receivedJson: () =>
      received.map(({ data }) => {
        if (typeof data !== "string") return data
        try {
          return JSON.parse(data)
        } catch {
          return data
        }
      }),
    requestHeaders: () => headers,
    closes: () => closes,
    broadcast: (message) => {
      for (const connection of open.values()) connection.send(message)
    },
    dropAll,
    closeAll: (code = 1000, reason = "") => {
      for (const connection of open.values()) connection.close(code, reason)
    },
    stop,
    start: Effect.promise(() => (server.listening ? Promise.resolve() : listen())),
    waitUntil
  }
}
