import { ConnectionRefusedError } from "../JetSocketError.js"

/**
 * Checks that `url` is an absolute `ws:` or `wss:` URL. Returns the fatal
 * error to report, or `undefined` when the URL is usable.
 *
 * @internal
 */
export const validateUrl = (url: string): ConnectionRefusedError | undefined => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return new ConnectionRefusedError({ url, reason: `invalid URL "${url}"`, fatal: true })
  }
  if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
    return new ConnectionRefusedError({
      url,
      reason: `unsupported URL scheme "${parsed.protocol}" (expected ws: or wss:)`,
      fatal: true
    })
  }
  if (parsed.hash !== "") {
    return new ConnectionRefusedError({ url, reason: "a WebSocket URL cannot have a fragment", fatal: true })
  }
  return undefined
}

/**
 * Resolves a path or URL against a base URL: `"/ws"` against
 * `"ws://host:1"` gives `"ws://host:1/ws"`; an absolute URL stays as it is.
 *
 * @internal
 */
export const resolveUrl = (base: string | undefined, pathOrUrl: string): string => {
  if (/^[a-z][a-z0-9+.-]*:/i.test(pathOrUrl) || base === undefined) return pathOrUrl
  return new URL(pathOrUrl, base.endsWith("/") ? base : `${base}/`).toString().replace(/(?<!:)\/\/+/g, "/")
}
