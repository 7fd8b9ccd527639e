import * as Deferred from "effect/Deferred"
import * as Exit from "effect/Exit"
import { BufferOverflowError, CallbackError, InvalidMessageError, type JetSocketError } from "../../JetSocketError.js"
import { JetSocketEvent } from "../../JetSocketEvent.js"
import type * as MessageBuffer from "../../MessageBuffer.js"
import type { Client } from "../client.js"
import * as Codec from "../codec.js"
import { afterIo } from "../defer.js"
import * as ReceiveBuffer from "../receiveBuffer.js"
import type { ReceiveBufferOptions } from "../receiveBuffer.js"
import type { Conn } from "./conn.js"
import { DEFAULTS } from "./defaults.js"
import * as Liveness from "./liveness.js"
import * as Stats from "./stats.js"

/**
 * The data plane, inbound: a frame from the transport callback to the receive
 * buffer, synchronously, in arrival order (no fiber, no allocation per
 * message beyond the buffer's): hold while the connection is set up, count,
 * then either queue the frame as it is (the consumer decodes its batch, see
 * `decodeTaken`) or decode now for whatever must see each value (an
 * application pong, a pending request, dedup, a replay sequence key).
 */

type Frame = Codec.Frame

/** @internal A waiter for a request's reply. */
export interface PendingRequest {
  readonly match: (message: any) => boolean
  readonly reply: Deferred.Deferred<any, JetSocketError>
  /** `resendOnReconnect`: the frame to send again on the next connection after a drop. */
  readonly resend: Frame | undefined
}

/**
 * The receive buffer's options and callbacks as one object with prototype
 * methods (one allocation per client, not one closure per callback).
 */
export class BufferHooks implements ReceiveBufferOptions<JetSocketError> {
  readonly capacity: number
  readonly policy: MessageBuffer.OverflowPolicy
  readonly decodes: boolean
  constructor(
    private readonly client: Client<any>,
    config: { readonly capacity: number; readonly overflowPolicy: MessageBuffer.OverflowPolicy }
  ) {
    this.capacity = config.capacity
    this.policy = config.overflowPolicy
    this.decodes = client.decodeOnTake
  }
  /** The backpressure offer runs in the user's runtime. */
  get runtime() {
    return this.client.env.runtime
  }
  decode(item: unknown): unknown {
    return decodeTaken(this.client, item)
  }
  onDrop() {
    bufferDropped(this.client)
  }
  onOverflow() {
    bufferOverflowed(this.client)
  }
  onPause() {
    bufferPause(this.client)
  }
  onResume() {
    bufferResume(this.client)
  }
  onTake() {
    bufferTaken(this.client)
  }
}

/** A value decoded on arrival (to answer a request) that still goes to the consumer. */
class Decoded {
  constructor(readonly value: unknown) {}
}

/** @internal The dedup check: a message's key recorded in the window (made apart, so that it holds nothing else). */
export const duplicates = <A>(key: (message: A) => unknown, window: MessageBuffer.DedupWindow) => (message: A): boolean =>
  window.seen(key(message))

/** @internal the receive buffer's callbacks (see `BufferHooks`) */
export const bufferDropped = (client: Client<any>): void => {
  // Coalesce: one event per burst (everything dropped in this turn of the event loop),
  // scheduled by the burst's first drop.
  if (client.droppedSinceEvent++ > 0) return
  afterIo(() => {
    const dropped = client.droppedSinceEvent
    client.droppedSinceEvent = 0
    client.publish(JetSocketEvent.BufferOverflow({ timestamp: client.now(), dropped, policy: client.buffer.policy }))
  })
}

/** @internal */
export const bufferOverflowed = (client: Client<any>): void => {
  client.current?.end(new BufferOverflowError({ capacity: client.buffer.capacity, buffer: "receive" }))
}

/** @internal */
export const bufferPause = (client: Client<any>): void => {
  client.bufferPauses++
  client.current?.connection?.pause()
}

/** @internal */
export const bufferResume = (client: Client<any>): void => {
  client.current?.connection?.resume()
}

/** @internal */
export const bufferTaken = (client: Client<any>): void => {
  if (client.now() - client.lastMetricsFlush >= DEFAULTS.metricsFlushMillis) Stats.flushMetrics(client)
}

/** @internal The transport callback (via `Conn`): the start of the hot path. */
export const receive = (client: Client<any>, conn: Conn, frame: Frame): void => {
  if (conn.endedWith !== undefined && !conn.closing) return
  if (conn.holding) {
    const held = conn.held ??= []
    held.push(frame)
    // Holding is short (hooks, rotation); still, never hold more than a buffer's worth.
    if (held.length === client.buffer.capacity) conn.connection?.pause()
    return
  }
  deliver(client, conn, frame)
}

/** A frame past the hold: counted, then queued as it is or decoded and routed (pong, request, dedup, sequence key). */
export const deliver = (client: Client<any>, conn: Conn, frame: Frame): void => {
  client.messagesReceived++
  client.bytesReceived += Stats.frameSize(frame)
  // Nothing needs the value now: queue the frame, the consumer decodes its batch (see `decodeTaken`).
  if (client.decodeOnTake && (client.pending === undefined || client.pending.size === 0)) {
    client.buffer.offer(frame as any)
    return
  }
  const value = client.codec.decode(frame)
  if (value instanceof InvalidMessageError) return invalid(client, value, conn)
  // Which user callback runs (a constant per step): a throw ends the client naming it.
  let callback = "heartbeat.pongMatcher"
  try {
    const heartbeat = client.heartbeat?.application
    if (heartbeat !== undefined) {
      if (heartbeat.pongMatcher === undefined) Liveness.onPong(client, conn)
      else if (heartbeat.pongMatcher(value)) return Liveness.onPong(client, conn)
    }
    if (client.pending !== undefined && client.pending.size > 0 && answer(client, value)) return
    callback = "buffer.dedup.key"
    if (client.isDuplicate !== undefined && client.isDuplicate(value)) {
      client.deduplicated++
      return
    }
    callback = "replay.sequenceKey"
    const sequenceKey = client.replay.sequenceKey
    if (sequenceKey !== undefined) client.lastSequenceId = sequenceKey(value)
  } catch (cause) {
    // Never an exception out of the socket callback: the client ends with the error, in order.
    return callbackFailed(client, conn, new CallbackError({ callback, cause }))
  }
  client.buffer.offer(client.decodeOnTake ? (new Decoded(value) as any) : value)
}

/** @internal The receive buffer's `decode`: what the consumer gets for a queued item. */
export const decodeTaken = (client: Client<any>, item: unknown): unknown => {
  if (item instanceof Decoded) return item.value
  const value = client.codec.decode(item as Frame)
  if (!(value instanceof InvalidMessageError)) return value
  const threw = Codec.threw(value)
  if (threw !== undefined) {
    callbackFailed(client, client.current, threw)
    return ReceiveBuffer.failure(threw)
  }
  if (client.strict) return ReceiveBuffer.failure(value)
  skipInvalid(client, value)
  return ReceiveBuffer.skip
}

/** An invalid message: `strict` fails the stream with it (in order), else it is skipped and reported. */
export const invalid = (client: Client<any>, error: InvalidMessageError, conn: Conn): void => {
  const threw = Codec.threw(error)
  if (threw !== undefined) return callbackFailed(client, conn, threw)
  if (client.strict) return client.buffer.offerFailure(error)
  skipInvalid(client, error)
}

/**
 * A user callback threw on the receive path: the client ends with the
 * `CallbackError` (fatal: the connection ends, and the reconnect loop fails
 * `ready`, `messages` and pending requests with it), like a receive overflow.
 */
export const callbackFailed = (client: Client<any>, conn: Conn | undefined, error: CallbackError): void => {
  // A connection being closed on purpose (rotation) no longer matters: end the one in use.
  const target = conn !== undefined && conn.closing ? client.current : conn
  if (target !== undefined && target.endedWith === undefined) {
    target.end(error)
    return
  }
  // No live connection to end (it ended meanwhile): the error must still reach the consumer.
  if (!client.isEnding()) client.buffer.fail(error)
}

/** `strict: false`: an invalid message is counted, reported and left out. */
export const skipInvalid = (client: Client<any>, error: InvalidMessageError): void => {
  client.validationErrors++
  client.publish(JetSocketEvent.ValidationError({ timestamp: client.now(), error }))
}

/** Completes the first pending request whose `match` accepts the value; `true` when one did (the value is consumed). */
export const answer = (client: Client<any>, value: unknown): boolean => {
  for (const request of client.pending!) {
    let matched: boolean
    try {
      matched = request.match(value)
    } catch (cause) {
      // A throwing matcher fails its own request (the caller's call), not the client.
      client.pending!.delete(request)
      Deferred.unsafeDone(request.reply, Exit.fail(new CallbackError({ callback: "request match", cause })))
      continue
    }
    if (!matched) continue
    client.pending!.delete(request)
    Deferred.unsafeDone(request.reply, Exit.succeed(value))
    return true
  }
  return false
}
