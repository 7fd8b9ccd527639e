import * as Duration from "effect/Duration"
import type * as MessageBuffer from "../../MessageBuffer.js"

/** @internal The client's defaults (the public ones are documented on `JetSocket.Options`). */
export const DEFAULTS = {
  maxMessageSize: 64 * 1024 * 1024,
  connectTimeout: Duration.seconds(10),
  closeTimeout: Duration.seconds(5),
  sendQueue: 1000,
  compressionThreshold: 1024,
  requestTimeout: Duration.seconds(30),
  // Events are rare; a sliding hub preallocates its slots, so keep it small (per client).
  eventCapacity: 128,
  /** Metrics are flushed to Effect's `Metric`s at most this often from the receive path. */
  metricsFlushMillis: 1000
}

/** @internal Most clients replay nothing: one shared setting. */
export const noReplay: MessageBuffer.ReplayConfig<any> = { mode: "none" }
