/**
 * The recording format, version 1: what `jetsocket URL --record FILE` writes
 * and `TestServer.loadRecording` / `TestServer.replay` read. JSON Lines:
 *
 *   { "format": "jetsocket-recording", "version": 1, "url": "wss://host/path?token=", "startedAt": "2026-…Z" }
 *   { "at": 0, "text": "…" }                          a text message
 *   { "at": 12, "binary": "AAEC…" }                   a binary message (base64)
 *   { "at": 40, "event": "disconnected", "code": 1006 } the connection dropped
 *   { "at": 950, "event": "connected" }               a new connection is open
 *
 * `at` is in ms since the first message (0 for anything before it) and never
 * goes back. Each line is written whole, so a recorder killed at any moment
 * leaves a file that reads up to its last line. Reading is streamed: a chunk
 * of the file and the line being read are all that is held, whatever the
 * recording's length.
 *
 * @internal
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import { redactUrl } from "./redact.js"

/** @internal */
export const FORMAT = "jetsocket-recording"

/** @internal The only version this code writes and reads. */
export const VERSION = 1

/** @internal */
export const RecordingTypeId: unique symbol = Symbol.for("jetsocket/TestServer/Recording")

/** @internal `TestServer.RecordingError`. */
export class RecordingError extends Data.TaggedError("RecordingError")<{
  /** The file, as given. */
  readonly path: string
  /** The 1-based line at fault; 0 when the file as a whole is (missing, unreadable). */
  readonly line: number
  readonly reason: string
}> {
  override get message(): string {
    return `${this.path}${this.line > 0 ? `:${this.line}` : ""}: ${this.reason}`
  }
}

/** @internal What a recording holds, found by reading it through once. */
export interface Summary {
  readonly url: string
  readonly startedAt: string
  readonly messages: number
  /** Recorded drops (`disconnected` lines). */
  readonly drops: number
  /** The `at` of the last line. */
  readonly durationMs: number
}

/** @internal One line after the header. `binary` stays base64 until it is sent. */
export type Entry =
  | { readonly _tag: "Text"; readonly at: number; readonly text: string }
  | { readonly _tag: "Binary"; readonly at: number; readonly base64: string }
  | { readonly _tag: "Disconnected"; readonly at: number; readonly code: number }
  | { readonly _tag: "Connected"; readonly at: number }

// ------------------------------------------------------------------ writing

/** @internal The first line, with the URL redacted (no user info, no query values). */
export const headerLine = (url: string, startedAt: Date): string =>
  `${JSON.stringify({ format: FORMAT, version: VERSION, url: redactUrl(url), startedAt: startedAt.toISOString() })}\n`

/** @internal */
export const messageLine = (at: number, message: string | Uint8Array): string =>
  `${
    JSON.stringify(
      typeof message === "string"
        ? { at, text: message }
        : { at, binary: Buffer.from(message.buffer, message.byteOffset, message.byteLength).toString("base64") }
    )
  }\n`

/** @internal */
export const disconnectedLine = (at: number, code: number): string =>
  `${JSON.stringify({ at, event: "disconnected", code })}\n`

/** @internal */
export const connectedLine = (at: number): string => `${JSON.stringify({ at, event: "connected" })}\n`

// ------------------------------------------------------------------ reading

/** @internal A position in a recording: a byte offset and the number of the line that starts there. */
export interface Position {
  readonly offset: number
  readonly line: number
}

/** @internal */
export interface Line {
  readonly text: string
  readonly number: number
  /** The position of the next line. */
  readonly next: Position
}

const NEWLINE = 0x0a

/**
 * The lines of `path` from `from` on, read in 64 KiB chunks: only the current
 * chunk and the line being assembled are held. A last line without a newline
 * is still a line. A trailing `\r` is dropped (CRLF files).
 *
 * @internal
 */
export async function* readLines(path: string, from: Position = { offset: 0, line: 1 }): AsyncGenerator<Line> {
  const stream = fs.createReadStream(path, { start: from.offset, highWaterMark: 64 * 1024 })
  // The pieces of a line that spans chunks, concatenated once its end is found.
  let parts: Array<Buffer> = []
  let offset = from.offset
  let number = from.line
  const line = (bytes: Buffer): Line => {
    offset += bytes.byteLength + 1
    const end = bytes.byteLength > 0 && bytes[bytes.byteLength - 1] === 0x0d ? bytes.byteLength - 1 : bytes.byteLength
    return { text: bytes.toString("utf8", 0, end), number: number++, next: { offset, line: number } }
  }
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let start = 0
      let end: number
      while ((end = chunk.indexOf(NEWLINE, start)) !== -1) {
        const piece = chunk.subarray(start, end)
        const bytes = parts.length === 0 ? piece : Buffer.concat([...parts, piece])
        parts = []
        start = end + 1
        yield line(bytes)
      }
      if (start < chunk.byteLength) parts.push(chunk.subarray(start))
    }
    if (parts.length > 0) {
      const last = line(Buffer.concat(parts))
      // Past the end: there is no next line to resume at.
      yield { ...last, next: { offset: last.next.offset - 1, line: last.next.line } }
    }
  } finally {
    stream.destroy()
  }
}

const isObject = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const parseJson = (text: string): { readonly value: unknown } | string => {
  try {
    return { value: JSON.parse(text) }
  } catch (error) {
    return `not JSON (${(error as Error).message})`
  }
}

const base64 = /^[A-Za-z0-9+/]*={0,2}$/

/** @internal The header's fields, or why the first line is not a header. */
export const parseHeader = (text: string): { readonly url: string; readonly startedAt: string } | string => {
  const parsed = parseJson(text)
  if (typeof parsed === "string" || !isObject(parsed.value) || parsed.value.format !== FORMAT) {
    return `not a jetsocket recording: the first line must be a header { "format": "${FORMAT}", "version": ${VERSION}, … }`
  }
  const header = parsed.value
  if (typeof header.version !== "number") return "the header has no \"version\" number"
  if (header.version !== VERSION) {
    return `unknown version ${header.version} (this version of jetsocket reads version ${VERSION})`
  }
  if (typeof header.url !== "string") return "the header has no \"url\" string"
  if (typeof header.startedAt !== "string") return "the header has no \"startedAt\" string"
  return { url: header.url, startedAt: header.startedAt }
}

/** @internal A line after the header, or why it is malformed. */
export const parseEntry = (text: string): Entry | string => {
  const parsed = parseJson(text)
  if (typeof parsed === "string") return parsed
  const entry = parsed.value
  if (!isObject(entry)) return "not a JSON object"
  const at = entry.at
  if (typeof at !== "number" || !Number.isFinite(at) || at < 0) {
    return `"at" must be a number ≥ 0 (ms since the first message), got ${JSON.stringify(at) ?? "nothing"}`
  }
  const kinds = ["text", "binary", "event"].filter((key) => key in entry)
  if (kinds.length !== 1) {
    return kinds.length === 0
      ? "a line needs one of \"text\", \"binary\" or \"event\""
      : `a line has one of "text", "binary" or "event", this one has ${kinds.map((k) => `"${k}"`).join(" and ")}`
  }
  if ("text" in entry) {
    return typeof entry.text === "string" ? { _tag: "Text", at, text: entry.text } : "\"text\" must be a string"
  }
  if ("binary" in entry) {
    const data = entry.binary
    return typeof data === "string" && data.length % 4 === 0 && base64.test(data)
      ? { _tag: "Binary", at, base64: data }
      : "\"binary\" must be a base64 string"
  }
  if (entry.event === "connected") return { _tag: "Connected", at }
  if (entry.event === "disconnected") {
    const code = entry.code
    return typeof code === "number" && Number.isInteger(code) && code >= 1000 && code <= 4999
      ? { _tag: "Disconnected", at, code }
      : `a "disconnected" line needs a close "code" (an integer 1000-4999), got ${JSON.stringify(code) ?? "nothing"}`
  }
  return `unknown event ${JSON.stringify(entry.event)} (known: "disconnected", "connected")`
}

/** @internal Reads the file's error as a reason. */
export const fileReason = (error: unknown): string =>
  (error as NodeJS.ErrnoException)?.code === "ENOENT"
    ? "no such file"
    : `cannot read the file (${error instanceof Error ? error.message : String(error)})`

/**
 * Reads the whole recording once, streamed, and checks every line: the
 * header, then each entry (`at` never going back). Holds nothing per line.
 *
 * @internal
 */
export const load = (path: string): Effect.Effect<Summary, RecordingError> =>
  Effect.tryPromise({
    try: async (): Promise<Summary | RecordingError> => {
      const fail = (line: number, reason: string) => new RecordingError({ path, line, reason })
      let header: { readonly url: string; readonly startedAt: string } | undefined
      let messages = 0
      let drops = 0
      let last = 0
      for await (const line of readLines(path)) {
        if (line.number === 1) {
          const parsed = parseHeader(line.text)
          if (typeof parsed === "string") return fail(1, parsed)
          header = parsed
          continue
        }
        // Blank lines carry nothing (a file edited by hand may have one).
        if (line.text.trim() === "") continue
        const entry = parseEntry(line.text)
        if (typeof entry === "string") return fail(line.number, entry)
        if (entry.at < last) return fail(line.number, `"at" goes back in time (${entry.at} after ${last})`)
        last = entry.at
        if (entry._tag === "Text" || entry._tag === "Binary") messages++
        else if (entry._tag === "Disconnected") drops++
      }
      if (header === undefined) return fail(1, "an empty file: no header line")
      return { ...header, messages, drops, durationMs: last }
    },
    catch: (error) => new RecordingError({ path, line: 0, reason: fileReason(error) })
  }).pipe(Effect.flatMap((result) => (result instanceof RecordingError ? Effect.fail(result) : Effect.succeed(result))))
