/**
 * An in-process WebSocket server on 127.0.0.1 (random port) for tests, as a
 * scoped Effect or a Layer. Scriptable per connection: echo, a list or a
 * sequenced feed, close with a code, refuse the upgrade with a status, accept
 * TCP and never answer, stall pongs, drop the TCP connection; it records what
 * it received (messages, request headers, close codes, connection counts).
 *
 * ```ts
 * const server = yield* TestServer.make({ handler: TestServer.echo })
 * const ws = yield* JetSocket.connect(server.url)
 * ```
 *
 * Node-only: import it from `jetsocket/testing`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as http from "node:http"
import type * as net from "node:net"
import { WebSocket, WebSocketServer } from "ws"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("jetsocket/TestServer")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * One accepted connection, as the script sees it.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerConnection {
  /** 0 for the first accepted connection, then 1, 2, … */
  readonly id: number
  readonly url: string
  readonly headers: Readonly<http.IncomingHttpHeaders>
  readonly protocol: string
  /** Sends a message: a string as text, a `Uint8Array` as binary, anything else as JSON text. */
  readonly send: (message: unknown) => void
  /** Sends a close frame. */
  readonly close: (code?: number, reason?: string) => void
  /** Destroys the TCP connection without a close frame (the client sees 1006). */
  readonly drop: () => void
  /** Writes raw bytes on the TCP socket (malformed frames). */
  readonly sendRaw: (bytes: Uint8Array) => void
  readonly isOpen: () => boolean
  /** Registers a listener for the messages this connection receives. */
  readonly onMessage: (listener: (data: string | Uint8Array) => void) => void
  /** Registers a listener for the end of this connection. */
  readonly onClose: (listener: (code: number, reason: string) => void) => void
  /** The underlying `ws` socket, for anything not covered here. */
  readonly socket: WebSocket
}

/**
 * What to do with an upgrade request.
 *
 * @since 0.1.0
 * @category models
 */
export type UpgradeDecision =
  | "accept"
  /** Accept the TCP connection and never answer. */
  | "hang"
  /** Answer with an HTTP status instead of 101. */
  | { readonly status: number; readonly headers?: Readonly<Record<string, string>>; readonly body?: string }

/**
 * @since 0.1.0
 * @category models
 */
export interface UpgradeRequest {
  /** 0 for the first upgrade request, then 1, 2, … (refused ones included). */
  readonly index: number
  readonly url: string
  readonly headers: Readonly<http.IncomingHttpHeaders>
}

/**
 * A script run for each accepted connection.
 *
 * @since 0.1.0
 * @category models
 */
export type Handler = (connection: ServerConnection) => void

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Per-connection script (default: {@link echo}). */
  readonly handler?: Handler
  /** Per-request upgrade decision (default: accept). */
  readonly upgrade?: (request: UpgradeRequest) => UpgradeDecision
  /** Answer pings with pongs (default `true`; `false` stalls pongs). */
  readonly autoPong?: boolean
  /** Offer permessage-deflate (default `false`). */
  readonly perMessageDeflate?: boolean
  /** Subprotocol to select from the client's list (default: the first one offered). */
  readonly selectProtocol?: (offered: ReadonlyArray<string>) => string | false
  /** Largest accepted incoming message (default 100 MiB). */
  readonly maxPayload?: number
  /** Port to listen on (default 0: a random free port). */
  readonly port?: number
}

/**
 * A message the server received.
 *
 * @since 0.1.0
 * @category models
 */
export interface Received {
  readonly connection: number
  readonly data: string | Uint8Array
}

/**
 * @since 0.1.0
 * @category models
 */
export interface TestServer {
  readonly [TypeId]: TypeId
  /** `ws://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  /** Replaces the per-connection script for connections accepted from now on. */
  readonly setHandler: (handler: Handler) => void
  readonly setUpgrade: (upgrade: (request: UpgradeRequest) => UpgradeDecision) => void
  readonly setAutoPong: (autoPong: boolean) => void
  /** Connections currently open. */
  readonly connections: () => ReadonlyArray<ServerConnection>
  /** Accepted connections so far. */
  readonly connectionCount: () => number
  /** Upgrade requests so far, refused and hung ones included. */
  readonly upgradeCount: () => number
  /** The most connections that were open at the same time. */
  readonly peakConnections: () => number
  readonly received: () => ReadonlyArray<Received>
  /** Messages received, decoded as JSON where they parse. */
  readonly receivedJson: () => ReadonlyArray<unknown>
  /** The headers of every upgrade request, in order. */
  readonly requestHeaders: () => ReadonlyArray<Readonly<http.IncomingHttpHeaders>>
  /** The close code and reason of every ended connection (1006 when it just vanished). */
  readonly closes: () => ReadonlyArray<{ readonly connection: number; readonly code: number; readonly reason: string }>
  /** Sends a message to every open connection. */
  readonly broadcast: (message: unknown) => void
  /** Drops every open TCP connection (no close frame). */
  readonly dropAll: () => void
  /** Closes every open connection with a close frame. */
  readonly closeAll: (code?: number, reason?: string) => void
  /** Stops listening and drops every connection; `start` listens again on the same port. */
  readonly stop: Effect.Effect<void>
  readonly start: Effect.Effect<void>
  /** Waits (polling, bounded by `timeout`, default 5 s) until `predicate` holds. */
  readonly waitUntil: (predicate: () => boolean, timeout?: Duration.DurationInput) => Effect.Effect<void, Error>
}

/**
 * The `TestServer` service tag, for {@link layer}.
 *
 * @since 0.1.0
 * @category tags
 */
export const TestServer: Context.Tag<TestServer, TestServer> = Context.GenericTag<TestServer>("jetsocket/TestServer")

const encode = (message: unknown): string | Buffer =>
  typeof message === "string"
    ? message
    : message instanceof Uint8Array
    ? Buffer.from(message.buffer, message.byteOffset, message.byteLength)
    : JSON.stringify(message)

/**
 * Echoes every message back, text as text and binary as binary.
 *
 * @since 0.1.0
 * @category handlers
 */
export const echo: Handler = (connection) => connection.onMessage((data) => connection.send(data))

/**
 * Does nothing (but still answers pings unless `autoPong` is off).
 *
 * @since 0.1.0
 * @category handlers
 */
export const silent: Handler = () => {}

/**
 * Sends `messages` on open, then optionally closes.
 *
 * @since 0.1.0
 * @category handlers
 */
export const feed = (
  messages: ReadonlyArray<unknown>,
  options?: { readonly thenClose?: { readonly code: number; readonly reason?: string } }
): Handler =>
(connection) => {
  for (const message of messages) connection.send(message)
  if (options?.thenClose) connection.close(options.thenClose.code, options.thenClose.reason)
}

/**
 * A sequenced feed: `{ seq, ...make(seq) }` for seq = from … to, sent in
 * batches (`batch` per event-loop turn, default 100) so that the socket's
 * backpressure is respected. `from` may depend on the connection (e.g. a
 * resume point), and `onDone` runs when the last one was sent.
 *
 * @since 0.1.0
 * @category handlers
 */
export const sequenced = (options: {
  readonly from?: number | ((connection: ServerConnection) => number)
  readonly to: number
  readonly batch?: number
  readonly intervalMs?: number
  readonly make?: (seq: number) => Record<string, unknown>
  readonly onDone?: (connection: ServerConnection) => void
}): Handler =>
(connection) => {
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

/**
 * Closes every connection at once with `code` and `reason`.
 *
 * @since 0.1.0
 * @category handlers
 */
export const closeWith = (code: number, reason = ""): Handler => (connection) => connection.close(code, reason)

/**
 * Refuses every upgrade with `status` (use as `upgrade`).
 *
 * @since 0.1.0
 * @category upgrades
 */
export const refuse = (
  status: number,
  options?: { readonly headers?: Readonly<Record<string, string>>; readonly body?: string }
): (request: UpgradeRequest) => UpgradeDecision =>
() => ({ status, ...(options?.headers ? { headers: options.headers } : {}), ...(options?.body !== undefined ? { body: options.body } : {}) })

/**
 * Accepts TCP and never answers the upgrade (use as `upgrade`).
 *
 * @since 0.1.0
 * @category upgrades
 */
export const hang = (): UpgradeDecision => "hang"

/**
 * Starts a server on 127.0.0.1; closing the scope stops it and drops every
 * connection.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<TestServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => start(options)),
    (server) => server.stop
  )

/**
 * Waits (polling every 5 ms on real timers, so it works under `TestClock`
 * too) until `predicate` holds; fails after `timeout` (default 5 s).
 *
 * @since 0.1.0
 * @category utils
 */
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

/**
 * A layer providing a {@link TestServer}.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<TestServer> => Layer.scoped(TestServer, make(options))

const start = async (options: Options): Promise<TestServer> => {
  let handler = options.handler ?? echo
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
