import type * as Effect from "effect/Effect"
import type * as SubscriptionRef from "effect/SubscriptionRef"
import type * as JetSocket from "../../JetSocket.js"
import type { JetSocketError } from "../../JetSocketError.js"
import type { LatencyRecorder } from "../latency.js"
import type { Retry } from "./reconnect.js"

/**
 * The client's state that most clients never set: retries (after a first
 * failure), `onConnect` hooks, `stateChanges`, replay, dedup, overflow and
 * backpressure counters, invalid messages, measured latencies. It lives in
 * one object made when the first of them is set, not in ten fields on every
 * client (80 B per idle client; heap-snapshot diff, docs/performance.md).
 * The client reads and writes them through accessors of the same names
 * (installed by {@link install}), so the modules are unchanged; none is on
 * the path of a message unless its feature is on (a replay sequence key,
 * dedup, an overflow).
 *
 * @internal
 */
export class Rare {
  retryState: Retry | undefined = undefined
  hooks: Set<(context: JetSocket.ConnectContext) => Effect.Effect<void, JetSocketError>> | undefined = undefined
  stateRef: SubscriptionRef.SubscriptionRef<JetSocket.ConnectionState> | undefined = undefined
  lastSequenceId: unknown = undefined
  /** When the current full_buffer replay started (its ReplayCompleted reports the duration). */
  replayStartedAt = 0
  /** How many times backpressure paused reading (the heartbeat checks it). */
  bufferPauses = 0
  /** Dropped since the last `BufferOverflow` event; an event is due while it is above 0. */
  droppedSinceEvent = 0
  deduplicated = 0
  validationErrors = 0
  latencyRecorder: LatencyRecorder | undefined = undefined
}

const defaults = new Rare()

/** The names of {@link Rare}'s fields, each an accessor on the client. */
export const names = Object.keys(defaults) as ReadonlyArray<keyof Rare>

/**
 * Installs on `prototype` an accessor per field of {@link Rare}: a read with
 * no `rare` object yet gives the default; a write makes it, unless it writes
 * the default (a counter reset to 0 on a client that never counted).
 *
 * @internal
 */
export const install = (prototype: { rare: Rare | undefined }): void => {
  for (const name of names) {
    const fallback = defaults[name]
    Object.defineProperty(prototype, name, {
      get(this: { rare: Rare | undefined }) {
        const rare = this.rare
        return rare === undefined ? fallback : rare[name]
      },
      set(this: { rare: Rare | undefined }, value: unknown) {
        if (this.rare === undefined && value === fallback) return
        ;(this.rare ??= new Rare() as Rare)[name] = value as never
      }
    })
  }
}
