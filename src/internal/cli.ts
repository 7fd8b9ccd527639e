/**
 * The `jetsocket` command: a resilient wscat. Argument parsing, the program,
 * and a runner that turns its outcome into an exit code.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import { createRequire } from "node:module"
import * as readline from "node:readline"
import type { Readable, Writable } from "node:stream"
import * as JetSocket from "../JetSocket.js"
import { isInvalidOptionsError, type JetSocketError } from "../JetSocketError.js"
import * as NodeTransport from "../NodeTransport.js"
import type { Transport } from "../Transport.js"
import * as Recorder from "./recorder.js"

/** @internal */
export const usage = `Usage: jetsocket <url> [options]

A resilient wscat: connects with reconnect (exponential backoff) and a ping/pong
heartbeat, prints every incoming message (JSON pretty-printed) on stdout, and
sends each line read from stdin as a text frame. Status lines go to stderr.

Options:
  -H, --header <name:value>  request header, repeatable (e.g. -H "authorization: Bearer x")
  -s, --subscribe <json>     message sent on connect and again on every reconnect, repeatable
  -p, --protocol <name>      subprotocol to offer, repeatable
      --heartbeat <s|off>    seconds between pings (default 30), or "off"
      --no-reconnect         do not reconnect: exit when the connection ends
  -n, --count <N>            exit after N incoming messages
  -d, --duration <s>         exit after this many seconds
      --raw                  print messages exactly as received (no pretty JSON)
      --record <file>        also write what arrives to <file> as JSON Lines, with its
                             timing, drops and reconnects (replay it in tests with
                             TestServer.replay); prints how many messages it recorded
  -q, --quiet                no status lines on stderr (with --record: no messages on
                             stdout either)
  -h, --help                 this help
  -V, --version              the version

Exit status: 0 done (count or duration reached, or with --no-reconnect the
server closed normally: 1000/1001), 1 the connection failed for good (e.g. 401,
retries exhausted, or --duration ended without ever connecting), 2 usage
error, 130 interrupted (Ctrl-C).

Examples:
  jetsocket wss://stream.binance.com:9443/ws -s '{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1}' -n 5
  echo '{"op":"ping"}' | jetsocket ws://127.0.0.1:8080 -n 1
  jetsocket wss://stream.binance.com:9443/ws/btcusdt@trade --record trades.jsonl -d 60 -q
`

/** @internal */
export interface CliOptions {
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly subscribe: ReadonlyArray<string>
  readonly protocols: ReadonlyArray<string>
  /** Seconds between pings, or `false`. */
  readonly heartbeat: number | false
  readonly reconnect: boolean
  readonly count: number | undefined
  readonly duration: number | undefined
  readonly raw: boolean
  readonly quiet: boolean
  /** The recording file (`--record`). */
  readonly record: string | undefined
}

/** @internal */
export type ParsedArgs =
  | { readonly _tag: "Run"; readonly options: CliOptions }
  | { readonly _tag: "Help" }
  | { readonly _tag: "Version" }
  | { readonly _tag: "Invalid"; readonly message: string }

const aliases: Record<string, string> = {
  "-H": "--header",
  "-s": "--subscribe",
  "-p": "--protocol",
  "-n": "--count",
  "-d": "--duration",
  "-q": "--quiet",
  "-h": "--help",
  "-V": "--version"
}
const flags = new Set(["--no-reconnect", "--raw", "--quiet", "--help", "--version"])
const valued = new Set(["--header", "--subscribe", "--protocol", "--heartbeat", "--count", "--duration", "--record"])

const positiveNumber = (name: string, raw: string): number | string => {
  const n = Number(raw)
  return Number.isFinite(n) && n > 0 ? n : `${name} must be a positive number, got "${raw}"`
}

/** @internal */
export const parseArgs = (argv: ReadonlyArray<string>): ParsedArgs => {
  let url: string | undefined
  const headers: Record<string, string> = {}
  const subscribe: Array<string> = []
  const protocols: Array<string> = []
  let heartbeat: number | false = 30
  let reconnect = true
  let count: number | undefined
  let duration: number | undefined
  let raw = false
  let quiet = false
  let record: string | undefined
  const invalid = (message: string): ParsedArgs => ({ _tag: "Invalid", message })

  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i]!
    let inline: string | undefined
    if (arg.startsWith("--") && arg.includes("=")) {
      inline = arg.slice(arg.indexOf("=") + 1)
      arg = arg.slice(0, arg.indexOf("="))
    }
    arg = aliases[arg] ?? arg
    if (flags.has(arg)) {
      if (arg === "--help") return { _tag: "Help" }
      if (arg === "--version") return { _tag: "Version" }
      if (arg === "--no-reconnect") reconnect = false
      if (arg === "--raw") raw = true
      if (arg === "--quiet") quiet = true
      continue
    }
    if (valued.has(arg)) {
      const value = inline ?? argv[++i]
      if (value === undefined) return invalid(`${arg} needs a value`)
      switch (arg) {
        case "--header": {
          const colon = value.indexOf(":")
          if (colon <= 0) return invalid(`--header must look like "name: value", got "${value}"`)
          headers[value.slice(0, colon).trim().toLowerCase()] = value.slice(colon + 1).trim()
          break
        }
        case "--subscribe":
          subscribe.push(value)
          break
        case "--protocol":
          protocols.push(value)
          break
        case "--heartbeat": {
          if (value === "off" || value === "0" || value === "false") heartbeat = false
          else {
            const n = positiveNumber("--heartbeat", value)
            if (typeof n === "string") return invalid(n)
            heartbeat = n
          }
          break
        }
        case "--count": {
          const n = positiveNumber("--count", value)
          if (typeof n === "string" || !Number.isInteger(n)) return invalid(`--count must be a positive integer, got "${value}"`)
          count = n
          break
        }
        case "--duration": {
          const n = positiveNumber("--duration", value)
          if (typeof n === "string") return invalid(n)
          duration = n
          break
        }
        case "--record":
          if (value === "") return invalid("--record needs a file name")
          record = value
          break
      }
      continue
    }
    if (arg.startsWith("-") && arg !== "-") return invalid(`unknown option ${arg}`)
    if (url !== undefined) return invalid(`one URL only (got "${url}" and "${arg}")`)
    url = arg
  }
  if (url === undefined) return invalid("missing <url>")
  if (!/^wss?:\/\//i.test(url)) return invalid(`the URL must start with ws:// or wss://, got "${url}"`)
  return {
    _tag: "Run",
    options: { url, headers, subscribe, protocols, heartbeat, reconnect, count, duration, raw, quiet, record }
  }
}

const hex = (bytes: Uint8Array, max = 64) => {
  let out = ""
  for (let i = 0; i < Math.min(bytes.byteLength, max); i++) out += bytes[i]!.toString(16).padStart(2, "0")
  return bytes.byteLength > max ? `${out}…` : out
}

/** How an incoming message is printed: pretty JSON when it parses, else as is. @internal */
export const formatMessage = (message: unknown, raw: boolean): string => {
  if (message instanceof Uint8Array) return `<binary ${message.byteLength} bytes: ${hex(message)}>`
  const text = String(message)
  if (raw) return text
  const trimmed = text.trimStart()
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
    try {
      return JSON.stringify(JSON.parse(text), null, 2)
    } catch {
      return text
    }
  }
  return text
}

/** @internal */
export interface CliIO {
  readonly stdin: Readable | undefined
  readonly stdout: Writable
  readonly stderr: Writable
}

const lines = (input: Readable): Stream.Stream<string> =>
  Stream.asyncScoped<string>((emit) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        const rl = readline.createInterface({ input, crlfDelay: Infinity, terminal: false })
        rl.on("line", (line) => void emit.single(line))
        rl.on("close", () => void emit.end())
        return rl
      }),
      (rl) => Effect.sync(() => rl.close())
    )
  )

/**
 * The program: returns the exit code; needs a `Transport`.
 *
 * @internal
 */
export const program = (options: CliOptions, io: CliIO): Effect.Effect<number, never, Transport> => {
  const status = (line: string) =>
    Effect.sync(() => {
      if (!options.quiet) io.stderr.write(`* ${line}\n`)
    })
  return Effect.gen(function*() {
    // --record: the file exists (with its header) before the first connect attempt.
    const recorder = options.record === undefined ? undefined : yield* openRecorder(options.record, options, io)
    if (recorder === null) return 1
    // Drops seen by the events fiber, taken by the next connection's hook (or written at the end).
    const drops = yield* Queue.unbounded<Recorder.Drop>()
    // With --no-reconnect, the close that ended the run (the events fiber may not have seen it yet).
    let lastClose: Recorder.Drop | undefined
    if (recorder !== undefined) {
      // Registered before the client: runs after it closed, when every message it delivered is written.
      yield* Effect.addFinalizer(() =>
        Queue.takeAll(drops).pipe(
          Effect.map((left) => {
            // --no-reconnect has one drop at most: the one that ended the run.
            for (const drop of options.reconnect ? left : lastClose === undefined ? [] : [lastClose]) recorder.disconnected(drop)
            recorder.close()
            const n = recorder.messages()
            io.stderr.write(
              `jetsocket: recorded ${n} message${n === 1 ? "" : "s"} (${recorder.drops()} drop${recorder.drops() === 1 ? "" : "s"}) to ${recorder.path}\n`
            )
            const failure = recorder.failure()
            if (failure !== undefined) io.stderr.write(`jetsocket: the recording stopped early: ${failure.message}\n`)
          })
        )
      )
    }
    const ws = yield* JetSocket.make<unknown>(options.url, {
      codec: "text",
      reconnect: options.reconnect ? { base: "500 millis", multiplier: 2, cap: "30 seconds" } : false,
      heartbeat: options.heartbeat === false
        ? false
        : { interval: Duration.seconds(options.heartbeat), timeout: Duration.seconds(Math.min(10, options.heartbeat)) },
      ...(Object.keys(options.headers).length > 0 ? { headers: options.headers } : {}),
      // --record: `sequenceKey` is the one per-message callback the client runs as a message arrives,
      // in order, and before a new connection's hooks: recording there stamps each message with its
      // arrival time (not when the printer got to it) and keeps every message of a connection ahead of
      // the drop that ended it. It keys nothing (replay mode "none").
      ...(recorder !== undefined
        ? {
          replay: {
            mode: "none" as const,
            sequenceKey: (message: unknown) => {
              // The "text" codec hands over text as a string and binary as a Uint8Array.
              recorder.message(message as string | Uint8Array)
              return undefined
            }
          }
        }
        : {}),
      ...(options.protocols.length > 0 ? { protocols: options.protocols } : {})
    })

    const events = yield* ws.subscribeEvents
    yield* events.pipe(
      Stream.runForEach((event) => {
        switch (event._tag) {
          case "Connected":
            return status(`connected to ${event.url}${event.protocol ? ` (protocol ${event.protocol})` : ""}`)
          case "Disconnected":
            if (recorder !== undefined) Queue.unsafeOffer(drops, { code: event.code, seenAt: recorder.now() })
            return status(`disconnected: ${event.code}${event.reason ? ` ${event.reason}` : ""}`)
          case "Reconnecting":
            return status(`reconnecting in ${Duration.toMillis(event.delay).toFixed(0)} ms (attempt ${event.attempt})`)
          case "Error":
            return event.fatal ? Effect.void : status(`error: ${event.error.message}`)
          default:
            return Effect.void
        }
      }),
      Effect.forkScoped
    )

    const subscribe = (send: (text: string) => Effect.Effect<void, JetSocketError>) =>
      Effect.forEach(options.subscribe, send, { discard: true })
    // On every later connection the hook re-sends the subscriptions before queued sends and messages.
    yield* ws.onConnect((context) => subscribe(context.sendText))
    if (recorder !== undefined) {
      // A new connection's messages wait for its hooks: the drop and the reconnect go right after the
      // old connection's messages in the file.
      yield* ws.onConnect((context) =>
        context.reconnected
          ? Queue.take(drops).pipe(
            // The events fiber saw the drop long before (a backoff and a handshake ago); the bound only guards.
            Effect.timeout("1 second"),
            Effect.orElseSucceed(() => ({ code: 1006, seenAt: recorder.now() })),
            Effect.map((drop) => recorder.reconnected(drop))
          )
          : Effect.void
      )
    }

    // Whether a connection was ever open: `--duration` ending before one means the run failed.
    let connected = false
    const session = Effect.gen(function*() {
      yield* ws.ready
      connected = true
      // The first connection: connection-scoped, so a drop in between never sends them twice.
      yield* subscribe((text) => ws.sendText(text, { queue: false })).pipe(Effect.ignore)
      if (io.stdin !== undefined) {
        yield* lines(io.stdin).pipe(
          Stream.filter((line) => line.length > 0),
          Stream.runForEach((line) =>
            ws.sendText(line).pipe(Effect.catchAll((error) => status(`not sent: ${error.message}`)))
          ),
          Effect.forkScoped
        )
      }
      const print = recorder === undefined || !options.quiet
      const printed = ws.messages.pipe(
        Stream.tap((message) => Effect.sync(() => print && io.stdout.write(`${formatMessage(message, options.raw)}\n`)))
      )
      yield* (options.count === undefined ? printed : Stream.take(printed, options.count)).pipe(Stream.runDrain)
    })

    const timed = options.duration === undefined
      ? session
      : session.pipe(Effect.raceFirst(Effect.sleep(Duration.seconds(options.duration))))
    const outcome = yield* Effect.either(timed)
    if (outcome._tag === "Right" && !connected) {
      yield* Effect.sync(() =>
        io.stderr.write(`jetsocket: never connected to ${options.url} within ${options.duration} s\n`)
      )
      return 1
    }
    if (outcome._tag === "Left") {
      const error = outcome.left
      if (recorder !== undefined && error._tag === "ConnectionClosedError") lastClose = { code: error.code, seenAt: recorder.now() }
      if (!options.reconnect && error._tag === "ConnectionClosedError" && (error.code === 1000 || error.code === 1001)) {
        yield* status(`closed by the server: ${error.code}${error.reason ? ` ${error.reason}` : ""}`)
        return 0
      }
      yield* Effect.sync(() => io.stderr.write(`jetsocket: ${error._tag}: ${error.message}\n`))
      return 1
    }
    yield* ws.close(1000, "bye")
    return 0
  }).pipe(
    // Flags are checked when parsed; options the client still rejects (a defect) are a usage error too.
    Effect.catchAllDefect((defect) =>
      isInvalidOptionsError(defect)
        ? Effect.sync(() => {
          io.stderr.write(`jetsocket: ${defect.message}\n`)
          return 2
        })
        : Effect.die(defect)),
    Effect.scoped
  )
}

/** Opens the recording; `null` (reported on stderr) when the file cannot be written. */
const openRecorder = (path: string, options: CliOptions, io: CliIO): Effect.Effect<Recorder.Recorder | null> =>
  Effect.try({ try: () => Recorder.open(path, options.url, { limit: options.count }), catch: (error) => error }).pipe(
    Effect.catchAll((error) =>
      Effect.sync(() => {
        io.stderr.write(`jetsocket: cannot write the recording ${path}: ${error instanceof Error ? error.message : String(error)}\n`)
        return null
      })
    )
  )

/** @internal */
export const version = (): string => {
  const require = createRequire(import.meta.url)
  for (const path of ["../../package.json", "../package.json"]) {
    try {
      const pkg = require(path) as { name?: string; version?: string }
      if (pkg.name === "jetsocket" && pkg.version !== undefined) return pkg.version
    } catch {
      // try the next location (src/internal vs dist/internal)
    }
  }
  return "unknown"
}

/**
 * Parses `argv`, runs, and exits the process with the program's code.
 * Ctrl-C (SIGINT) or SIGTERM closes the connection gracefully, then exits 130.
 *
 * @internal
 */
export const main = (argv: ReadonlyArray<string>): void => {
  const parsed = parseArgs(argv)
  if (parsed._tag === "Help") {
    process.stdout.write(usage)
    return
  }
  if (parsed._tag === "Version") {
    process.stdout.write(`${version()}\n`)
    return
  }
  if (parsed._tag === "Invalid") {
    process.stderr.write(`jetsocket: ${parsed.message}\n\n${usage}`)
    process.exitCode = 2
    return
  }
  const fiber = Effect.runFork(
    program(parsed.options, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr }).pipe(
      Effect.provide(NodeTransport.layer)
    )
  )
  const stop = () => {
    Effect.runFork(Fiber.interrupt(fiber))
  }
  process.once("SIGINT", stop)
  process.once("SIGTERM", stop)
  fiber.addObserver((exit) => {
    if (Exit.isSuccess(exit)) return process.exit(exit.value)
    if (Cause.isInterruptedOnly(exit.cause)) return process.exit(130)
    process.stderr.write(`jetsocket: ${Option.getOrElse(Cause.failureOption(exit.cause), () => Cause.pretty(exit.cause))}\n`)
    process.exit(1)
  })
}
