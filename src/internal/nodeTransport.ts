import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as http from "node:http"
import WebSocket from "ws"
import {
  type ConnectionError,
  ConnectionClosedError,
  ConnectionRefusedError,
  ConnectionTimeoutError,
  fatalUpgradeStatuses,
  InvalidFrameError
} from "../JetSocketError.js"
import * as Transport from "../Transport.js"
import { validateUrl } from "./url.js"
import { acquireInterruptible } from "./acquire.js"

/** How much of a refused upgrade's body is kept on the error. */
const BODY_PREFIX_BYTES = 1024
/** How long we wait for that body before giving up on it. */
const BODY_READ_MS = 1000

/** TLS verification failures: retrying cannot fix them, so they are fatal. */
const tlsVerificationCodes = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_REVOKED",
  "CERT_UNTRUSTED",
  "ERR_TLS_CERT_ALTNAME_INVALID"
])

/** ws receiver error codes and the close code ws sends for each. */
const closeCodeOf = (error: Error & { code?: string }): number => {
  // ws stores the close code under a private symbol; read it by description.
  const symbol = Object.getOwnPropertySymbols(error).find((s) => s.description === "status-code")
  const code = symbol === undefined ? undefined : (error as unknown as Record<symbol, unknown>)[symbol]
  if (typeof code === "number") return code
  switch (error.code) {
    case "WS_ERR_INVALID_UTF8":
      return 1007
    case "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH":
    case "WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH":
      return 1009
    default:
      return 1002
  }
}

/** Errors ws raises while validating the server's handshake answer. */
const isHandshakeViolation = (message: string): boolean =>
  message.startsWith("Invalid Sec-WebSocket") ||
  message.startsWith("Server sent") ||
  message.startsWith("Invalid Upgrade header") ||
  message.startsWith("Unexpected server response")

const refusal = (url: string, error: Error & { code?: string }): ConnectionError | InvalidFrameError => {
  const message = error.message
  if (isHandshakeViolation(message)) {
    return new InvalidFrameError({ closeCode: 1002, reason: `invalid handshake: ${message}`, url })
  }
  const code = error.code
  const tls = code !== undefined && tlsVerificationCodes.has(code)
  return new ConnectionRefusedError({
    url,
    reason: tls ? `TLS verification failed (${code}): ${message}` : code ? `${code}: ${message}` : message,
    fatal: tls,
    cause: error
  })
}

const readBodyPrefix = (res: http.IncomingMessage): Promise<string> =>
  new Promise((resolve) => {
    const chunks: Array<Buffer> = []
    let size = 0
    const finish = () => {
      clearTimeout(timer)
      res.removeAllListeners("data")
      resolve(Buffer.concat(chunks).subarray(0, BODY_PREFIX_BYTES).toString("utf8"))
    }
    const timer = setTimeout(finish, BODY_READ_MS)
    res.on("data", (chunk: Buffer) => {
      chunks.push(chunk)
      size += chunk.length
      if (size >= BODY_PREFIX_BYTES) finish()
    })
    res.once("end", finish)
    res.once("error", finish)
    res.once("close", finish)
  })

const headersOf = (res: http.IncomingMessage): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(res.headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(", ") : value
  }
  return out
}

const toBuffer = (data: Uint8Array): Buffer =>
  Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength)

/** Where a socket's session listeners find their connection (they are shared by every socket). */
const session: unique symbol = Symbol("jetsocket/NodeTransport/session")
type SessionSocket = WebSocket & { [session]: WsConnection }
const sessionOf = (socket: WebSocket): WsConnection => (socket as SessionSocket)[session]

/**
 * An open ws socket as a transport connection, and the state its session
 * listeners need. The listeners are module functions called with the socket
 * as `this` (ws emits that way), shared by every socket, rather than three
 * closures and their context per socket (docs/performance.md).
 */
class WsConnection implements Transport.Connection {
  readonly canPing = true
  /** The pong listener is attached on the first ping: a connection that never pings holds none. */
  private listensForPongs = false
  /** ws closes the socket itself after a receiver error; why, for the close that follows. */
  frameError: InvalidFrameError | undefined = undefined
  constructor(readonly socket: WebSocket, readonly handlers: Transport.Handlers, readonly url: string) {
    ;(socket as SessionSocket)[session] = this
    socket.on("error", onSessionError)
    // `on`, not `once`: ws emits "close" once, and `once` adds a wrapper and its state per socket.
    socket.on("close", onSessionClose)
    socket.on("message", onSessionMessage)
  }
  // Read from the socket, which keeps them anyway: two fields fewer per connection.
  get protocol(): string {
    return this.socket.protocol
  }
  get extensions(): string {
    return this.socket.extensions
  }
  isOpen(): boolean {
    return this.socket.readyState === WebSocket.OPEN
  }
  send(data: string | Uint8Array, onWritten?: (error?: Error) => void): void {
    if (typeof data === "string") this.socket.send(data, onWritten)
    else this.socket.send(toBuffer(data), { binary: true }, onWritten)
  }
  ping(data?: Uint8Array): void {
    if (this.socket.readyState !== WebSocket.OPEN) return
    if (!this.listensForPongs) {
      this.listensForPongs = true
      this.socket.on("pong", onSessionPong)
    }
    this.socket.ping(data === undefined ? undefined : toBuffer(data))
  }
  pause(): void {
    this.socket.pause()
  }
  resume(): void {
    this.socket.resume()
  }
  close(code: number, reason: string, timeout: Duration.Duration): Effect.Effect<boolean> {
    const socket = this.socket
    return Effect.async<boolean>((resume) => {
      if (socket.readyState === WebSocket.CLOSED) return resume(Effect.succeed(true))
      const timer = setTimeout(() => {
        socket.terminate()
        resume(Effect.succeed(false))
      }, Duration.toMillis(timeout))
      socket.once("close", () => {
        clearTimeout(timer)
        resume(Effect.succeed(true))
      })
      if (socket.readyState === WebSocket.OPEN) socket.close(code, reason)
      return Effect.sync(() => {
        clearTimeout(timer)
        socket.terminate()
      })
    })
  }
  /** The scope's finalizer: the socket never outlives its connection. */
  terminate(): Effect.Effect<void> {
    return Effect.sync(() => {
      if (this.socket.readyState !== WebSocket.CLOSED) this.socket.terminate()
    })
  }
}

function onSessionMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  sessionOf(this).handlers.onMessage(isBinary ? data : data.toString("utf8"))
}

function onSessionPong(this: WebSocket, payload: Buffer): void {
  sessionOf(this).handlers.onPong(payload)
}

function onSessionError(this: WebSocket, error: Error & { code?: string }): void {
  const connection = sessionOf(this)
  connection.frameError ??= new InvalidFrameError({ closeCode: closeCodeOf(error), reason: error.message, url: connection.url })
}

function onSessionClose(this: WebSocket, code: number, reason: Buffer): void {
  const connection = sessionOf(this)
  connection.handlers.onClose(
    connection.frameError ??
      new ConnectionClosedError({ code, reason: reason.toString("utf8"), wasClean: code !== 1006, url: connection.url })
  )
}

/** The socket's finalizer (see `acquireInterruptible`). */
const terminate = (connection: WsConnection): Effect.Effect<void> => connection.terminate()

const connect = (request: Transport.ConnectRequest) =>
  acquireInterruptible(
    Effect.suspend(() => {
      const invalid = validateUrl(request.url)
      if (invalid !== undefined) return Effect.fail(invalid)
      return Effect.async<WsConnection, ConnectionError | InvalidFrameError>((resume) => {
        const { url, handlers } = request
        const tls = request.tls ?? {}
        let socket: WebSocket
        try {
          socket = new WebSocket(url, [...request.protocols], {
            headers: { ...request.headers },
            perMessageDeflate: request.compression === false
              ? false
              : { threshold: request.compression.threshold, clientNoContextTakeover: false },
            maxPayload: request.maxMessageSize,
            // No `handshakeTimeout`: ws implements it as the socket's idle timeout, whose
            // Timeout object then stays on every open socket; see `timer` below.
            followRedirects: false,
            ...(tls.ca !== undefined ? { ca: tls.ca as string } : {}),
            ...(tls.cert !== undefined ? { cert: tls.cert as string } : {}),
            ...(tls.key !== undefined ? { key: tls.key as string } : {}),
            ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
            rejectUnauthorized: tls.rejectUnauthorized ?? true,
            ...(request.agent !== undefined ? { agent: request.agent as http.Agent } : {})
          })
        } catch (error) {
          return resume(Effect.fail(
            new ConnectionRefusedError({ url, reason: String((error as Error).message), fatal: true, cause: error })
          ))
        }

        let settled = false
        const settle = (effect: Effect.Effect<WsConnection, ConnectionError | InvalidFrameError>) => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          resume(effect)
        }
        const abandon = () => {
          socket.removeAllListeners()
          socket.on("error", () => {})
          socket.terminate()
        }
        const timer = setTimeout(() => {
          settle(Effect.fail(new ConnectionTimeoutError({ operation: "connect", timeout: request.connectTimeout, url })))
          abandon()
        }, Duration.toMillis(request.connectTimeout))

        socket.on("unexpected-response", (req, res) => {
          const status = res.statusCode ?? 0
          const headers = headersOf(res)
          void readBodyPrefix(res).then((body) => {
            req.destroy()
            settle(Effect.fail(
              new ConnectionRefusedError({
                url,
                reason: `the server answered the upgrade with ${status} ${res.statusMessage ?? ""}`.trimEnd(),
                status,
                headers,
                body,
                fatal: fatalUpgradeStatuses.has(status)
              })
            ))
          })
        })
        const onHandshakeError = (error: Error & { code?: string }) => settle(Effect.fail(refusal(url, error)))
        const onHandshakeClose = () =>
          settle(Effect.fail(
            new ConnectionRefusedError({ url, reason: "the connection closed during the handshake", fatal: false })
          ))
        socket.on("error", onHandshakeError)
        socket.once("close", onHandshakeClose)
        socket.once("open", () => {
          socket.off("error", onHandshakeError)
          socket.off("close", onHandshakeClose)
          socket.removeAllListeners("unexpected-response")
          settle(Effect.succeed(new WsConnection(socket, handlers, url)))
        })
        return Effect.sync(() => {
          settled = true
          clearTimeout(timer)
          abandon()
        })
      })
    }),
    terminate
  )

/** @internal */
export const transport: Transport.Transport = Transport.make("node", connect, { enforcesConnectTimeout: true })
