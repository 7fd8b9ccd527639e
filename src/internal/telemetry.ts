import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Runtime from "effect/Runtime"
import type * as Tracer from "effect/Tracer"
import type * as JetSocket from "../JetSocket.js"
import type { JetSocketError } from "../JetSocketError.js"
import type { Client } from "./client.js"
import type * as Lifecycle from "./client/lifecycle.js"
import { countState, metricsOf } from "./metrics.js"
import { clientLabels, urlAttributes } from "./telemetryLabels.js"

/**
 * Traces of the client's story, kept off the hot path: a `jetsocket.connect`
 * span per attempt (see {@link connectSpan}), and a `jetsocket.outage` span
 * from a drop to the reconnection, whose children are that outage's attempts
 * and whose events are the lifecycle's steps during it. Nothing here runs per
 * message. Metrics that change with the state go through here too (see
 * {@link transition}); the rest are flushed by `Stats.flushMetrics`.
 *
 * An outage holds no fiber: its span is an object, kept in a `WeakMap` for
 * as long as the outage lasts, and ended by the transition that ends it.
 */

interface Outage {
  readonly span: Tracer.Span
  /** `client.now()` at the drop. */
  readonly startedAt: number
}

const outages = new WeakMap<Client<any>, Outage>()

/**
 * Called by `Lifecycle.transition` (the one place the state changes) once
 * the state is `step.next` (see {@link Step}). Counts the client in the
 * state gauge, and opens, annotates and ends the outage span. It never
 * throws: the state has changed already, and a tracer that throws must not
 * leave a transition half done.
 *
 * @internal
 */
export const transition = (client: Client<any>, step: Step): void => {
  try {
    record(client, step)
  } catch {
    // Telemetry is best effort: the client goes on without the span or the figure.
  }
}

/** A lifecycle step, as telemetry sees it. @internal */
export interface Step {
  /** The state entered. */
  readonly next: Lifecycle.State
  /** The public names of the state entered and of the state left. */
  readonly name: JetSocket.ConnectionState
  readonly previous: JetSocket.ConnectionState
  /** The attempts the outage made so far. */
  readonly attempts: number
}

const record = (client: Client<any>, { attempts, name, next, previous }: Step): void => {
  // The state gauge holds nothing per client: the state counted is the one before (none while Idle),
  // under the labels of the URL option, which stay the same for the client's life (a URL given as
  // an Effect: no server labels), so each decrement finds the series its increment made.
  const counted = previous === "Idle" ? undefined : previous
  const target = next._tag === "Closed" ? undefined : name
  if (counted !== target) countState(clientLabels(client, typeof client.urlOption === "string" ? client.urlOption : "<dynamic>"), counted, target)
  const outage = outages.get(client)
  switch (next._tag) {
    case "Dropped": {
      metricsOf(client).outageStarted()
      const span = Runtime.runSync(client.env.runtime)(Effect.makeSpan("jetsocket.outage", {
        attributes: {
          ...urlAttributes(client.currentUrl),
          ...nameAttribute(client),
          "jetsocket.close.code": next.code
        },
        captureStackTrace: false
      }))
      span.event("jetsocket.disconnected", span.status.startTime, { "jetsocket.close.code": next.code, "jetsocket.close.reason": next.reason })
      outages.set(client, { span, startedAt: client.now() })
      return
    }
    case "BackingOff":
      outage?.span.event("jetsocket.backing_off", nanos(client), {
        "jetsocket.attempt": next.attempt,
        "jetsocket.delay_ms": Math.round(Duration.toMillis(next.delay))
      })
      return
    case "Up": {
      if (outage === undefined) return
      const downtime = client.now() - outage.startedAt
      metricsOf(client).outageEnded(downtime)
      end(client, outage, "reconnected", Exit.void, { "jetsocket.attempts": attempts, "jetsocket.downtime_ms": downtime })
      return
    }
    case "Failed":
      if (outage !== undefined) end(client, outage, "failed", Exit.fail(next.error), { "jetsocket.attempts": attempts })
      return
    case "Closing":
      if (outage !== undefined) end(client, outage, "closed", Exit.void, { "jetsocket.attempts": attempts })
      return
  }
}

const nanos = (client: Client<any>): bigint => client.env.clock.unsafeCurrentTimeNanos()

const end = (
  client: Client<any>,
  outage: Outage,
  outcome: string,
  exit: Exit.Exit<void, JetSocketError>,
  attributes: Record<string, number>
): void => {
  outages.delete(client)
  const span = outage.span
  const at = nanos(client)
  span.event(`jetsocket.${outcome}`, at, attributes)
  span.attribute("jetsocket.outcome", outcome)
  for (const key in attributes) span.attribute(key, attributes[key])
  span.end(at, exit)
}

const nameAttribute = (client: Client<any>): Record<string, string> =>
  client.options.name === undefined ? {} : { "jetsocket.name": client.options.name }

/**
 * The options of one attempt's `jetsocket.connect` span: the URL as
 * {@link urlAttributes} leaves it, the attempt's number, the client's name;
 * a child of the outage it is part of, if any (else of the span the client
 * was made in). No captured stack trace (see connect.ts).
 *
 * @internal
 */
export const connectSpan = (client: Client<any>, url: string, attempt: number): Tracer.SpanOptions => {
  const attributes = { ...urlAttributes(url), ...nameAttribute(client), "jetsocket.attempt": attempt }
  const outage = outages.get(client)
  return outage === undefined
    ? { attributes, kind: "client", captureStackTrace: false }
    : { attributes, kind: "client", captureStackTrace: false, parent: outage.span }
}

/**
 * The attempt's outcome on its span (run inside it, as it ends): `connected`,
 * or the error's tag as `error.type` and, for a refused upgrade, its HTTP
 * status as `http.response.status_code`.
 *
 * @internal
 */
export const attemptEnded = <A>(exit: Exit.Exit<A, JetSocketError>): Effect.Effect<void> => {
  if (Exit.isSuccess(exit)) return Effect.annotateCurrentSpan("jetsocket.outcome", "connected")
  const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
  if (error === undefined) return Effect.annotateCurrentSpan("jetsocket.outcome", Exit.isInterrupted(exit) ? "interrupted" : "defect")
  const status = error._tag === "ConnectionRefusedError" ? error.status : undefined
  return Effect.annotateCurrentSpan({
    "jetsocket.outcome": "failed",
    "error.type": error._tag,
    ...(status === undefined ? {} : { "http.response.status_code": status })
  })
}
