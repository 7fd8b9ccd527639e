/**
 * Runs the docs' complete programs one after the other in ONE process (one
 * start of Node, tsx and Effect instead of one per program), for
 * `npm run check-docs`:
 *
 *   node --import tsx scripts/docs-runner.ts <manifest.json>
 *
 * The manifest lists `{ file, forSeconds }`: modules already rewritten by
 * check-docs (URLs → local servers, the run call → docs-harness's `run`).
 * For each, it imports the module, waits for the program's `Exit` (at most
 * 60 s, then interrupts it), and prints one JSON line on stdout:
 * `{ "index", "ok", "startedAt", "endedAt", "output" }`, where `output` is
 * what the program printed, and its failure's `Cause` when it failed.
 */
import * as Cause from "effect/Cause"
import * as Exit from "effect/Exit"
import * as fs from "node:fs"
import { pathToFileURL } from "node:url"
import { collector } from "./docs-harness.js"

interface Entry {
  readonly file: string
  readonly forSeconds: number | undefined
}

const entries = JSON.parse(fs.readFileSync(process.argv[2]!, "utf8")) as ReadonlyArray<Entry>
const write = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) }
let output = ""
const capture = (chunk: unknown, ...rest: Array<unknown>): boolean => {
  output += typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString("utf8")
  const callback = rest.find((r) => typeof r === "function") as (() => void) | undefined
  callback?.()
  return true
}
// A stray rejection or exception belongs to the program running now: it fails it.
let stray: unknown = undefined
process.on("unhandledRejection", (error) => (stray ??= error))
process.on("uncaughtException", (error) => (stray ??= error))

const timeoutMs = 60_000
for (const [index, entry] of entries.entries()) {
  const slot = { forSeconds: entry.forSeconds ?? 0, started: undefined as undefined | { exit: Promise<Exit.Exit<unknown, unknown>>; interrupt: () => Promise<unknown> } }
  ;(globalThis as { __jetsocketDocs?: unknown }).__jetsocketDocs = slot
  output = ""
  stray = undefined
  process.stdout.write = capture as typeof process.stdout.write
  process.stderr.write = capture as typeof process.stderr.write
  const startedAt = Date.now()
  let ok = false
  try {
    await import(pathToFileURL(entry.file).href)
    const started = collector()?.started
    if (started === undefined) {
      output += "\n(the module never reached its run call)"
    } else {
      let timer: NodeJS.Timeout | undefined
      const timedOut = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)))
      const exit = await Promise.race([started.exit, timedOut])
      clearTimeout(timer)
      if (exit === "timeout") {
        output += `\n(still running after ${timeoutMs / 1000} s: interrupted)`
        await started.interrupt()
      } else if (Exit.isFailure(exit)) {
        output += `\ndocs program failed:\n${Cause.pretty(exit.cause)}`
      } else {
        ok = true
      }
    }
  } catch (error) {
    output += `\n(the module threw: ${error instanceof Error ? error.stack : String(error)})`
  }
  // Let the program's last I/O (close frames, logs) settle before judging stray errors.
  await new Promise((resolve) => setTimeout(resolve, 20))
  if (stray !== undefined) {
    ok = false
    output += `\n(unhandled: ${stray instanceof Error ? stray.stack : String(stray)})`
  }
  process.stdout.write = write.out
  process.stderr.write = write.err
  process.stdout.write(`${JSON.stringify({ index, ok, startedAt, endedAt: Date.now(), output })}\n`)
}
process.exit(0)
