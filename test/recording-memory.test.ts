import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))

interface Measured {
  readonly lines: number
  readonly fileMB: number
  readonly baseHeap: number
  readonly afterLoad: number
  readonly peakHeap: number
  readonly received: number
  readonly inOrder: boolean
  readonly code: number
  readonly seconds: number
}

/** Loads and replays a generated recording of `lines` messages in a child process (test/fixtures/replay-memory.ts). */
const measure = (lines: number) =>
  Effect.async<Measured, Error>((resume) => {
    const child = execFile(
      process.execPath,
      ["--expose-gc", "--import", "tsx", "test/fixtures/replay-memory.ts", String(lines)],
      { cwd: root, timeout: 150_000 },
      (error, stdout, stderr) => {
        if (error !== null) return resume(Effect.fail(new Error(`${error.message}\n${stderr}`)))
        resume(Effect.succeed(JSON.parse(stdout.trim().split("\n").pop()!) as Measured))
      }
    )
    return Effect.sync(() => child.kill("SIGKILL"))
  })

const MB = 2 ** 20

describe("TestServer.replay of a large recording", () => {
  // A recording 25 times longer (250 000 lines, ~27 MB) is loaded and replayed in the same heap as a
  // short one (10 000 lines): the file is streamed. Held whole, its lines alone would be ~50 MB of heap.
  it.live("holds the same heap for 250 000 lines as for 10 000 (streamed, not loaded whole)", () =>
    Effect.gen(function*() {
      const short = yield* measure(10_000)
      const long = yield* measure(250_000)
      for (const run of [short, long]) {
        // Every message once, in order, then the end of the recording closed the connection with 1000.
        expect(run).toMatchObject({ received: run.lines, inOrder: true, code: 1000 })
        // What loading and replaying hold above the heap before: well under the file's size.
        expect(run.afterLoad - run.baseHeap).toBeLessThan(2 * MB)
        expect(run.peakHeap - run.baseHeap).toBeLessThan(4 * MB)
      }
      expect(long.fileMB).toBeGreaterThan(25)
      expect(Math.abs((long.peakHeap - long.baseHeap) - (short.peakHeap - short.baseHeap))).toBeLessThan(2 * MB)
      console.log(
        `replay memory: ${short.lines} lines (${short.fileMB.toFixed(1)} MB): +${((short.peakHeap - short.baseHeap) / MB).toFixed(2)} MB heap in ${short.seconds.toFixed(1)} s; ` +
          `${long.lines} lines (${long.fileMB.toFixed(1)} MB): +${((long.peakHeap - long.baseHeap) / MB).toFixed(2)} MB heap in ${long.seconds.toFixed(1)} s`
      )
    }), { timeout: 300_000 })
})
