import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { isInvalidOptionsError } from "../src/JetSocketError.js"
import { TestServer } from "../src/testing.js"
import { tempDir } from "./fixtures/recorder.js"

const header = JSON.stringify({ format: "jetsocket-recording", version: 1, url: "ws://127.0.0.1:1/", startedAt: "2026-12-05T00:00:00.000Z" })

/** Writes `text` to a fresh file and loads it: the `RecordingError` it fails with. */
const loadFailure = (dir: string, name: string, text: string) =>
  Effect.gen(function*() {
    const file = path.join(dir, name)
    fs.writeFileSync(file, text)
    const error = yield* Effect.flip(TestServer.loadRecording(file))
    expect(error).toBeInstanceOf(TestServer.RecordingError)
    expect(error._tag).toBe("RecordingError")
    expect(error.path).toBe(file)
    return error
  })

describe("TestServer.loadRecording: every RecordingError, with the line", () => {
  it.scoped("a missing file: line 0, 'no such file'", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = path.join(dir, "nope.jsonl")
      const error = yield* Effect.flip(TestServer.loadRecording(file))
      expect(error).toMatchObject({ _tag: "RecordingError", path: file, line: 0, reason: "no such file" })
      expect(error.message).toBe(`${file}: no such file`)
      // A directory is no recording either.
      expect(yield* Effect.flip(TestServer.loadRecording(dir))).toMatchObject({ line: 0, reason: expect.stringContaining("cannot read the file") })
    }))

  it.scoped("a bad header: an empty file, not JSON, not a recording, a missing field", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      expect(yield* loadFailure(dir, "empty.jsonl", "")).toMatchObject({ line: 1, reason: "an empty file: no header line" })
      for (const [name, text] of [["text.jsonl", "hello\n"], ["other.jsonl", "{\"format\":\"har\",\"version\":1}\n"], ["array.jsonl", "[1]\n"]]) {
        const error = yield* loadFailure(dir, name!, text!)
        expect(error).toMatchObject({ line: 1, reason: expect.stringContaining("not a jetsocket recording") })
        expect(error.message).toBe(`${error.path}:1: ${error.reason}`)
      }
      const noUrl = JSON.stringify({ format: "jetsocket-recording", version: 1, startedAt: "x" })
      expect(yield* loadFailure(dir, "nourl.jsonl", `${noUrl}\n`)).toMatchObject({ line: 1, reason: "the header has no \"url\" string" })
      const noVersion = JSON.stringify({ format: "jetsocket-recording", url: "ws://x/", startedAt: "x" })
      expect(yield* loadFailure(dir, "noversion.jsonl", `${noVersion}\n`)).toMatchObject({ line: 1, reason: "the header has no \"version\" number" })
    }))

  it.scoped("an unknown version", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const v2 = JSON.stringify({ format: "jetsocket-recording", version: 2, url: "ws://x/", startedAt: "x" })
      expect(yield* loadFailure(dir, "v2.jsonl", `${v2}\n{"at":0,"text":"a"}\n`)).toMatchObject({
        line: 1,
        reason: "unknown version 2 (this version of jetsocket reads version 1)"
      })
    }))

  it.scoped("a malformed line: its number and what is wrong, for each kind of mistake", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const good = ["{\"at\":0,\"text\":\"a\"}", "{\"at\":5,\"binary\":\"AAEC\"}"]
      const cases: ReadonlyArray<readonly [string, string]> = [
        ["{\"at\":7,\"text\":\"trunc", "not JSON"], // a line cut short
        ["42", "not a JSON object"],
        ["{\"text\":\"no at\"}", "\"at\" must be a number ≥ 0 (ms since the first message), got nothing"],
        ["{\"at\":-1,\"text\":\"x\"}", "\"at\" must be a number ≥ 0 (ms since the first message), got -1"],
        ["{\"at\":\"7\",\"text\":\"x\"}", "\"at\" must be a number ≥ 0 (ms since the first message), got \"7\""],
        ["{\"at\":4,\"text\":\"x\"}", "\"at\" goes back in time (4 after 5)"],
        ["{\"at\":9}", "a line needs one of \"text\", \"binary\" or \"event\""],
        ["{\"at\":9,\"text\":\"x\",\"binary\":\"AA==\"}", "a line has one of \"text\", \"binary\" or \"event\", this one has \"text\" and \"binary\""],
        ["{\"at\":9,\"text\":1}", "\"text\" must be a string"],
        ["{\"at\":9,\"binary\":\"not base64!\"}", "\"binary\" must be a base64 string"],
        ["{\"at\":9,\"event\":\"disconnected\"}", "a \"disconnected\" line needs a close \"code\" (an integer 1000-4999), got nothing"],
        ["{\"at\":9,\"event\":\"disconnected\",\"code\":99}", "a \"disconnected\" line needs a close \"code\" (an integer 1000-4999), got 99"],
        ["{\"at\":9,\"event\":\"paused\"}", "unknown event \"paused\" (known: \"disconnected\", \"connected\")"]
      ]
      for (const [i, [line, reason]] of cases.entries()) {
        // The bad line is line 5: the header, two good lines, a blank line (skipped, but counted), the bad one.
        const error = yield* loadFailure(dir, `bad${i}.jsonl`, [header, ...good, "", line, "{\"at\":99,\"text\":\"after\"}", ""].join("\n"))
        expect(error).toMatchObject({ line: 5, reason: expect.stringContaining(reason) })
        expect(error.message).toBe(`${error.path}:5: ${error.reason}`)
      }
    }))

  it.scoped("a good file loads: its summary, CRLF line ends and a last line without a newline included", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = path.join(dir, "good.jsonl")
      const lines = [
        header,
        "{\"at\":0,\"text\":\"a\"}",
        "{\"at\":10,\"event\":\"disconnected\",\"code\":1006}",
        "{\"at\":500,\"event\":\"connected\"}",
        "{\"at\":520,\"binary\":\"AAEC\"}"
      ]
      fs.writeFileSync(file, lines.join("\r\n"))
      const recording = yield* TestServer.loadRecording(file)
      expect(recording).toMatchObject({
        path: file,
        url: "ws://127.0.0.1:1/",
        startedAt: "2026-12-05T00:00:00.000Z",
        messages: 2,
        drops: 1,
        durationMs: 520
      })
      expect(TestServer.isRecording(recording)).toBe(true)
      expect(TestServer.isRecording({ path: file })).toBe(false)
    }))
})

describe("TestServer.replay: options", () => {
  it.scoped("invalid options are an InvalidOptionsError naming each", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = path.join(dir, "r.jsonl")
      fs.writeFileSync(file, `${header}\n{"at":0,"text":"a"}\n`)
      const recording = yield* TestServer.loadRecording(file)
      const thrown = (options: Parameters<typeof TestServer.replay>[1]) => {
        try {
          TestServer.replay(recording, options)
        } catch (error) {
          return error
        }
        return undefined
      }
      for (const speed of [0, -1, Number.NaN]) {
        const error = thrown({ speed })
        expect(isInvalidOptionsError(error)).toBe(true)
        expect((error as Error).message).toContain("replay.speed must be a number > 0")
      }
      const both = thrown({ loop: "yes" as never, drops: 1 as never })
      expect(both).toMatchObject({ problems: [{ option: "replay.loop" }, { option: "replay.drops" }] })
      expect(thrown({ speed: Infinity, loop: true, drops: true })).toBeUndefined()
    }))
})
