import * as Effect from "effect/Effect"
import type * as JetSocket from "../../JetSocket.js"
import { InvalidMessageError, InvalidStateError, type JetSocketError } from "../../JetSocketError.js"
import type { Client } from "../client.js"
import * as Codec from "../codec.js"
import { Deque } from "../deque.js"
import * as SendQueue from "../sendQueue.js"
import type { Conn } from "./conn.js"
import type { PendingRequest } from "./inbound.js"
import * as Stats from "./stats.js"

/**
 * The data plane, outbound: a send is written at once when a connection is
 * up and nothing waits before it, else queued (bounded, in order) and flushed
 * on the next connection; tracked writes the socket never confirmed are
 * re-sent there (at-least-once).
 */

type Frame = Codec.Frame

/**
 * A request's frame waiting in the send queue. Its delivery is the request's
 * own business (a drop fails it, or re-queues it with `resendOnReconnect`):
 * it is written untracked, and only while the request still waits — never
 * after it failed or timed out, never a second time from the unconfirmed
 * writes of a dropped socket.
 *
 * @internal
 */
export class QueuedRequest {
  constructor(readonly frame: Frame, readonly request: PendingRequest) {}
}

/** @internal What the send queue holds. */
export type Queued = Frame | QueuedRequest

/**
 * Writes a frame. Tracked frames are re-sent on the next connection if this
 * socket dies before confirming them; connection-scoped ones (subscribe
 * messages a connect hook re-sends anyway) are not.
 */
export const write = (client: Client<any>, conn: Conn, frame: Frame, track = true): void => {
  client.messagesSent++
  client.bytesSent += Stats.frameSize(frame)
  if (track) {
    ;(conn.inflight ??= new Deque()).push(frame)
    conn.connection!.send(frame, conn.onWritten)
  } else {
    conn.connection!.send(frame)
  }
}

/**
 * A send: written now, or queued (`queue: true`, the default) while there is
 * no open connection or older sends wait; the error it fails with, if any.
 */
export const trySend = (
  client: Client<any>,
  frame: Frame,
  queue: boolean,
  track = true,
  request?: PendingRequest
): JetSocketError | undefined => {
  if (client.isEnding()) {
    return new InvalidStateError({ state: client.stateNow, operation: "send" })
  }
  const conn = client.current
  if (!queue) {
    if (conn === undefined || !conn.connection!.isOpen()) return new InvalidStateError({ state: client.stateNow, operation: "send" })
    write(client, conn, frame, false)
    return undefined
  }
  const queued = client.queuedSends
  if (conn !== undefined && (queued === undefined || queued.size() === 0) && conn.connection!.isOpen()) {
    write(client, conn, frame, track)
    return undefined
  }
  if (client.sendCapacity === 0) return new InvalidStateError({ state: client.stateNow, operation: "send" })
  return sendQueue(client).offer(request === undefined ? frame : new QueuedRequest(frame, request))
}

/** The send queue (a bounded Mailbox, see internal/sendQueue.ts), made on the first send that has to wait. */
export const sendQueue = (client: Client<any>): SendQueue.SendQueue<Queued> =>
  client.queuedSends ??= SendQueue.make(client.sendCapacity, client.env.runtime)

/** `send` / `sendText` / `sendBinary` after encoding. */
export const sendFrame = (client: Client<any>, frame: Frame | InvalidMessageError, options: JetSocket.SendOptions | undefined): Effect.Effect<void, JetSocketError> => {
  if (frame instanceof InvalidMessageError) return Effect.fail(Codec.threw(frame) ?? frame)
  const error = trySend(client, frame, options?.queue ?? true)
  return error === undefined ? Effect.void : Effect.fail(error)
}

/** Writes the queued sends (and what the previous socket never wrote), then opens the gate; how many it wrote. */
export const flushSendQueue = (client: Client<any>, conn: Conn): number => {
  const queued = client.queuedSends === undefined ? [] : client.queuedSends.drain()
  let written = 0
  for (const item of queued) {
    if (!(item instanceof QueuedRequest)) write(client, conn, item)
    else if (client.pending?.has(item.request) === true) write(client, conn, item.frame, false)
    else continue
    written++
  }
  return written
}
