import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import { identity } from "effect/Function"
import * as Scope from "effect/Scope"
import type * as JetSocket from "../../JetSocket.js"
import {
  ConnectionRefusedError,
  ConnectionTimeoutError,
  InvalidMessageError,
  InvalidStateError,
  isJetSocketError,
  type JetSocketError
} from "../../JetSocketError.js"
import { JetSocketEvent } from "../../JetSocketEvent.js"
import type { Client } from "../client.js"
import * as Codec from "../codec.js"
import * as Guard from "../guard.js"
import * as Telemetry from "../telemetry.js"
import { Conn } from "./conn.js"
import { DEFAULTS } from "./defaults.js"
import * as Inbound from "./inbound.js"
import * as Lifecycle from "./lifecycle.js"
import * as Outbound from "./outbound.js"

/**
 * The control plane, one connection: open it (url, headers and protocols
 * evaluated now) in a scope of its own, a child of the supervisor's; set it
 * up (connect hooks, replay); bring it up (the send queue flushed, its held
 * messages delivered); close it.
 */

/** An option given as a value or as an Effect (evaluated per attempt); a failure of the Effect is a retriable `ConnectionRefusedError`. */
export const resolveDynamic = <T>(value: JetSocket.JetSocket.Dynamic<T> | undefined, what: string): Effect.Effect<T | undefined, JetSocketError> => {
  if (!Effect.isEffect(value)) return Effect.succeed(value as T | undefined)
  // A defect in the user's Effect is a CallbackError naming it; a failure, a refused connect (retried).
  return Guard.effect(what, () => value as Effect.Effect<T, unknown>).pipe(
    Effect.mapError((error) =>
      isJetSocketError(error)
        ? error
        : new ConnectionRefusedError({ reason: `the ${what} Effect failed: ${String(error)}`, fatal: false, cause: error })
    )
  )
}

/** The `compression` option resolved (`true`: the default threshold). */
export const compression = (client: Client<any>): false | { readonly threshold: number } => {
  const option = client.options.compression
  if (option === undefined || option === false) return false
  return option === true ? { threshold: DEFAULTS.compressionThreshold } : option
}

/**
 * One connect attempt. The connection lives in a scope of its own, a child
 * of the supervisor's (`supervisorScope`): it is released when it
 * ends (`releaseSocket`), and when the supervisor stops first (interrupted
 * by `close`, or dying) its finalizer closes a socket still open with the
 * code `close` was given (1011 "internal error" when the supervisor died):
 * no socket outlives the supervisor.
 */
export const open = (client: Client<any>, supervisorScope: Scope.Scope, attempt: number): Effect.Effect<Conn, JetSocketError> =>
  Effect.gen(function*() {
    const url = (yield* resolveDynamic(client.urlOption, "url"))!
    const headers = (yield* resolveDynamic(client.options.headers, "headers")) ?? {}
    const protocolsOption = yield* resolveDynamic(client.options.protocols, "protocols")
    const protocols = protocolsOption === undefined ? [] : typeof protocolsOption === "string" ? [protocolsOption] : protocolsOption
    client.currentUrl = url
    client.publish(JetSocketEvent.Connecting({ timestamp: client.now(), url, attempt }))
    const connectTimeout = client.connectTimeout
    const conn = new Conn(client, url)
    const scope = yield* Scope.fork(supervisorScope, ExecutionStrategy.sequential)
    conn.scope = scope
    const transport = client.env.transport
    const connection = yield* Guard.effect("Transport.connect", () => transport.connect({
      url,
      headers,
      protocols,
      compression: compression(client),
      maxMessageSize: client.options.maxMessageSize ?? DEFAULTS.maxMessageSize,
      connectTimeout,
      tls: client.options.tls,
      agent: client.options.agent,
      handlers: conn
    })).pipe(
      // Most transports time the handshake out themselves with a timer; racing it here costs a fiber per attempt.
      client.env.transport.enforcesConnectTimeout === true ? identity : Effect.timeoutFail({
        duration: connectTimeout,
        onTimeout: () => new ConnectionTimeoutError({ operation: "connect", timeout: connectTimeout, url })
      }),
      Scope.extend(scope),
      Effect.onError(() => releaseSocket(conn)),
      // No captured stack trace: it would name this line (the attempt runs in the supervisor, not
      // at the user's call site), and capturing it costs an `Error` and an entry in Effect's span-trace
      // `WeakMap` per attempt (docs/performance.md).
      // The outcome on the span (outcome, error tag, HTTP status); its attributes never carry the URL's secrets.
      Effect.onExit(Telemetry.attemptEnded),
      Effect.withSpan("jetsocket.connect", Telemetry.connectSpan(client, url, attempt))
    )
    conn.connection = connection
    conn.openedAt = client.now()
    // Added after the transport's own release, so it runs before it (finalizers run in reverse): the
    // close handshake first, then the socket released.
    yield* Scope.addFinalizer(scope, Effect.suspend(() => {
      if (conn.endedWith !== undefined) return Effect.void
      const [code, reason] = closingCode(client.lifecycle)
      return closeConnection(client, conn, code, reason)
    }))
    if (client.bufferPaused) connection.pause()
    // Without ping frames (browsers) only an application ping can prove liveness.
    const heartbeat = client.heartbeat
    if (heartbeat !== undefined && (connection.canPing || heartbeat.application !== undefined)) {
      conn.heartbeat = true
      client.env.ticker.schedule(conn, Duration.toMillis(heartbeat.interval))
    }
    return conn
  })

/**
 * The code and reason a socket still open is closed with when the
 * supervisor stops: `close`'s, or 1011 when it stopped for another reason
 * (it died, or the client failed with a socket still being set up).
 */
const closingCode = (state: Lifecycle.State): readonly [number, string] =>
  state._tag === "Closing" ? [state.code, state.reason] : [1011, "internal error"]

/** Closes an ended connection's scope (the socket is released, nothing of it stays behind). */
export const releaseSocket = (conn: Conn): Effect.Effect<void> =>
  Effect.suspend(() => (conn.scope === undefined ? Effect.void : Scope.close(conn.scope, Exit.void)))

/** Closes a connection gracefully and waits for it, then releases it; never fails. */
export const closeConnection = (client: Client<any>, conn: Conn, code: number, reason: string): Effect.Effect<void> =>
  Effect.suspend(() => {
    conn.closing = true
    const connection = conn.connection
    // Reading paused by backpressure (or holding) would leave the peer's close frame unread behind
    // the backlog until `closeTimeout`: read again, so the handshake completes within a round trip.
    connection?.resume()
    const timeout = client.closeTimeout
    const close = connection === undefined ? Effect.succeed(true) : connection.close(code, reason, timeout)
    return close.pipe(
      // The peer never answered within `closeTimeout` (the transport dropped the socket): the close
      // still succeeds (the socket is gone), and the timeout is reported, as docs/errors.md says.
      Effect.tap((answered) => {
        if (answered) return
        const error = new ConnectionTimeoutError({ operation: "close", timeout, url: conn.url })
        client.publish(JetSocketEvent.Error({ timestamp: client.now(), error, fatal: false }))
      }),
      // Even when interrupted mid-handshake: the socket must not outlive the client.
      Effect.ensuring(releaseSocket(conn)),
      // Usually the transport reported the end already: build the error (and its stack) only when not.
      Effect.ensuring(Effect.sync(() => {
        if (conn.endedWith === undefined) conn.end(new InvalidStateError({ state: "Closed", operation: "receive" }))
      }))
    )
  })

/** What connect hooks get: connection-scoped writes straight to `conn` (never queued, never re-sent). */
export const directContext = (client: Client<any>, conn: Conn, reconnected: boolean): JetSocket.ConnectContext => ({
  reconnected,
  send: (message) =>
    Effect.suspend(() => {
      const frame = client.codec.encode(message as any)
      if (frame instanceof InvalidMessageError) return Effect.fail(Codec.threw(frame) ?? frame)
      Outbound.write(client, conn, frame, false)
      return Effect.void
    }),
  sendText: (text) => Effect.sync(() => Outbound.write(client, conn, text, false))
})

/** A connection set up, ready to go up. */
export interface SetUp {
  readonly conn: Conn
  /** When a `full_buffer` replay started (its `ReplayCompleted` comes with the flush, in `goUp`). */
  readonly replayStartedAt: number | undefined
}

/** Sets a new connection up: on a reconnect, the connect hooks, then replay (its frames go out before any queued send). */
export const activate = (client: Client<any>, conn: Conn, reconnected: boolean): Effect.Effect<SetUp, JetSocketError> =>
  Effect.gen(function*() {
    if (!reconnected) return { conn, replayStartedAt: undefined }
    const direct = directContext(client, conn, reconnected)
    for (const hook of client.hooks ?? []) yield* Guard.effect("onConnect hook", () => hook(direct))
    const replayStartedAt = yield* runReplay(client, direct)
    return { conn, replayStartedAt }
  })

/**
 * Brings a set-up connection up: `Up` (from here sends go to it), the send
 * queue flushed behind the replay, then its held messages delivered. The
 * state change and the flush run in one synchronous step after the
 * transition's: a send in between finds the queue not empty and queues
 * behind it, so the order of sends is kept.
 */
export const goUp = (client: Client<any>, { conn, replayStartedAt }: SetUp): Effect.Effect<void> =>
  Effect.zipRight(
    Lifecycle.transition(client, { _tag: "Up", conn }),
    Effect.sync(() => {
      const flushed = Outbound.flushSendQueue(client, conn)
      if (replayStartedAt !== undefined) {
        const now = client.now()
        client.publish(JetSocketEvent.ReplayCompleted({ timestamp: now, replayed: flushed, duration: Duration.millis(now - replayStartedAt) }))
      }
      goLive(client, conn)
    })
  )

/**
 * Replay on a new connection: `sequence_id` calls `onReplay` with the last
 * sequence id; `full_buffer` only marks the start (the flush re-sends), and
 * returns when it started.
 */
export const runReplay = (client: Client<any>, context: JetSocket.ConnectContext): Effect.Effect<number | undefined, JetSocketError> =>
  Effect.gen(function*() {
    if (client.replay.mode === "full_buffer") {
      const started = client.now()
      client.publish(JetSocketEvent.ReplayStarted({ timestamp: started, mode: "full_buffer" }))
      return started
    }
    if (client.replay.mode !== "sequence_id" || client.replay.onReplay === undefined) return undefined
    const started = client.now()
    const lastSequenceId = client.lastSequenceId
    client.publish(JetSocketEvent.ReplayStarted({ timestamp: started, mode: "sequence_id", lastSequenceId }))
    const onReplay = client.replay.onReplay
    const replayed = yield* Guard.effect("replay.onReplay", () => onReplay(lastSequenceId, (message) => Effect.orDie(context.send(message)))).pipe(
      Effect.mapError((error) =>
        isJetSocketError(error)
          ? error
          : new InvalidMessageError({ reason: `onReplay failed: ${String(error)}`, preview: "", cause: error })
      )
    )
    client.publish(
      JetSocketEvent.ReplayCompleted({
        timestamp: client.now(),
        replayed: typeof replayed === "number" ? replayed : 0,
        duration: Duration.millis(client.now() - started)
      })
    )
  })

/** Delivers what a connection held while it was being set up. */
export const goLive = (client: Client<any>, conn: Conn): void => {
  const held = conn.held
  conn.held = undefined
  conn.holding = false
  if (held !== undefined) for (const frame of held) Inbound.deliver(client, conn, frame)
  if (!client.bufferPaused) conn.connection?.resume()
}
