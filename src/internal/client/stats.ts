import * as Duration from "effect/Duration"
import type * as JetSocket from "../../JetSocket.js"
import type { Client } from "../client.js"
import type * as Codec from "../codec.js"
import { LatencyRecorder } from "../latency.js"
import { metricsOf } from "../metrics.js"

/** Figures: the `stats` snapshot, and the flush of the plain counters to Effect `Metric`s. */

/** @internal A frame's size as counted in `bytesSent` / `bytesReceived` (a text frame: its UTF-16 length). */
export const frameSize = (frame: Codec.Frame): number => (typeof frame === "string" ? frame.length : frame.byteLength)

/** @internal */
export const flushMetrics = (client: Client<any>): void => {
  client.lastMetricsFlush = client.now()
  // Nothing happened yet (an idle client): no metrics state to keep.
  if (client.metrics === undefined && client.messagesSent + client.messagesReceived + client.reconnects + client.validationErrors === 0 && droppedSoFar(client) === 0) return
  metricsOf(client).flush()
}

/** Messages the overflow policy dropped so far. */
export const droppedSoFar = (client: Client<any>): number =>
  client.receiveBuffer === undefined ? 0 : client.receiveBuffer.dropped()

/** The latency recorder, made on the first pong or read. */
export const latencies = (client: Client<any>): LatencyRecorder =>
  client.latencyRecorder ??= new LatencyRecorder()

/** The `stats` snapshot (flushes the metrics first). */
export const snapshot = (client: Client<any>): JetSocket.ConnectionStats => {
  flushMetrics(client)
  const size = client.buffer.size()
  const conn = client.current
  return {
    state: client.stateNow,
    url: client.currentUrl,
    messagesSent: client.messagesSent,
    messagesReceived: client.messagesReceived,
    bytesSent: client.bytesSent,
    bytesReceived: client.bytesReceived,
    reconnects: client.reconnects,
    uptime: conn === undefined ? Duration.zero : Duration.millis(client.now() - conn.openedAt),
    lastLatency: latencies(client).last,
    averageLatency: latencies(client).average,
    latencyHistogram: latencies(client).histogram(),
    bufferSize: size,
    bufferCapacity: client.buffer.capacity,
    bufferFillRatio: size / client.buffer.capacity,
    dropped: client.buffer.dropped(),
    deduplicated: client.deduplicated,
    validationErrors: client.validationErrors,
    sendQueueSize: client.queuedSends?.size() ?? 0
  }
}

/** @internal figures read by the metrics flusher */
export const counters = (client: Client<any>) => ({
  messagesSent: client.messagesSent,
  messagesReceived: client.messagesReceived,
  bytesSent: client.bytesSent,
  bytesReceived: client.bytesReceived,
  reconnects: client.reconnects,
  dropped: droppedSoFar(client),
  validationErrors: client.validationErrors
})
