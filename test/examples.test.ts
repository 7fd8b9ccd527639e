/**
 * Smoke-runs every example as a real child process (through tsx) against its
 * offline simulator with a short --duration, and checks the exit code and
 * what it printed. Also checks the docs block extractor of check-docs.
 */
import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { extractBlocks, moduleName, runnable, runPlan } from "../scripts/check-docs.js"

const root = fileURLToPath(new URL("..", import.meta.url))

const run = (script: string, args: ReadonlyArray<string>) => {
  const result = spawnSync(process.execPath, ["--import", "tsx", script, ...args], {
    cwd: root,
    encoding: "utf8",
    timeout: 90_000,
    killSignal: "SIGKILL",
    // Not a TTY: the dashboards print periodic lines instead of redrawing.
    stdio: ["ignore", "pipe", "pipe"]
  })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

const number = (text: string, pattern: RegExp): number => {
  const m = pattern.exec(text)
  if (m === null) throw new Error(`no match for ${pattern} in:\n${text}`)
  return Number(m[1])
}

describe("examples", () => {
  it("demo: rides through injected faults with no gap, no duplicate, nothing missing", () => {
    const { code, stdout, stderr } = run("examples/demo.ts", ["--duration", "8"])
    expect(stderr).toBe("")
    expect(code).toBe(0)
    expect(stdout).toContain("every trade arrived exactly once, in order.")
    expect(stdout).toMatch(/gaps: 0 {3}duplicates: 0 {3}missing at close: 0/)
    expect(number(stdout, /summary: (\d+) trades received/)).toBeGreaterThan(100)
    // At least the first fault (a TCP drop at 2 s) happened and was survived.
    expect(number(stdout, /faults injected: (\d+) drops/)).toBeGreaterThanOrEqual(1)
    expect(number(stdout, /reconnects: (\d+)/)).toBeGreaterThanOrEqual(1)
    // Non-TTY output: periodic status lines, no ANSI redraws.
    expect(stdout).toMatch(/\[\d+\.\ds\] Connected msgs=\d+/)
    expect(stdout).not.toContain("\x1b[H")
  }, 120_000)

  it("dashboard: shows tickers for every symbol", () => {
    const { code, stdout, stderr } = run("examples/dashboard.ts", ["--duration", "2"])
    expect(stderr).toBe("")
    expect(code).toBe(0)
    expect(number(stdout, /dashboard: (\d+) updates for 6 symbols/)).toBeGreaterThan(0)
    for (const symbol of ["BTCUSDT", "ETHUSDT", "SOLUSDT"]) expect(stdout).toMatch(new RegExp(`${symbol} +\\d`))
  }, 120_000)

  it("exchange-trades: trades for every subscribed symbol", () => {
    const { code, stdout, stderr } = run("examples/exchange-trades.ts", ["--duration", "2", "--symbols", "btcusdt,ethusdt"])
    expect(stderr).toBe("")
    expect(code).toBe(0)
    expect(number(stdout, /exchange-trades: (\d+) trades for 2 symbols/)).toBeGreaterThan(0)
    expect(stdout).toMatch(/BTCUSDT +(buy |sell) \d/)
    expect(stdout).not.toContain("SOLUSDT") // not subscribed
  }, 120_000)

  it("llm-stream: resumes the answer after the simulated drop, nothing lost", () => {
    const { code, stdout, stderr } = run("examples/llm-stream.ts", [])
    expect(stderr).toBe("")
    expect(code).toBe(0)
    expect(stdout).toContain("llm-stream: 2 answers")
    expect(stdout).toContain("1 reconnect(s), nothing lost")
    // The first answer is whole even though the connection dropped after 20 tokens.
    expect(stdout).toContain("the stream where it stopped instead of starting over.")
    expect(stdout).toMatch(/\[r1: \d+ tokens, complete\]/)
  }, 120_000)
})

describe("check-docs block extraction", () => {
  it("finds ts blocks with their first line, skips other languages, honours no-check", () => {
    const md = [
      "# Title", // 1
      "```ts", // 2
      "const a = 1", // 3
      "```", // 4
      "```sh", // 5
      "npm test", // 6
      "```", // 7
      "- item", // 8
      "  ```typescript", // 9
      "  const b = 2", // 10
      "  ```", // 11
      "```ts no-check", // 12
      "yield* x", // 13
      "```" // 14
    ].join("\n")
    const blocks = extractBlocks(md, "docs/x.md")
    expect(blocks.map((b) => [b.line, b.code, b.skipped])).toEqual([
      [3, "const a = 1", false],
      [10, "const b = 2", false],
      [13, "yield* x", true]
    ])
    expect(moduleName(blocks[0]!)).toBe("docs_x.md_L3.ts")
  })

  it("check-docs: a complete program must say how it runs; run= picks a server; test blocks run with vitest", () => {
    const block = (info: string, code: string) => ({ file: "docs/x.md", line: 2, code, skipped: false, info })
    const program = "const p = Effect.void\nEffect.runFork(p)"
    expect(runPlan(block("", program))._tag).toBe("Invalid")
    expect(runPlan(block("", "const fragment = 1"))._tag).toBe("None")
    expect(runPlan(block("no-run", program))._tag).toBe("None")
    expect(runPlan(block("run=exchange for=3", program))).toEqual({ _tag: "Program", server: "exchange", forSeconds: 3 })
    expect(runPlan(block("run=self", program))).toEqual({ _tag: "Program", server: "self", forSeconds: undefined })
    expect(runPlan(block("run=nowhere", program))._tag).toBe("Invalid")
    expect(runPlan(block("run=echo", "const fragment = 1"))._tag).toBe("Invalid")
    expect(runPlan(block("", `import { it } from "@effect/vitest"`))._tag).toBe("Test")
  })

  it("check-docs: a program's URLs go to the local server (path and query kept) and its run call to the harness", () => {
    const code = [
      `const a = JetSocket.connect("wss://stream.binance.com:9443/ws")`,
      "const b = `wss://example.com/feed?token=${token}`",
      `const c = 'ws://127.0.0.1:8080/stream'`,
      "Effect.runPromise(program)"
    ].join("\n")
    const out = runnable(code, "ws://127.0.0.1:4242", "/h.ts")
    expect(out).toContain(`JetSocket.connect("ws://127.0.0.1:4242/ws")`)
    expect(out).toContain("`ws://127.0.0.1:4242/feed?token=${token}`")
    expect(out).toContain(`'ws://127.0.0.1:4242/stream'`)
    expect(out).toContain("__docsRun(program)")
    expect(out).not.toContain("Effect.runPromise")
    expect(out).toContain(`import { run as __docsRun } from "/h.ts"`)
    // run=self: URLs are left alone.
    expect(runnable(code, undefined, "/h.ts")).toContain("wss://stream.binance.com:9443/ws")
  })

})

describe("examples: Promise API and Multiplex", () => {
  it("promise-api: streams an answer with for await and catches a refusal with instanceof", () => {
    const { code, stdout, stderr } = run("examples/promise-api.ts", [])
    expect(stderr).toBe("")
    expect(code).toBe(0)
    expect(stdout).toMatch(/promise-api: \d+ tokens, state Closed/)
    expect(stdout).toContain("promise-api: refused as expected (ConnectionRefusedError")
  }, 120_000)

  it("multiplex-trades: re-subscribes each active channel once after a drop, not the one given up", () => {
    const { code, stdout, stderr } = run("examples/multiplex-trades.ts", ["--duration", "6"])
    expect(stderr).toBe("")
    expect(code).toBe(0)
    // One drop (at 30 % of the run) while 4 channels are active (3 trades + 1 ticker): 4 subscribe
    // messages at the start, 4 after the one reconnect; the ticker is given up at 50 % and stays gone.
    expect(number(stdout, /(\d+) reconnect\(s\)/)).toBe(1)
    expect(number(stdout, /(\d+) subscribe messages/)).toBe(8)
    expect(number(stdout, /(\d+) active subscriptions/)).toBe(3)
    expect(stdout).toContain("unsubscribed btcusdt@miniticker; active: btcusdt@trade, ethusdt@trade, solusdt@trade")
    for (const channel of ["btcusdt@trade", "ethusdt@trade", "solusdt@trade"]) {
      expect(number(stdout, new RegExp(`${channel} +(\\d+) messages`))).toBeGreaterThan(0)
    }
  }, 120_000)
})
