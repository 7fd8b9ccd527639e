import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"
import * as MetricLabel from "effect/MetricLabel"
import type { Client } from "./client.js"
import { redactUrl } from "./redact.js"

/**
 * What telemetry says about a client, and nothing more: the URL as
 * `redactUrl` leaves it (no user info, no query values) split the way
 * OpenTelemetry's semantic conventions name it, the `name` the user gave the
 * client, and the pool or multiplexer that made it. Metric labels are drawn
 * from these only, so a series is per endpoint and role, never per
 * connection, login or message.
 */

/**
 * The URL as span attributes (`url.full`, `server.address`, `server.port`,
 * `url.path`): from the redacted URL only, so no secret of the URL can reach
 * a span.
 *
 * @internal
 */
export const urlAttributes = (url: string): Record<string, string | number> => {
  const full = redactUrl(url)
  const parts = partsOf(full)
  return parts === undefined
    ? { "url.full": full }
    : { "url.full": full, "server.address": parts.address, "server.port": parts.port, "url.path": parts.path }
}

interface Parts {
  readonly address: string
  readonly port: number
  readonly path: string
}

const partsOf = (redacted: string): Parts | undefined => {
  let parsed: URL
  try {
    parsed = new URL(redacted)
  } catch {
    return undefined
  }
  // IPv6 hosts come bracketed in a URL; `server.address` is the bare address.
  const address = parsed.hostname.replace(/^\[(.*)\]$/, "$1")
  const port = parsed.port !== "" ? Number(parsed.port) : parsed.protocol === "wss:" ? 443 : 80
  return { address, port, path: parsed.pathname }
}

/**
 * Which pool or multiplexer makes the clients of an effect: set with
 * {@link ownedBy} around the `JetSocket.connect` of a pool or multiplexer,
 * read from the runtime a client captures when it is made (no field per
 * client).
 *
 * @internal
 */
export const currentOwner: FiberRef.FiberRef<string | undefined> = FiberRef.unsafeMake<string | undefined>(undefined)

/** @internal Clients made by `effect` belong to `owner` ("pool", "multiplexer"). */
export const ownedBy = (owner: string): <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R> =>
  Effect.locally(currentOwner, owner)

/** @internal The owner a client was made under, if any. */
export const ownerOf = (client: Client<any>): string | undefined =>
  FiberRefs.getOrDefault(client.env.runtime.fiberRefs, currentOwner)

// The label sets in use, shared by the clients that have the same one (a client holds a reference).
// Keyed by the label values, so the table is as small as the set of series; bounded all the same.
const labelSets = new Map<string, ReadonlyArray<MetricLabel.MetricLabel>>()
const MAX_LABEL_SETS = 1024

// What a URL's labels are, by URL: a state change looks them up without parsing it again.
const partsByUrl = new Map<string, Parts | undefined>()

/**
 * The metric labels of a client for `url` (by default the URL of its current
 * connection): `server.address`, `server.port`, `url.path`, and
 * `jetsocket.name` and `jetsocket.owner` when it has them.
 *
 * @internal
 */
export const clientLabels = (client: Client<any>, url: string = client.currentUrl): ReadonlyArray<MetricLabel.MetricLabel> => {
  let parts = partsByUrl.get(url)
  if (parts === undefined && !partsByUrl.has(url)) {
    if (partsByUrl.size >= MAX_LABEL_SETS) partsByUrl.clear()
    partsByUrl.set(url, parts = partsOf(redactUrl(url)))
  }
  const name = client.options.name
  const owner = ownerOf(client)
  const key = `${parts?.address}\u0000${parts?.port}\u0000${parts?.path}\u0000${name}\u0000${owner}`
  const known = labelSets.get(key)
  if (known !== undefined) return known
  const labels: Array<MetricLabel.MetricLabel> = parts === undefined
    ? [MetricLabel.make("server.address", "unknown")]
    : [
      MetricLabel.make("server.address", parts.address),
      MetricLabel.make("server.port", String(parts.port)),
      MetricLabel.make("url.path", parts.path)
    ]
  if (name !== undefined) labels.push(MetricLabel.make("jetsocket.name", name))
  if (owner !== undefined) labels.push(MetricLabel.make("jetsocket.owner", owner))
  if (labelSets.size >= MAX_LABEL_SETS) labelSets.clear()
  labelSets.set(key, labels)
  return labels
}
