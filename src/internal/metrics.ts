import * as Duration from "effect/Duration"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"
import type { Client } from "./client.js"
import { clientLabels } from "./telemetryLabels.js"

/**
 * The client's figures as Effect `Metric`s, so an OpenTelemetry exporter
 * sees them with no extra code (every one is listed in docs/observability.md:
 * keep that table in step). Nothing here is touched per message: the client
 * keeps plain numbers on the hot path and {@link ClientMetrics.flush} adds
 * the difference since the last flush (after a chunk the consumer takes once
 * a second has passed, at each heartbeat ping, on `stats`, and at every
 * state change).
 *
 * Labels come from a small set (see `telemetryLabels.ts`): never the full
 * URL, which may carry a password or a token and would make a series per
 * login.
 *
 * @internal
 */
export const metrics = {
  messagesReceived: Metric.counter("jetsocket_messages_received_total", { description: "Messages received" }),
  messagesSent: Metric.counter("jetsocket_messages_sent_total", { description: "Messages sent" }),
  bytesReceived: Metric.counter("jetsocket_bytes_received_total", { description: "Bytes received" }),
  bytesSent: Metric.counter("jetsocket_bytes_sent_total", { description: "Bytes sent" }),
  reconnects: Metric.counter("jetsocket_reconnects_total", { description: "Reconnections" }),
  dropped: Metric.counter("jetsocket_dropped_total", { description: "Messages dropped by the overflow policy" }),
  validationErrors: Metric.counter("jetsocket_validation_errors_total", { description: "Invalid messages skipped" }),
  latency: Metric.histogram(
    "jetsocket_latency_ms",
    MetricBoundaries.exponential({ start: 1, factor: 2, count: 14 }),
    "Heartbeat round trip in milliseconds"
  ),
  // Gauges are sums over the clients that share a label set: each client adds the change of its own
  // contribution (`unsafeModify`), never sets the total (that would erase the other clients').
  connections: Metric.gauge("jetsocket_connections", {
    description: "Clients in each state (label jetsocket.state); closed clients are not counted"
  }),
  bufferMessages: Metric.gauge("jetsocket_buffer_messages", { description: "Messages waiting in receive buffers" }),
  bufferCapacity: Metric.gauge("jetsocket_buffer_capacity", { description: "Capacity of the receive buffers in use" }),
  sendQueueMessages: Metric.gauge("jetsocket_send_queue_messages", {
    description: "Sends queued while not connected"
  }),
  outages: Metric.counter("jetsocket_outages_total", { description: "Connections that were up and dropped" }),
  outageDuration: Metric.histogram(
    "jetsocket_outage_duration_ms",
    MetricBoundaries.exponential({ start: 10, factor: 2, count: 16 }),
    "Time from a drop to the reconnection, in milliseconds"
  )
}

const counterNames = ["messagesSent", "messagesReceived", "bytesSent", "bytesReceived", "reconnects", "dropped", "validationErrors"] as const
type CounterName = (typeof counterNames)[number]

const zeros: Record<CounterName, number> = {
  messagesSent: 0,
  messagesReceived: 0,
  bytesSent: 0,
  bytesReceived: 0,
  reconnects: 0,
  dropped: 0,
  validationErrors: 0
}

// The label sets of `jetsocket_connections`: a client's labels plus its state, shared by the clients
// with the same ones (a client holds a reference, not an array of its own).
const stateLabelSets = new WeakMap<ReadonlyArray<MetricLabel.MetricLabel>, Map<string, ReadonlyArray<MetricLabel.MetricLabel>>>()

const withState = (tags: ReadonlyArray<MetricLabel.MetricLabel>, state: string): ReadonlyArray<MetricLabel.MetricLabel> => {
  let byState = stateLabelSets.get(tags)
  if (byState === undefined) stateLabelSets.set(tags, byState = new Map())
  let labels = byState.get(state)
  if (labels === undefined) byState.set(state, labels = [...tags, MetricLabel.make("jetsocket.state", state)])
  return labels
}

/**
 * Moves a client in `jetsocket_connections` from the state `from` to `to`
 * (`undefined`: counted in none), under its `labels`.
 *
 * @internal
 */
export const countState = (labels: ReadonlyArray<MetricLabel.MetricLabel>, from: string | undefined, to: string | undefined): void => {
  if (from !== undefined) metrics.connections.unsafeModify(-1, withState(labels, from))
  if (to !== undefined) metrics.connections.unsafeModify(1, withState(labels, to))
}

/**
 * One client's share of the metrics: the label set it records under, the
 * counters as last flushed, and what it adds to the buffer and send-queue
 * gauges (taken back when it closes). Made on the first flush with something
 * to record, or the first outage: an idle client holds none (its state is
 * counted from the state it leaves at each transition, see `Telemetry.transition`).
 *
 * @internal
 */
export class ClientMetrics {
  /** The URL `tags` were made for (a dynamic URL may change between attempts). */
  private url: string
  tags: ReadonlyArray<MetricLabel.MetricLabel>
  /** The counters as last flushed: made by the first flush that has something to add (an idle client holds none). */
  private flushed: Record<CounterName, number> | undefined
  // What this client adds to each gauge, and under which labels (taken back under the same ones).
  private gaugeTags: ReadonlyArray<MetricLabel.MetricLabel> = []
  private bufferMessages = 0
  private bufferCapacity = 0
  private sendQueueMessages = 0

  constructor(private readonly client: Client<any>) {
    this.url = client.currentUrl
    this.tags = clientLabels(client)
  }

  /** The label set for the client's current URL. */
  private current(): ReadonlyArray<MetricLabel.MetricLabel> {
    if (this.url !== this.client.currentUrl) {
      this.url = this.client.currentUrl
      this.tags = clientLabels(this.client)
    }
    return this.tags
  }

  /** Adds the counters' growth since the last flush, and moves the gauges to the client's figures (0 once closed). */
  flush(): void {
    const tags = this.current()
    const now = this.client.counters()
    for (const name of counterNames) {
      const delta = now[name] - (this.flushed?.[name] ?? 0)
      if (delta > 0) {
        metrics[name].unsafeUpdate(delta, tags)
        ;(this.flushed ??= { ...zeros })[name] = now[name]
      }
    }
    const client = this.client
    const closed = client.lifecycle._tag === "Closed"
    const buffer = closed ? undefined : client.receiveBuffer
    if (this.gaugeTags !== tags) {
      // The labels changed (or first flush): take this client's share back from the old series.
      this.moveGauges(0, 0, 0)
      this.gaugeTags = tags
    }
    this.moveGauges(buffer?.size() ?? 0, buffer?.capacity ?? 0, closed ? 0 : client.queuedSends?.size() ?? 0)
  }

  private moveGauges(bufferMessages: number, bufferCapacity: number, sendQueueMessages: number): void {
    const tags = this.gaugeTags
    if (bufferMessages !== this.bufferMessages) metrics.bufferMessages.unsafeModify(bufferMessages - this.bufferMessages, tags)
    if (bufferCapacity !== this.bufferCapacity) metrics.bufferCapacity.unsafeModify(bufferCapacity - this.bufferCapacity, tags)
    if (sendQueueMessages !== this.sendQueueMessages) {
      metrics.sendQueueMessages.unsafeModify(sendQueueMessages - this.sendQueueMessages, tags)
    }
    this.bufferMessages = bufferMessages
    this.bufferCapacity = bufferCapacity
    this.sendQueueMessages = sendQueueMessages
  }

  latency(latency: Duration.Duration): void {
    metrics.latency.unsafeUpdate(Duration.toMillis(latency), this.current())
  }

  outageStarted(): void {
    metrics.outages.unsafeUpdate(1, this.current())
  }

  outageEnded(downtimeMillis: number): void {
    metrics.outageDuration.unsafeUpdate(downtimeMillis, this.current())
  }
}

/** @internal The client's metrics, made on first use. */
export const metricsOf = (client: Client<any>): ClientMetrics => client.metrics ??= new ClientMetrics(client)
