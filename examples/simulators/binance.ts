/**
 * A Binance-compatible market-data simulator on 127.0.0.1 (built on
 * `TestServer`), speaking the subset of the public raw-stream protocol the
 * examples use, so that the same client code runs offline here and against
 * `wss://stream.binance.com:9443/ws` with `--url`:
 *
 *   client → server  {"method":"SUBSCRIBE","params":["btcusdt@trade","ethusdt@miniTicker"],"id":1}
 *                    {"method":"UNSUBSCRIBE","params":["btcusdt@trade"],"id":2}
 *   server → client  {"result":null,"id":1}
 *                    {"e":"trade","E":…,"s":"BTCUSDT","t":12345,"p":"64012.50","q":"0.01200","T":…,"m":true,"M":true}
 *                    {"e":"24hrMiniTicker","E":…,"s":"BTCUSDT","c":"…","o":"…","h":"…","l":"…","v":"…","q":"…"}
 *
 * Trades are generated continuously (`rate` per second over all symbols);
 * mini tickers every `tickerMs` (Binance: 1 s).
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import { TestServer } from "../../src/testing.js"
import { random } from "./exchange.js"

export const symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "ADAUSDT"] as const

const startPrices: Record<string, number> = {
  BTCUSDT: 64000,
  ETHUSDT: 3400,
  SOLUSDT: 150,
  BNBUSDT: 580,
  XRPUSDT: 0.6,
  ADAUSDT: 0.45
}

export interface BinanceSimulator {
  readonly url: string
  readonly server: TestServer.TestServer
}

export const make = (options: { readonly rate?: number; readonly tickerMs?: number } = {}): Effect.Effect<
  BinanceSimulator,
  never,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const rand = random(2024)
    const rate = options.rate ?? 50
    const streams = new Map<TestServer.ServerConnection, Set<string>>()
    const book = new Map(symbols.map((s) => [s as string, { price: startPrices[s]!, open: startPrices[s]!, high: startPrices[s]!, low: startPrices[s]!, volume: 0, tradeId: 1_000_000 }]))

    const server = yield* TestServer.make({
      handler: (connection) => {
        const subscribed = new Set<string>()
        streams.set(connection, subscribed)
        connection.onClose(() => streams.delete(connection))
        connection.onMessage((data) => {
          let request: { method?: unknown; params?: unknown; id?: unknown }
          try {
            request = JSON.parse(String(data))
          } catch {
            return connection.send({ error: { code: 3, msg: "Invalid JSON" } })
          }
          const params = Array.isArray(request.params) ? request.params.filter((p): p is string => typeof p === "string") : []
          if (request.method === "SUBSCRIBE") for (const p of params) subscribed.add(p.toLowerCase())
          else if (request.method === "UNSUBSCRIBE") for (const p of params) subscribed.delete(p.toLowerCase())
          else if (request.method === "LIST_SUBSCRIPTIONS") return connection.send({ result: [...subscribed], id: request.id })
          else return connection.send({ error: { code: 2, msg: "Invalid request" }, id: request.id ?? null })
          connection.send({ result: null, id: request.id ?? null })
        })
      }
    })

    const publish = (stream: string, payload: unknown) => {
      for (const [connection, subscribed] of streams) if (subscribed.has(stream)) connection.send(payload)
    }

    const trades = setInterval(() => {
      const n = Math.round((rate / 20) * 2 * rand())
      const now = Date.now()
      for (let i = 0; i < n; i++) {
        const s = symbols[Math.floor(rand() * symbols.length)]!
        const b = book.get(s)!
        b.price = b.price * (1 + (rand() - 0.5) * 0.001)
        b.high = Math.max(b.high, b.price)
        b.low = Math.min(b.low, b.price)
        const qty = rand() * 2
        b.volume += qty
        b.tradeId++
        publish(`${s.toLowerCase()}@trade`, {
          e: "trade",
          E: now,
          s,
          t: b.tradeId,
          p: b.price.toFixed(b.price < 10 ? 5 : 2),
          q: qty.toFixed(5),
          T: now,
          m: rand() < 0.5,
          M: true
        })
      }
    }, 50)
    const tickers = setInterval(() => {
      const now = Date.now()
      for (const [s, b] of book) {
        const digits = b.price < 10 ? 5 : 2
        publish(`${s.toLowerCase()}@miniticker`, {
          e: "24hrMiniTicker",
          E: now,
          s,
          c: b.price.toFixed(digits),
          o: b.open.toFixed(digits),
          h: b.high.toFixed(digits),
          l: b.low.toFixed(digits),
          v: b.volume.toFixed(3),
          q: (b.volume * b.price).toFixed(2)
        })
      }
    }, options.tickerMs ?? 500)
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        clearInterval(trades)
        clearInterval(tickers)
      })
    )
    return { url: `${server.url}/ws`, server }
  })
