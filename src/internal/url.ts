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

/**
 * The URL as telemetry and recordings may carry it: without user info, and
 * with every query value removed (the keys stay: `?token=`), so neither a
 * password nor a token in the URL leaves the process. A string that does not
 * parse as a URL is replaced whole (it could be anything).
 *
 * @internal
 */
export const redactUrl = (url: string): string => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return "<invalid url>"
  }
  parsed.username = ""
  parsed.password = ""
  parsed.hash = ""
  if (parsed.search === "") return parsed.toString()
  const keys = [...new URLSearchParams(parsed.search).keys()]
  parsed.search = ""
  return `${parsed.toString()}?${keys.map((key) => `${encodeURIComponent(key)}=`).join("&")}`
}
