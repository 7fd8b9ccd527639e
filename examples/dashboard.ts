/**
 * A multi-symbol dashboard: 24 h mini tickers for several symbols over one
 * connection, redrawn a few times a second. Only the latest state matters,
 * so it uses `Presets.dashboard` (a small buffer that drops the oldest
 * updates when the screen cannot keep up) and a Schema that turns Binance's
 * decimal strings into numbers.
 *
 *   node --import tsx examples/dashboard.ts                       # offline simulator, 10 s
 *   node --import tsx examples/dashboard.ts --duration 30
 *   node --import tsx examples/dashboard.ts --url wss://stream.binance.com:9443/ws --duration 60
 *
 * The subscription is sent with `sendText` on connect and re-sent by an
 * `onConnect` hook on every reconnect.
 */
import { Effect, Schedule, Schema, Stream } from "effect"
import { JetSocket, Presets } from "../src/index.js"
import { NodeTransport } from "../src/node.js"
import { parseArgs } from "./lib/args.js"
import { runMain } from "./lib/main.js"
import * as Binance from "./simulators/binance.js"

const MiniTicker = Schema.Struct({
  e: Schema.Literal("24hrMiniTicker"),
  E: Schema.Number,
  s: Schema.String,
  c: Schema.NumberFromString,
  o: Schema.NumberFromString,
  h: Schema.NumberFromString,
  l: Schema.NumberFromString,
  v: Schema.NumberFromString
})
/** The answer to SUBSCRIBE: `{"result":null,"id":1}`. */
const Ack = Schema.Struct({ result: Schema.Unknown, id: Schema.Union(Schema.Number, Schema.Null) })
const Message = Schema.Union(MiniTicker, Ack)
type MiniTicker = typeof MiniTicker.Type

const args = parseArgs()
const duration = args.seconds("duration", 10)
const wanted = (args.get("symbols") ?? Binance.symbols.join(",")).split(",").map((s) => s.trim().toUpperCase())
const tty = process.stdout.isTTY === true

const program = Effect.gen(function*() {
  const url = args.get("url") ?? (yield* Binance.make()).url
  const ws = yield* JetSocket.connect(url, Presets.with(Presets.dashboard, { schema: Message }))

  const subscribe = JSON.stringify({ method: "SUBSCRIBE", params: wanted.map((s) => `${s.toLowerCase()}@miniTicker`), id: 1 })
  yield* ws.onConnect((ctx) => ctx.sendText(subscribe))
  // Not connected any more? Then the hook subscribes on the next connection.
  yield* ws.sendText(subscribe, { queue: false }).pipe(Effect.catchTag("InvalidStateError", () => Effect.void))

  const latest = new Map<string, MiniTicker>()
  let updates = 0
  yield* ws.messages.pipe(
    Stream.filter((m): m is MiniTicker => "e" in m),
    Stream.runForEach((t) => Effect.sync(() => (updates++, latest.set(t.s, t)))),
    Effect.forkScoped
  )

  const render = Effect.gen(function*() {
    const stats = yield* ws.stats
    const rows = wanted.map((s) => {
      const t = latest.get(s)
      if (t === undefined) return `${s.padEnd(10)}${"…".padStart(14)}`
      const change = ((t.c - t.o) / t.o) * 100
      const sign = change >= 0 ? "+" : ""
      const colored = tty ? `\x1b[${change >= 0 ? 32 : 31}m${sign}${change.toFixed(2)}%\x1b[0m` : `${sign}${change.toFixed(2)}%`
      return `${s.padEnd(10)}${String(t.c).padStart(14)}  ${colored.padStart(tty ? 17 : 8)}  high ${t.h}  low ${t.l}`
    })
    const header = `${stats.state}  updates ${updates}  reconnects ${stats.reconnects}  dropped ${stats.dropped}`
    if (tty) process.stdout.write(`\x1b[H\x1b[J${url}\n${header}\n\n${rows.join("\n")}\n`)
    else console.log(`${header}\n${rows.join("\n")}\n`)
  })
  yield* render.pipe(Effect.repeat(Schedule.spaced(tty ? "250 millis" : "1 second")), Effect.forkScoped)
  yield* Effect.sleep(`${duration} seconds`)
  yield* render
  console.log(`dashboard: ${updates} updates for ${latest.size} symbols in ${duration}s`)
}).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))

runMain(program)
