import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { formatMessage, parseArgs } from "../src/internal/cli.js"
import { TestServer } from "../src/testing.js"

const root = fileURLToPath(new URL("..", import.meta.url))

interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs the CLI as a real child process (through tsx), feeding `stdin` lines one by one. */
const runCli = (
  args: ReadonlyArray<string>,
  options: { stdin?: ReadonlyArray<string>; keepStdinOpen?: boolean; progress?: { stdout: string } } = {}
) =>
  Effect.async<Run>((resume) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli.ts", ...args], {
      cwd: root,
      stdio: ["pipe", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString("utf8")
      if (options.progress) options.progress.stdout = stdout
    })
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")))
    child.stdin.on("error", () => {})
    for (const line of options.stdin ?? []) child.stdin.write(`${line}\n`)
    if (!options.keepStdinOpen) child.stdin.end()
    // A hard bound: never leave a child behind.
    const killer = setTimeout(() => child.kill("SIGKILL"), 45_000)
    child.on("close", (code) => {
      clearTimeout(killer)
      resume(Effect.succeed({ code, stdout, stderr }))
    })
    return Effect.sync(() => child.kill("SIGKILL"))
  })

describe("cli: argument parsing", () => {
  it("parses repeatable headers, subscriptions and the exit conditions", () => {
    const parsed = parseArgs([
      "ws://127.0.0.1:1/x",
      "-H",
      "Authorization: Bearer abc",
      "--header=x-id:7",
      "--subscribe",
      "{\"op\":\"sub\"}",
      "-s",
      "second",
      "--heartbeat",
      "off",
      "-n",
      "3",
      "--duration",
      "2.5",
      "--no-reconnect",
      "--raw"
    ])
    expect(parsed._tag).toBe("Run")
    if (parsed._tag !== "Run") return
    expect(parsed.options).toMatchObject({
      url: "ws://127.0.0.1:1/x",
      headers: { authorization: "Bearer abc", "x-id": "7" },
      subscribe: ["{\"op\":\"sub\"}", "second"],
      heartbeat: false,
      count: 3,
      duration: 2.5,
      reconnect: false,
      raw: true,
      quiet: false
    })
  })

  it("rejects bad input with a message", () => {
    expect(parseArgs([])).toEqual({ _tag: "Invalid", message: "missing <url>" })
    expect(parseArgs(["http://x"])._tag).toBe("Invalid")
    expect(parseArgs(["ws://x", "-H", "nocolon"])._tag).toBe("Invalid")
    expect(parseArgs(["ws://x", "--count", "1.5"])._tag).toBe("Invalid")
    expect(parseArgs(["ws://x", "--bogus"])).toEqual({ _tag: "Invalid", message: "unknown option --bogus" })
    expect(parseArgs(["--help"])._tag).toBe("Help")
    expect(parseArgs(["ws://x", "--heartbeat", "5"])).toMatchObject({ _tag: "Run", options: { heartbeat: 5 } })
  })

  it("pretty-prints JSON, passes other text through, summarizes binary", () => {
    expect(formatMessage("{\"a\":1}", false)).toBe("{\n  \"a\": 1\n}")
    expect(formatMessage("{\"a\":1}", true)).toBe("{\"a\":1}")
    expect(formatMessage("hello {", false)).toBe("hello {")
    expect(formatMessage("{not json", false)).toBe("{not json")
    expect(formatMessage(new Uint8Array([1, 255]), false)).toBe("<binary 2 bytes: 01ff>")
  })
})

describe("cli: a real child process against a TestServer", () => {
  it.scopedLive("sends stdin lines, prints the echoes (pretty JSON), exits on --count", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const run = yield* runCli([server.url, "--count", "2"], { stdin: ["{\"op\":\"hi\",\"n\":1}", "plain text"] })
      expect(run.code).toBe(0)
      expect(run.stdout).toBe("{\n  \"op\": \"hi\",\n  \"n\": 1\n}\nplain text\n")
      expect(run.stderr).toContain(`* connected to ${server.url}`)
      expect(server.receivedJson()).toEqual([{ op: "hi", n: 1 }, "plain text"])
      // It closed gracefully.
      yield* server.waitUntil(() => server.closes().length === 1, "10 seconds")
      expect(server.closes()[0]!.code).toBe(1000)
    }), { timeout: 60_000 })

  it.scopedLive("sends headers, re-sends --subscribe once per connection after a drop, survives it", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({
        handler: (connection) =>
          connection.onMessage((data) => {
            // Answer each subscription with one update naming the connection.
            if (data === "{\"op\":\"subscribe\"}") connection.send({ update: connection.id })
          })
      })
      const progress = { stdout: "" }
      const fiber = yield* runCli([server.url, "-H", "x-token: s3cret", "-s", "{\"op\":\"subscribe\"}", "-n", "2", "-q"], {
        keepStdinOpen: true,
        progress
      }).pipe(Effect.fork)
      // Once the client printed the first update, cut the TCP connection under it.
      yield* server.waitUntil(() => progress.stdout.includes("\"update\": 0"), "30 seconds")
      expect(server.connectionCount()).toBe(1)
      server.dropAll()
      const run = yield* fiber.await.pipe(Effect.flatten)
      expect(run.code).toBe(0)
      expect(run.stdout).toBe("{\n  \"update\": 0\n}\n{\n  \"update\": 1\n}\n")
      expect(run.stderr).toBe("") // --quiet
      expect(server.connectionCount()).toBe(2)
      // Exactly once per connection.
      expect(server.received().map((r) => r.connection)).toEqual([0, 1])
      expect(server.requestHeaders().map((h) => h["x-token"])).toEqual(["s3cret", "s3cret"])
    }), { timeout: 60_000 })

  it.scopedLive("exits 1 with the typed error when the upgrade is refused with 401 (fatal)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ upgrade: TestServer.refuse(401, { body: "no token" }) })
      const run = yield* runCli([server.url])
      expect(run.code).toBe(1)
      expect(run.stderr).toContain("ConnectionRefusedError")
      expect(run.stderr).toContain("401")
      expect(server.upgradeCount()).toBe(1) // fatal: never retried
    }), { timeout: 60_000 })

  it.scopedLive("exits 0 after --duration, 0 on a normal close with --no-reconnect, 1 on an abnormal one, 2 on a usage error", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const started = Date.now()
      const run = yield* runCli([server.url, "--duration", "1", "--heartbeat", "off"], { keepStdinOpen: true })
      expect(run.code).toBe(0)
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000)
      expect(run.stdout).toBe("")
      // --no-reconnect: a normal close by the server ends the command with 0, after the messages.
      server.setHandler(TestServer.feed(["last words"], { thenClose: { code: 1000, reason: "maintenance" } }))
      const closed = yield* runCli([server.url, "--no-reconnect"], { keepStdinOpen: true })
      expect(closed.code).toBe(0)
      expect(closed.stdout).toBe("last words\n")
      expect(closed.stderr).toContain("closed by the server: 1000 maintenance")
      server.setHandler(TestServer.closeWith(1011, "boom"))
      const failed = yield* runCli([server.url, "--no-reconnect"], { keepStdinOpen: true })
      expect(failed.code).toBe(1)
      expect(failed.stderr).toContain("ConnectionClosedError")
      const usage = yield* runCli(["not-a-url"])
      expect(usage.code).toBe(2)
      expect(usage.stderr).toContain("the URL must start with ws:// or wss://")
    }), { timeout: 60_000 })

  it.scopedLive("exits 1 when --duration ends and it never connected (a dead port)", () =>
    Effect.gen(function*() {
      // A port that was just listening and is closed now: every connect is refused at the TCP level.
      const server = yield* TestServer.make()
      const deadUrl = server.url
      yield* server.stop
      const started = Date.now()
      const run = yield* runCli([deadUrl, "--duration", "2", "--heartbeat", "off"], { keepStdinOpen: true })
      expect(run.code).toBe(1)
      expect(Date.now() - started).toBeGreaterThanOrEqual(2000)
      expect(run.stderr).toContain(`never connected to ${deadUrl} within 2 s`)
      expect(run.stdout).toBe("")
    }), { timeout: 60_000 })
})
