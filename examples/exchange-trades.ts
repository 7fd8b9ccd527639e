/**
 * Exchange trades for several symbols over one resilient connection, the
 * Binance way: one SUBSCRIBE per stream, re-sent after every reconnect,
 * trades decoded by a Schema (prices arrive as decimal strings).
 *
 *   node --import tsx examples/exchange-trades.ts                       # offline simulator, 10 s
 *   node --import tsx examples/exchange-trades.ts --symbols btcusdt,ethusdt --duration 30
 *   node --import tsx examples/exchange-trades.ts --url wss://stream.binance.com:9443/ws
 *
 * Uses `Presets.trading` (0.5 s → 30 s backoff forever, 20 s heartbeat,
 * 10 000-message buffer with dedup, connection replaced before 24 h).
 */
import { Effect, Schedule, Schema, Stream } from "effect"
import { JetSocket, Presets } from "../src/index.js"
import { NodeTransport } from "../src/node.js"
import { parseArgs } from "./lib/args.js"
import { runMain } from "./lib/main.js"
import * as Binance from "./simulators/binance.js"

const Trade = Schema.Struct({
  e: Schema.Literal("trade"),
  s: Schema.String, // symbol, e.g. "BTCUSDT"
  t: Schema.Number, // trade id
  p: Schema.NumberFromString, // price
  q: Schema.NumberFromString, // quantity
  T: Schema.Number, // trade time
  m: Schema.Boolean // buyer is the maker
})
type Trade = typeof Trade.Type
/** The answer to SUBSCRIBE: `{"result":null,"id":1}`. */
const Ack = Schema.Struct({ result: Schema.Unknown, id: Schema.Union(Schema.Number, Schema.Null) })
const Message = Schema.Union(Trade, Ack)

const args = parseArgs()
const duration = args.seconds("duration", 10)
const symbols = (args.get("symbols") ?? "btcusdt,ethusdt,solusdt").split(",").map((s) => s.trim().toLowerCase())

const program = Effect.gen(function*() {
  const url = args.get("url") ?? (yield* Binance.make()).url
  const ws = yield* JetSocket.connect(
    url,
    Presets.with(Presets.trading, {
      schema: Message,
      // Binance trade ids are per symbol: dedup on (symbol, id).
      buffer: { dedup: { window: 1_000, key: (m: typeof Message.Type) => ("t" in m ? `${m.s}:${m.t}` : m) } }
    })
  )

  let id = 0
  const subscribe = <E>(send: (text: string) => Effect.Effect<void, E>) =>
    Effect.forEach(symbols, (s) => send(JSON.stringify({ method: "SUBSCRIBE", params: [`${s}@trade`], id: ++id })), {
      discard: true
    })
  yield* ws.onConnect((ctx) => subscribe(ctx.sendText).pipe(Effect.orDie))
  // `queue: false`: if the first connection dropped already, the hook subscribes on the next one.
  yield* subscribe((text) => ws.sendText(text, { queue: false })).pipe(Effect.catchTag("InvalidStateError", () => Effect.void))

  const perSymbol = new Map<string, { trades: number; volume: number; notional: number; last: number }>()
  let printed = 0
  yield* ws.messages.pipe(
    Stream.filter((m): m is Trade => "e" in m),
    Stream.runForEach((trade) =>
      Effect.sync(() => {
        const s = perSymbol.get(trade.s) ?? { trades: 0, volume: 0, notional: 0, last: 0 }
        s.trades++
        s.volume += trade.q
        s.notional += trade.p * trade.q
        s.last = trade.p
        perSymbol.set(trade.s, s)
        if (printed++ < 10) {
          console.log(`${trade.s.padEnd(8)} ${trade.m ? "sell" : "buy "} ${trade.q.toFixed(5)} @ ${trade.p}  (#${trade.t})`)
        }
      })
    ),
    Effect.forkScoped
  )

  const report = Effect.sync(() => {
    for (const [symbol, s] of perSymbol) {
      const vwap = s.volume > 0 ? s.notional / s.volume : 0
      console.log(`${symbol.padEnd(8)} trades ${String(s.trades).padStart(5)}  last ${s.last}  vwap ${vwap.toPrecision(8)}`)
    }
  })
  yield* Effect.sleep("1 second").pipe(Effect.zipRight(report), Effect.repeat(Schedule.spaced("2 seconds")), Effect.forkScoped)
  yield* Effect.sleep(`${duration} seconds`)
  const stats = yield* ws.stats
  const total = [...perSymbol.values()].reduce((n, s) => n + s.trades, 0)
  console.log(`exchange-trades: ${total} trades for ${perSymbol.size} symbols, ${stats.reconnects} reconnect(s)`)
}).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))

runMain(program)
