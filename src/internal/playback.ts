/**
 * `TestServer.replay`: plays a recording (see recording.ts) to each
 * connection, reading the file as it goes, on the real clock (the server's
 * sockets are real too).
 *
 * Invariants:
 * - Memory does not depend on the recording's length: one 64 KiB chunk of the
 *   file per playing connection, and at most ~1 MiB waiting in the socket
 *   (past that, the next message waits until the socket took what it had).
 * - Timing is absolute per connection: a line is due at
 *   `start + (at - firstAt) / speed`, so waits do not add up into drift.
 * - One position per handler: with `drops`, a connection that plays a
 *   recorded drop moves it past that drop, so the reconnecting client gets
 *   what followed; every other connection starts at it too.
 * - It never throws out of a socket callback: a recording that went bad
 *   since it was loaded ends that connection with 1011 and the line.
 *
 * @internal
 */
import { InvalidOptionsError, type OptionProblem } from "../JetSocketError.js"
import type { Handler, ServerConnection } from "../TestServer.js"
import * as Recording from "./recording.js"

/** @internal */
export interface Options {
  readonly speed?: number | undefined
  readonly loop?: boolean | undefined
  readonly drops?: boolean | undefined
}

/** Past this much waiting in the socket, the next message waits until it was written. */
const HIGH_WATER = 1 << 20

const START: Recording.Position = { offset: 0, line: 1 }

/** Close codes a close frame may carry (RFC 6455 §7.4): any other recorded code is replayed as a TCP drop. */
const sendable = (code: number) => (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999)

/** @internal The problems of `replay`'s options (none: `[]`). */
export const check = (options: Options): ReadonlyArray<OptionProblem> => {
  const problems: Array<OptionProblem> = []
  const { drops, loop, speed } = options
  if (speed !== undefined && (typeof speed !== "number" || Number.isNaN(speed) || speed <= 0)) {
    problems.push({ option: "replay.speed", reason: `must be a number > 0 (Infinity: as fast as possible), got ${String(speed)}` })
  }
  if (loop !== undefined && typeof loop !== "boolean") problems.push({ option: "replay.loop", reason: "must be a boolean" })
  if (drops !== undefined && typeof drops !== "boolean") problems.push({ option: "replay.drops", reason: "must be a boolean" })
  return problems
}

/**
 * The handler. Invalid options throw an `InvalidOptionsError` (a defect, as
 * for the client's options).
 *
 * @internal
 */
export const handler = (path: string, summary: { readonly messages: number }, options: Options = {}): Handler => {
  const problems = check(options)
  if (problems.length > 0) throw new InvalidOptionsError({ problems })
  const speed = options.speed ?? 1
  const drops = options.drops ?? false
  // Looping over a recording without messages would spin: it plays once.
  const loop = (options.loop ?? false) && summary.messages > 0
  let position = START

  const play = async (connection: ServerConnection): Promise<void> => {
    const socket = connection.socket
    let open = connection.isOpen()
    // Whatever the playback waits on (a timer, the socket) also ends when the connection does.
    let wake: (() => void) | undefined
    connection.onClose(() => {
      open = false
      wake?.()
    })
    // One wait at a time; `register` may return how to cancel what it armed (a timer).
    const wait = (register: (done: () => void) => (() => void) | void) =>
      new Promise<void>((resolve) => {
        let cancel: (() => void) | void = undefined
        const done = () => {
          wake = undefined
          cancel?.()
          resolve()
        }
        wake = done
        cancel = register(done)
      })
    const send = async (data: string | Buffer) => {
      if (socket.bufferedAmount < HIGH_WATER) return socket.send(data)
      // ws calls back once this frame (and so everything before it) went to the kernel, or the socket closed.
      await wait((done) => void socket.send(data, done))
    }
    let from = position
    for (;;) {
      let anchor: { readonly time: number; readonly at: number } | undefined
      for await (const line of Recording.readLines(path, from)) {
        if (!open) return
        if (line.number === 1 || line.text.trim() === "") continue
        const entry = Recording.parseEntry(line.text)
        if (typeof entry === "string") return connection.close(1011, `recording line ${line.number} is malformed`)
        anchor ??= { time: performance.now(), at: entry.at }
        const delay = anchor.time + (entry.at - anchor.at) / speed - performance.now()
        if (delay >= 1) {
          await wait((done) => {
            const timer = setTimeout(done, delay)
            return () => clearTimeout(timer)
          })
          if (!open) return
        }
        switch (entry._tag) {
          case "Text":
            await send(entry.text)
            break
          case "Binary":
            await send(Buffer.from(entry.base64, "base64"))
            break
          case "Disconnected":
            if (!drops) break
            position = line.next
            return sendable(entry.code) ? connection.close(entry.code) : connection.drop()
          case "Connected":
            break
        }
      }
      if (!loop) return connection.close(1000)
      from = START
    }
  }

  return (connection) => {
    play(connection).catch(() => {
      // The file went missing or unreadable since it was loaded.
      connection.close(1011, "recording unreadable")
    })
  }
}
