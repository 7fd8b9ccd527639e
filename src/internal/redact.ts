// Apart from url.ts (which imports the errors) so that JetSocketError's messages can use it.

/**
 * The URL as telemetry and recordings may carry it: without user info, and
 * with every query value removed (the keys stay: `?token=`), so neither a
 * password nor a token in the URL leaves the process. A fragment stays: a
 * WebSocket URL with one is refused before any connect (`validateUrl`), and
 * the error must show what was refused. A string that does not parse as a URL
 * is replaced whole (it could be anything).
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
  if (parsed.search === "") return parsed.toString()
  const keys = [...new URLSearchParams(parsed.search).keys()]
  parsed.search = `?${keys.map((key) => `${encodeURIComponent(key)}=`).join("&")}`
  return parsed.toString()
}

/**
 * An error's JSON (what `Effect.log(error)` and JSON loggers print) with its
 * `url` field redacted; the error's own `url` field stays as given (the
 * caller's data, for the caller's code).
 *
 * @internal
 */
export const withRedactedUrl = (json: unknown): unknown => {
  const record = json as { url?: unknown }
  return typeof record.url === "string" ? { ...record, url: redactUrl(record.url) } : json
}
