/**
 * The OpenTelemetry SDK as a user wires it (`@effect/opentelemetry`'s
 * `NodeSdk.layer`), with in-memory exporters the tests read: finished spans,
 * log records, and metrics collected on demand.
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { InMemoryLogRecordExporter, SimpleLogRecordProcessor } from "@opentelemetry/sdk-logs"
import { MetricReader, type ResourceMetrics } from "@opentelemetry/sdk-metrics"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect } from "effect"

/** A reader that exports nothing by itself: `collect()` reads the metrics now. */
class OnDemandReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve()
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve()
  }
}

export interface Exported {
  readonly spans: () => ReadonlyArray<ReadableSpan>
  readonly logs: InMemoryLogRecordExporter
  readonly metrics: Effect.Effect<ResourceMetrics>
}

export const makeSdk = () => {
  const spans = new InMemorySpanExporter()
  const logs = new InMemoryLogRecordExporter()
  const reader = new OnDemandReader()
  const layer = NodeSdk.layer(() => ({
    resource: { serviceName: "jetsocket-test" },
    spanProcessor: new SimpleSpanProcessor(spans),
    metricReader: reader,
    logRecordProcessor: new SimpleLogRecordProcessor({ exporter: logs })
  }))
  const exported: Exported = {
    spans: () => spans.getFinishedSpans(),
    logs,
    metrics: Effect.promise(() => reader.collect()).pipe(Effect.map((collected) => collected.resourceMetrics))
  }
  return { layer, exported }
}

/** The data points of metric `name` whose attributes include `labels`. */
export const points = (metrics: ResourceMetrics, name: string, labels: Record<string, string>) =>
  metrics.scopeMetrics.flatMap((scope) => scope.metrics).filter((metric) => metric.descriptor.name === name).flatMap((metric) =>
    (metric.dataPoints as ReadonlyArray<{ attributes: Record<string, unknown>; value: unknown }>).filter((point) =>
      Object.entries(labels).every(([key, value]) => point.attributes[key] === value)
    )
  )
