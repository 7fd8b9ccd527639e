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
 * It also replays recordings made with `jetsocket URL --record FILE`
 * ({@link loadRecording}, {@link replay}).
 *
 * Node-only: import it from `jetsocket/testing`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as http from "node:http"
import type { WebSocket } from "ws"
import * as playback from "./internal/playback.js"
import * as recording from "./internal/recording.js"
import * as internal from "./internal/testServer.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: typeof internal.TypeId = internal.TypeId

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
}): Handler => internal.sequenced(options)

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
    Effect.promise(() => internal.start(options, echo)),
    (server) => server.stop
  )

/**
 * Waits (polling every 5 ms on real timers, so it works under `TestClock`
 * too) until `predicate` holds; fails after `timeout` (default 5 s).
 *
 * @since 0.1.0
 * @category utils
 */
export const waitUntil: (predicate: () => boolean, timeout?: Duration.DurationInput) => Effect.Effect<void, Error> =
  internal.waitUntil

/**
 * A layer providing a {@link TestServer}.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<TestServer> => Layer.scoped(TestServer, make(options))

/**
 * @since 0.1.0
 * @category type ids
 */
export const RecordingTypeId: typeof recording.RecordingTypeId = recording.RecordingTypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type RecordingTypeId = typeof RecordingTypeId

/**
 * A recording made with `jetsocket URL --record FILE`, checked by
 * {@link loadRecording}. It holds what the file says about itself, not its
 * messages: {@link replay} reads the file as it plays, so a recording of
 * millions of messages costs no more memory than a short one.
 *
 * @since 0.1.0
 * @category models
 */
export interface Recording {
  readonly [RecordingTypeId]: RecordingTypeId
  /** The file, as given to {@link loadRecording}. */
  readonly path: string
  /** The recorded URL, without user info and query values (`wss://host/path?token=`). */
  readonly url: string
  /** When the recording started (ISO 8601). */
  readonly startedAt: string
  /** Messages (text and binary) in the recording. */
  readonly messages: number
  /** Drops (`disconnected` lines) in the recording. */
  readonly drops: number
  /** ms from the first message to the last line. */
  readonly durationMs: number
}

/**
 * @since 0.1.0
 */
export declare namespace Recording {
  /**
   * How {@link replay} plays a recording.
   *
   * @since 0.1.0
   * @category models
   */
  export interface ReplayOptions {
    /**
     * `1` (default): the recorded timing; `2`: twice as fast; `Infinity`: as
     * fast as the socket takes it. Any number > 0.
     */
    readonly speed?: number | undefined
    /** Start over at the end instead of closing with 1000 (default `false`). */
    readonly loop?: boolean | undefined
    /**
     * Close the connection where the recording saw a drop (default `false`:
     * play through): a TCP drop for 1006 (and any code a close frame cannot
     * carry), a close frame with the code otherwise. The reconnecting client
     * then gets what followed the drop.
     */
    readonly drops?: boolean | undefined
  }
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isRecording = (u: unknown): u is Recording => typeof u === "object" && u !== null && RecordingTypeId in u

/**
 * A recording that cannot be read: a missing or unreadable file (`line` 0),
 * a first line that is not a version-1 header, or a malformed line (its
 * 1-based `line` and what is wrong with it). Its message reads
 * `path:line: reason`.
 *
 * @since 0.1.0
 * @category errors
 */
export const RecordingError: typeof recording.RecordingError = recording.RecordingError

/**
 * @since 0.1.0
 * @category errors
 */
export type RecordingError = recording.RecordingError

/**
 * Reads a recording once, streamed, and checks every line: the header
 * (`format` `"jetsocket-recording"`, `version` 1), then each message, drop
 * and reconnect (`at` a number of ms that never goes back). Fails with a
 * {@link RecordingError} naming the line at fault.
 *
 * @since 0.1.0
 * @category recordings
 */
export const loadRecording = (path: string): Effect.Effect<Recording, RecordingError> =>
  recording.load(path).pipe(Effect.map((summary) => ({ [RecordingTypeId]: RecordingTypeId, path, ...summary })))

/**
 * A handler that plays `recording` to each connection: its messages (text as
 * text, binary as binary) at the recorded timing divided by `speed`, then a
 * close with 1000 (or, with `loop`, from the start again).
 *
 * Each connection gets the recording from its start, except with `drops:
 * true`: a connection closes where the recording saw a drop, and the next
 * connection continues after that drop (one position per handler), so a
 * client that reconnects receives every recorded message once. Works behind
 * a `FaultProxy`: faults of your own on top of the recorded ones. Runs on the
 * real clock; reads the file as it plays (the memory does not grow with the
 * recording's length). Invalid options throw an `InvalidOptionsError`.
 *
 * ```ts
 * const recording = yield* TestServer.loadRecording("test/fixtures/trades.jsonl")
 * const server = yield* TestServer.make({ handler: TestServer.replay(recording, { speed: 10, drops: true }) })
 * ```
 *
 * @since 0.1.0
 * @category handlers
 */
export const replay = (recording: Recording, options: Recording.ReplayOptions = {}): Handler =>
  playback.handler(recording.path, recording, options)
