import * as Duration from "effect/Duration"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"

/**
 * The client's figures as Effect `Metric`s, so an OpenTelemetry exporter
 * sees them with no extra code. Counters are not touched per message: the
 * client keeps plain numbers on the hot path and this adds the difference
 * since the last flush (after each chunk the consumer takes, on `stats`,
 * and once a second).
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
  )
}

type Counters = {
  readonly messagesSent: number
  readonly messagesReceived: number
  readonly bytesSent: number
  readonly bytesReceived: number
  readonly reconnects: number
  readonly dropped: number
  readonly validationErrors: number
}

const names = ["messagesSent", "messagesReceived", "bytesSent", "bytesReceived", "reconnects", "dropped", "validationErrors"] as const

/** @internal */
export class ClientMetrics {
  private readonly tags: ReadonlyArray<MetricLabel.MetricLabel>
  private readonly flushed: Record<(typeof names)[number], number> = {
    messagesSent: 0,
    messagesReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    reconnects: 0,
    dropped: 0,
    validationErrors: 0
  }

  constructor(url: string) {
    this.tags = [MetricLabel.make("url", url)]
  }

  flush(source: { counters(): Counters }): void {
    const now = source.counters()
    for (const name of names) {
      const delta = now[name] - this.flushed[name]
      if (delta > 0) {
        metrics[name].unsafeUpdate(delta, this.tags)
        this.flushed[name] = now[name]
      }
    }
  }

  latency(latency: Duration.Duration): void {
    metrics.latency.unsafeUpdate(Duration.toMillis(latency), this.tags)
  }
}
