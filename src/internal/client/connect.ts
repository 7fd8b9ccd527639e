import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { identity } from "effect/Function"
import * as Scope from "effect/Scope"
import type * as JetSocket from "../../JetSocket.js"
import {
  ConnectionRefusedError,
  ConnectionTimeoutError,
  InvalidMessageError,
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
import * as Outbound from "./outbound.js"

/**
 * The control plane, one connection: open it (url, headers and protocols
 * evaluated now), then set it up — connect hooks, replay, the send queue
 * flushed — before its held messages are delivered and it goes live.
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

/** One connect attempt. The connection lives in its own scope, closed when it ends. */
export const open = (client: Client<any>, attempt: number): Effect.Effect<Conn, JetSocketError> =>
  Effect.gen(function*() {
    const url = (yield* resolveDynamic(client.urlOption, "url"))!
    const headers = (yield* resolveDynamic(client.options.headers, "headers")) ?? {}
    const protocolsOption = yield* resolveDynamic(client.options.protocols, "protocols")
    const protocols = protocolsOption === undefined ? [] : typeof protocolsOption === "string" ? [protocolsOption] : protocolsOption
    client.currentUrl = url
    client.publish(JetSocketEvent.Connecting({ timestamp: client.now(), url, attempt }))
    const connectTimeout = client.connectTimeout
    const conn = new Conn(client, url)
    // Its own scope, not a child of another: nothing else holds it, and `close` reaches it through `opening`.
    const scope = yield* Scope.make()
    conn.scope = scope
    client.opening = conn
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
      Effect.onError(() => releaseSocket(client, conn)),
      // No captured stack trace: it would name this line (the attempt runs in the client's own fiber, not
      // at the user's call site), and capturing it costs an `Error` and an entry in Effect's span-trace
      // `WeakMap` per attempt, whose table stays sized for the attempts alive at once (~33 B per client
      // when 1 000 connect at once; docs/performance.md).
      // The outcome on the span (outcome, error tag, HTTP status); its attributes never carry the URL's secrets.
      Effect.onExit(Telemetry.attemptEnded),
      Effect.withSpan("jetsocket.connect", Telemetry.connectSpan(client, url, attempt))
    )
    conn.connection = connection
    conn.openedAt = client.elapsed()
    if (client.bufferPaused) connection.pause()
    // Without ping frames (browsers) only an application ping can prove liveness.
    const heartbeat = client.heartbeat
    if (heartbeat !== undefined && (connection.canPing || heartbeat.application !== undefined)) {
      conn.heartbeat = true
      client.env.ticker.schedule(conn, Duration.toMillis(heartbeat.interval))
    }
    return conn
  })

/** Closes an ended connection's scope (the socket is released, nothing of it stays behind). */
export const releaseSocket = (client: Client<any>, conn: Conn): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (client.opening === conn) client.opening = undefined
    return conn.scope === undefined ? Effect.void : Scope.close(conn.scope, Exit.void)
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

/** Runs hooks and replay on a new connection, flushes the send queue, then lets messages flow. */
export const activate = (client: Client<any>, conn: Conn, reconnected: boolean): Effect.Effect<void, JetSocketError> =>
  Effect.gen(function*() {
    const direct = directContext(client, conn, reconnected)
    if (reconnected) {
      for (const hook of client.hooks ?? []) yield* Guard.effect("onConnect hook", () => hook(direct))
      yield* runReplay(client, direct)
    }
    // Atomically: flush queued sends, then make this the current connection.
    client.current = conn
    client.opening = undefined
    const flushed = Outbound.flushSendQueue(client, conn)
    if (reconnected && client.replay.mode === "full_buffer") {
      const now = client.now()
      client.publish(JetSocketEvent.ReplayCompleted({ timestamp: now, replayed: flushed, duration: Duration.millis(now - client.replayStartedAt) }))
    }
    goLive(client, conn)
  })

/** Replay on a new connection: `sequence_id` calls `onReplay` with the last sequence id; `full_buffer` only marks the start (the flush re-sends). */
export const runReplay = (client: Client<any>, context: JetSocket.ConnectContext): Effect.Effect<void, JetSocketError> =>
  Effect.gen(function*() {
    if (client.replay.mode === "full_buffer") {
      client.replayStartedAt = client.now()
      client.publish(JetSocketEvent.ReplayStarted({ timestamp: client.replayStartedAt, mode: "full_buffer" }))
      return
    }
    if (client.replay.mode !== "sequence_id" || client.replay.onReplay === undefined) return
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
