/**
 * A raw WebSocket server for protocol tests: it performs the HTTP upgrade
 * itself (node:net, computes `Sec-WebSocket-Accept`) and then writes
 * arbitrary bytes — whole or octet by octet — so malformed, fragmented and
 * compressed frames can be replayed exactly. It decodes the client's masked
 * frames so echo cases work. Node only, 127.0.0.1.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as crypto from "node:crypto"
import * as net from "node:net"
import * as frames from "./internal/frames.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("jetsocket/RawServer")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * A decoded client frame.
 *
 * @since 0.1.0
 * @category models
 */
export type Frame = frames.Frame

/**
 * One accepted connection after the handshake.
 *
 * @since 0.1.0
 * @category models
 */
export interface RawConnection {
  /** The upgrade request headers (lower-case names). */
  readonly headers: Readonly<Record<string, string>>
  /** Writes bytes as they are. */
  readonly write: (bytes: Uint8Array) => void
  /** Writes bytes one octet per write (each on its own turn of the event loop). */
  readonly writeOctets: (bytes: Uint8Array) => Promise<void>
  /** Frames received from the client so far (unmasked). */
  readonly frames: () => ReadonlyArray<Frame>
  /** Calls `f` for each later client frame. */
  readonly onFrame: (f: (frame: Frame) => void) => void
  /** Destroys the TCP socket. */
  readonly destroy: () => void
  /** True once the TCP socket closed. */
  readonly closed: () => boolean
}

/**
 * @since 0.1.0
 * @category models
 */
export interface RawServer {
  readonly [TypeId]: TypeId
  readonly url: string
  readonly port: number
  /** Connections accepted so far (including closed ones). */
  readonly connections: () => ReadonlyArray<RawConnection>
  /** Number of TCP connections accepted so far (upgrade attempts). */
  readonly connectionCount: () => number
  /** Polls `predicate` with real timers; fails with an Error after `timeout` ms. */
  readonly waitUntil: (predicate: () => boolean, timeout?: number) => Effect.Effect<void>
}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace RawServer {
  /**
   * @since 0.1.0
   * @category models
   */
  interface Options {
    /** Runs after the handshake for each connection. */
    readonly handler?: ((connection: RawConnection) => void) | undefined
    /** Answer a permessage-deflate offer (default false). */
    readonly deflate?: boolean | undefined
    /** The `Sec-WebSocket-Extensions` value to answer with (overrides `deflate`). */
    readonly extensions?: string | undefined
    /** A `Sec-WebSocket-Protocol` value to answer with. */
    readonly protocol?: string | undefined
    /** Answer the client's close frame with a close frame and end the socket (default true). */
    readonly answerClose?: boolean | undefined
    /** Override the computed `Sec-WebSocket-Accept` (to test a wrong one). */
    readonly accept?: string | undefined
  }
}

/**
 * `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455 §4.2.2).
 *
 * @since 0.1.0
 * @category utils
 */
export const acceptKey = (key: string): string =>
  crypto.createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64")

/**
 * Encodes a server frame. `options` sets FIN/RSV bits, a mask and forced length encodings.
 *
 * @since 0.1.0
 * @category frames
 */
export const frame: (opcode: number, payload: Uint8Array | string, options?: frames.EncodeOptions) => Buffer =
  frames.encode

/**
 * A close frame payload (code + reason).
 *
 * @since 0.1.0
 * @category frames
 */
export const closePayload: (code: number, reason?: string | Uint8Array) => Buffer = frames.closePayload

/**
 * permessage-deflate compression of a payload (trailing 00 00 ff ff removed).
 *
 * @since 0.1.0
 * @category frames
 */
export const deflate: (payload: Uint8Array | string) => Buffer = frames.deflate

/**
 * A handler that echoes each client text/binary message (reassembling
 * fragments; inflating if compressed) and answers a close with a close.
 *
 * @since 0.1.0
 * @category handlers
 */
export const echo = (connection: RawConnection): void => {
  let parts: Array<Buffer> = []
  let opcode = 0
  let compressed = false
  connection.onFrame((f) => {
    if (f.opcode === 0x8) {
      connection.write(frames.encode(0x8, f.payload.length >= 2 ? f.payload.subarray(0, 2) : f.payload))
      return
    }
    if (f.opcode === 0x9) {
      connection.write(frames.encode(0xa, f.payload))
      return
    }
    if (f.opcode === 0xa) return
    if (f.opcode !== 0) {
      opcode = f.opcode
      compressed = f.rsv1
      parts = []
    }
    parts.push(Buffer.from(f.payload))
    if (f.fin) {
      const data = Buffer.concat(parts)
      parts = []
      connection.write(frames.encode(opcode, compressed ? frames.inflate(data) : data))
    }
  })
}

/**
 * Starts a raw server on 127.0.0.1 (random port); closed with the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: RawServer.Options = {}): Effect.Effect<RawServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ server: net.Server; sockets: Set<net.Socket>; raw: RawServer }>((resume) => {
      const sockets = new Set<net.Socket>()
      const connections: Array<RawConnection> = []
      let count = 0
      const server = net.createServer((socket) => {
        count++
        sockets.add(socket)
        socket.setNoDelay(true)
        socket.on("error", () => {})
        socket.on("close", () => sockets.delete(socket))
        let head = Buffer.alloc(0)
        const onData = (chunk: Buffer) => {
          head = Buffer.concat([head, chunk])
          const end = head.indexOf("\r\n\r\n")
          if (end < 0) return
          socket.off("data", onData)
          const lines = head.subarray(0, end).toString("latin1").split("\r\n")
          const headers: Record<string, string> = {}
          for (const line of lines.slice(1)) {
            const i = line.indexOf(":")
            if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim()
          }
          const rest = head.subarray(end + 4)
          const accept = options.accept ?? acceptKey(headers["sec-websocket-key"] ?? "")
          const response = [
            "HTTP/1.1 101 Switching Protocols",
            "Upgrade: websocket",
            "Connection: Upgrade",
            `Sec-WebSocket-Accept: ${accept}`
          ]
          const offered = headers["sec-websocket-extensions"] ?? ""
          if (options.extensions !== undefined) {
            response.push(`Sec-WebSocket-Extensions: ${options.extensions}`)
          } else if (options.deflate && offered.includes("permessage-deflate")) {
            response.push("Sec-WebSocket-Extensions: permessage-deflate")
          }
          if (options.protocol !== undefined) response.push(`Sec-WebSocket-Protocol: ${options.protocol}`)
          socket.write(response.join("\r\n") + "\r\n\r\n")
          const received: Array<frames.Frame> = []
          const listeners: Array<(f: frames.Frame) => void> = []
          const decoder = new frames.Decoder()
          let closed = false
          socket.on("close", () => {
            closed = true
          })
          const feed = (data: Buffer) => {
            for (const f of decoder.push(data)) {
              received.push(f)
              for (const l of listeners) l(f)
              // Complete the closing handshake (RFC 6455 §5.5.1) unless told not to.
              if (f.opcode === 0x8 && options.answerClose !== false && !socket.destroyed) {
                socket.end(frames.encode(0x8, f.payload.length >= 2 ? f.payload.subarray(0, 2) : f.payload))
              }
            }
          }
          const connection: RawConnection = {
            headers,
            write: (bytes) => {
              if (!socket.destroyed) socket.write(bytes)
            },
            writeOctets: async (bytes) => {
              for (const byte of bytes) {
                if (socket.destroyed) return
                socket.write(Buffer.from([byte]))
                await new Promise<void>((r) => setImmediate(r))
              }
            },
            frames: () => received,
            onFrame: (f) => {
              listeners.push(f)
            },
            destroy: () => socket.destroy(),
            closed: () => closed
          }
          connections.push(connection)
          socket.on("data", feed)
          if (options.handler) options.handler(connection)
          if (rest.length > 0) feed(rest)
        }
        socket.on("data", onData)
      })
      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as net.AddressInfo).port
        const raw: RawServer = {
          [TypeId]: TypeId,
          url: `ws://127.0.0.1:${port}`,
          port,
          connections: () => connections,
          connectionCount: () => count,
          waitUntil: (predicate, timeout = 10_000) =>
            Effect.promise(() =>
              new Promise<void>((resolve, reject) => {
                const start = Date.now()
                const tick = () => {
                  if (predicate()) return resolve()
                  if (Date.now() - start > timeout) return reject(new Error("RawServer.waitUntil: timed out"))
                  setTimeout(tick, 5)
                }
                tick()
              })
            )
        }
        resume(Effect.succeed({ server, sockets, raw }))
      })
    }),
    ({ server, sockets }) =>
      Effect.async<void>((resume) => {
        for (const s of sockets) s.destroy()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ raw }) => raw))

/**
 * @since 0.1.0
 * @category guards
 */
export const isRawServer = (u: unknown): u is RawServer => typeof u === "object" && u !== null && TypeId in u

/**
 * Inverse of {@link deflate} (appends 00 00 ff ff and inflates).
 *
 * @since 0.1.0
 * @category frames
 */
export const inflate: (payload: Uint8Array) => Buffer = frames.inflate
