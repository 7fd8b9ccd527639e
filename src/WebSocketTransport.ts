/**
 * The portable transport: the platform's own `WebSocket` (browsers, Deno,
 * Bun, Node 22+), obtained through `@effect/platform`'s
 * `Socket.WebSocketConstructor` service. It imports neither `ws` nor any
 * `node:` module, so it bundles for the browser:
 *
 * ```ts
 * import { JetSocket, WebSocketTransport } from "jetsocket/web"
 * program.pipe(Effect.provide(WebSocketTransport.layer))
 * ```
 *
 * What the platform `WebSocket` cannot do, and what JetSocket does instead:
 * - no request headers: put credentials in the URL or the subprotocols
 *   (both may be Effects evaluated at every attempt);
 * - no ping frames: the heartbeat runs only with an application ping
 *   (`heartbeat: { payload, pongMatcher }`); without one it is off;
 * - no HTTP status for a refused upgrade: the error says so
 *   (`ConnectionRefusedError` without `status`, retriable);
 * - no pause: the `"backpressure"` policy cannot stop the socket and keeps
 *   buffering (choose a dropping policy for unbounded feeds);
 * - no write confirmation: a send counts as written once handed over;
 * - `maxMessageSize` is checked after the platform assembled the message.
 *
 * @since 0.1.0
 */
import * as Socket from "@effect/platform/Socket"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import {
  type ConnectionError,
  ConnectionClosedError,
  ConnectionRefusedError,
  ConnectionTimeoutError,
  InvalidFrameError
} from "./JetSocketError.js"
import { validateUrl } from "./internal/url.js"
import * as Transport from "./Transport.js"
import { acquireInterruptible } from "./internal/acquire.js"

/** Close codes a platform socket uses when it (or the peer) rejected the data. */
const protocolCloseCodes = new Set([1002, 1003, 1007, 1009])

const OPEN = 1
const CLOSED = 3

const byteLength = (data: string | ArrayBuffer): number =>
  typeof data === "string" ? data.length : data.byteLength

const makeConnection = (socket: globalThis.WebSocket): Transport.Connection => ({
  protocol: socket.protocol,
  extensions: socket.extensions,
  canPing: false,
  isOpen: () => socket.readyState === OPEN,
  send: (data, onWritten) => {
    if (socket.readyState !== OPEN) return onWritten?.(new Error("the WebSocket is not open"))
    socket.send(data as string | ArrayBufferView<ArrayBuffer>)
    onWritten?.()
  },
  ping: () => {},
  pause: () => {},
  resume: () => {},
  close: (code, reason, timeout) =>
    Effect.async<boolean>((resume) => {
      if (socket.readyState === CLOSED) return resume(Effect.succeed(true))
      const timer = setTimeout(() => resume(Effect.succeed(false)), Duration.toMillis(timeout))
      socket.addEventListener("close", () => {
        clearTimeout(timer)
        resume(Effect.succeed(true))
      }, { once: true })
      try {
        socket.close(code, reason)
      } catch {
        socket.close()
      }
      return Effect.sync(() => clearTimeout(timer))
    })
})

/**
 * The close a platform reported, as an error. No code (or 0, as Deno reports
 * a dropped TCP connection) means no close frame was received: RFC 6455
 * §7.1.5 calls that 1006, abnormal, never a clean close.
 */
const closedError = (event: CloseEvent, url: string): ConnectionClosedError => {
  const code = typeof event.code === "number" && event.code > 0 ? event.code : 1006
  return new ConnectionClosedError({ code, reason: event.reason ?? "", wasClean: code === 1006 ? false : event.wasClean, url })
}

const connectWith = (construct: (url: string, protocols?: string | Array<string>) => globalThis.WebSocket) =>
(request: Transport.ConnectRequest) =>
  acquireInterruptible(
    Effect.suspend(() => {
      const invalid = validateUrl(request.url)
      if (invalid !== undefined) return Effect.fail(invalid)
      return Effect.async<globalThis.WebSocket, ConnectionError | InvalidFrameError>((resume) => {
        const { url, handlers, maxMessageSize } = request
        let socket: globalThis.WebSocket
        try {
          socket = construct(url, [...request.protocols])
        } catch (error) {
          return resume(Effect.fail(new ConnectionRefusedError({ url, reason: String(error), fatal: true, cause: error })))
        }
        socket.binaryType = "arraybuffer"
        let opened = false
        let tooBig: InvalidFrameError | undefined
        // The handshake's deadline: a plain timer (the client need not race the attempt in a fiber).
        const timer = setTimeout(() => {
          abandon()
          resume(Effect.fail(new ConnectionTimeoutError({ operation: "connect", timeout: request.connectTimeout, url })))
        }, Duration.toMillis(request.connectTimeout))
        const abandon = () => {
          clearTimeout(timer)
          socket.onopen = socket.onclose = socket.onmessage = null
          // Aborting a handshake makes some implementations (ws behind Node's constructor)
          // emit an error event; without a listener that would be an uncaught exception.
          socket.onerror = () => {}
          socket.close()
        }
        socket.onopen = () => {
          opened = true
          clearTimeout(timer)
          resume(Effect.succeed(socket))
        }
        socket.onerror = () => {
          if (opened) return
          clearTimeout(timer)
          // The platform hides why (refused TCP, DNS, TLS, a non-101 answer): say so.
          resume(Effect.fail(
            new ConnectionRefusedError({
              url,
              reason: "the WebSocket could not be opened (this platform does not expose the cause or the HTTP status of a refused upgrade)",
              fatal: false
            })
          ))
        }
        socket.onclose = (event) => {
          if (!opened) return
          handlers.onClose(
            tooBig ??
              (protocolCloseCodes.has(event.code)
                ? new InvalidFrameError({ closeCode: event.code, reason: event.reason || "the connection failed a protocol check", url })
                : closedError(event, url))
          )
        }
        socket.onmessage = (event: MessageEvent<string | ArrayBuffer>) => {
          const data = event.data
          if (byteLength(data) > maxMessageSize) {
            tooBig ??= new InvalidFrameError({ closeCode: 1009, reason: `message of ${byteLength(data)} bytes exceeds maxMessageSize ${maxMessageSize}`, url })
            // The WHATWG API (browsers, Node 22+'s global WebSocket) sends only 1000 and
            // 3000–4999 and throws on 1009, inside this listener: close without a code there.
            try {
              return socket.close(1009, "message too big")
            } catch {
              return socket.close()
            }
          }
          handlers.onMessage(typeof data === "string" ? data : new Uint8Array(data))
        }
        return Effect.sync(abandon)
      })
    }),
    closeSocket
  ).pipe(Effect.map(makeConnection))

/** The socket's finalizer (see `acquireInterruptible`). */
const closeSocket = (socket: WebSocket): Effect.Effect<void> =>
  Effect.sync(() => {
    if (socket.readyState !== CLOSED) socket.close()
  })

/**
 * A `Transport` on a given `WebSocket` constructor.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  construct: (url: string, protocols?: string | Array<string>) => globalThis.WebSocket
): Transport.Transport => Transport.make("websocket", connectWith(construct), { enforcesConnectTimeout: true })

/**
 * Provides the `Transport` service from `@effect/platform`'s
 * `Socket.WebSocketConstructor` service.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConstructor: Layer.Layer<Transport.Transport, never, Socket.WebSocketConstructor> = Layer.effect(
  Transport.Transport,
  Effect.map(Socket.WebSocketConstructor, (construct) => make(construct))
)

/**
 * Provides the `Transport` service on the platform's global `WebSocket`
 * (browsers, Deno, Bun, Node 22+).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Transport.Transport> = layerConstructor.pipe(
  Layer.provide(Socket.layerWebSocketConstructorGlobal)
)
