/**
 * Trades and mini tickers for several symbols as separate subscriptions over
 * ONE connection, with `Multiplex`: each stream is its own scoped
 * subscription with its own queue; every active stream is re-subscribed once
 * after each reconnect; a stream given up half-way is never re-subscribed.
 *
 *   node --import tsx examples/multiplex-trades.ts                      # offline simulator, 10 s, one drop at 30 %
 *   node --import tsx examples/multiplex-trades.ts --symbols btcusdt,ethusdt --duration 30
 *   node --import tsx examples/multiplex-trades.ts --url wss://stream.binance.com:9443/ws
 *
 * Binance's raw `/ws` endpoint sends bare events (no `stream` field), so the
 * channel is rebuilt from the event: `{"e":"trade","s":"BTCUSDT"}` → `btcusdt@trade`.
 * (On the combined `/stream` endpoint use `channelKey: "stream"` instead.)
 */
import { Effect, Exit, Scope, Stream } from "effect"
import { Multiplex } from "../src/index.js"
import { NodeTransport } from "../src/node.js"
import { parseArgs } from "./lib/args.js"
import { runMain } from "./lib/main.js"
import * as Binance from "./simulators/binance.js"

const args = parseArgs()
const duration = args.seconds("duration", 10)
const symbols = (args.get("symbols") ?? "btcusdt,ethusdt,solusdt").split(",").map((s) => s.trim().toLowerCase())

const channelOf = (message: unknown): string | undefined => {
  if (typeof message !== "object" || message === null || !("e" in message) || !("s" in message)) return undefined
  const { e, s } = message as { e: unknown; s: unknown }
  if (typeof s !== "string") return undefined
  if (e === "trade") return `${s.toLowerCase()}@trade`
  if (e === "24hrMiniTicker") return `${s.toLowerCase()}@miniticker`
  return undefined
}

const program = Effect.gen(function*() {
  const simulator = args.get("url") === undefined ? yield* Binance.make() : undefined
  const url = args.get("url") ?? simulator!.url
  let id = 0
  const mux = yield* Multiplex.make(url, {
    channelExtractor: channelOf,
    subscribeMessage: (channel) => ({ method: "SUBSCRIBE", params: [channel], id: ++id }),
    unsubscribeMessage: (channel) => ({ method: "UNSUBSCRIBE", params: [channel], id: ++id }),
    reconnect: { base: "200 millis", cap: "5 seconds" },
    queueSize: 5_000,
    overflowPolicy: "drop_oldest"
  })

  const counts = new Map<string, number>()
  const follow = (channel: string) =>
    Effect.gen(function*() {
      const sub = yield* mux.subscribe(channel)
      yield* sub.messages.pipe(
        Stream.runForEach(() => Effect.sync(() => counts.set(channel, (counts.get(channel) ?? 0) + 1))),
        Effect.forkScoped
      )
    })
  for (const symbol of symbols) yield* follow(`${symbol}@trade`)

  // Tickers for the first symbol only for the first half of the run.
  const tickerScope = yield* Scope.make()
  yield* follow(`${symbols[0]}@miniticker`).pipe(Scope.extend(tickerScope))

  if (simulator !== undefined) {
    yield* Effect.sleep(`${duration * 0.3} seconds`).pipe(
      Effect.zipRight(Effect.sync(() => simulator.server.dropAll())),
      Effect.zipRight(Effect.log("simulator: dropped the connection")),
      Effect.forkScoped
    )
  }
  yield* Effect.sleep(`${duration / 2} seconds`)
  yield* Scope.close(tickerScope, Exit.void)
  console.log(`unsubscribed ${symbols[0]}@miniticker; active: ${(yield* mux.subscriptions).join(", ")}`)
  yield* Effect.sleep(`${duration / 2} seconds`)

  for (const [channel, n] of counts) console.log(`${channel.padEnd(22)} ${String(n).padStart(6)} messages`)
  const stats = yield* mux.stats
  const client = yield* mux.client.stats
  console.log(
    `multiplex-trades: ${stats.totalMessagesRouted} routed, ${stats.unroutableMessages} unroutable (acks), ` +
      `${stats.activeSubscriptions} active subscriptions, ${stats.subscribeMessagesSent} subscribe messages, ` +
      `${client.reconnects} reconnect(s)`
  )
}).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))

runMain(program)
