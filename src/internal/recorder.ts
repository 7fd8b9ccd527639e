/**
 * The writer behind `jetsocket URL --record FILE`: one synchronous write per
 * line (see recording.ts for the format), so the file is valid up to its last
 * line whenever the process dies, and nothing waits in a user-space buffer.
 *
 * @internal
 */
import * as fs from "node:fs"
import * as Recording from "./recording.js"

/** @internal A drop as the events fiber saw it: its code, at the recorder's clock. */
export interface Drop {
  readonly code: number
  readonly seenAt: number
}

/** @internal */
export interface Recorder {
  readonly path: string
  /** Writes a message arriving now (ignored past `limit`). */
  readonly message: (message: string | Uint8Array) => void
  /**
   * Writes the drop, then a new connection open now: called before the new
   * connection delivers anything, so the file keeps the order of the wire.
   */
  readonly reconnected: (drop: Drop) => void
  /** Writes a drop that no reconnect followed (the run ended). */
  readonly disconnected: (drop: Drop) => void
  /** The recorder's clock (ms, monotonic), for a {@link Drop}'s `seenAt`. */
  readonly now: () => number
  /** Messages written so far. */
  readonly messages: () => number
  readonly drops: () => number
  /** The first write that failed (nothing more is written after it). */
  readonly failure: () => Error | undefined
  readonly close: () => void
}

const writeAll = (fd: number, text: string): void => {
  const bytes = Buffer.from(text, "utf8")
  let written = 0
  while (written < bytes.byteLength) written += fs.writeSync(fd, bytes, written, bytes.byteLength - written)
}

/**
 * Creates (or truncates) `path` and writes the header; throws when the file
 * cannot be created (the caller reports it). Later write failures never
 * throw (the recorder runs inside the client's socket callback): the first
 * one stops the recording and is kept for {@link Recorder.failure}.
 *
 * @internal
 */
export const open = (
  path: string,
  url: string,
  options: { readonly limit?: number | undefined; readonly now?: () => number } = {}
): Recorder => {
  const now = options.now ?? (() => performance.now())
  const limit = options.limit ?? Infinity
  const fd = fs.openSync(path, "w")
  let closed = false
  let failure: Error | undefined
  const write = (text: string) => {
    if (closed || failure !== undefined) return
    try {
      writeAll(fd, text)
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error))
    }
  }
  try {
    writeAll(fd, Recording.headerLine(url, new Date()))
  } catch (error) {
    fs.closeSync(fd)
    throw error
  }
  let first: number | undefined
  let last = 0
  let messages = 0
  let drops = 0
  // `at`: ms since the first message, 0 before it, never going back.
  const at = (time: number) => (last = Math.max(last, first === undefined ? 0 : Math.round(time - first)))
  const disconnected = (drop: Drop) => {
    drops++
    write(Recording.disconnectedLine(at(drop.seenAt), drop.code))
  }
  return {
    path,
    now,
    message: (message) => {
      if (messages >= limit) return
      const time = now()
      first ??= time
      write(Recording.messageLine(at(time), message))
      messages++
    },
    reconnected: (drop) => {
      disconnected(drop)
      write(Recording.connectedLine(at(now())))
    },
    disconnected,
    messages: () => messages,
    drops: () => drops,
    failure: () => failure,
    close: () => {
      if (closed) return
      closed = true
      fs.closeSync(fd)
    }
  }
}
