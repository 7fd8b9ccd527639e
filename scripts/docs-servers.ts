/**
 * The local servers `npm run check-docs` runs the docs' complete programs
 * against (a block says which with ```ts run=<name>). All are `TestServer`s
 * on 127.0.0.1; every ws:// or wss:// URL of a block is rewritten to the
 * chosen server's address, keeping the path and query.
 *
 * - `echo`: sends every message back.
 * - `exchange`: the subset of the exchange protocols the docs use, answered
 *   by request shape:
 *     Binance  {"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1} → {"result":null,"id":1},
 *              then trades `{"e":"trade","s":"BTCUSDT","p":"64000.00",…}` every 20 ms per stream,
 *              wrapped as `{"stream","data"}` when the path starts with /stream (combined streams);
 *              a path /ws/<stream> streams that one at once; UNSUBSCRIBE stops a stream.
 *     Bybit    {"op":"subscribe","args":["publicTrade.BTCUSDT"]} → `{"topic","data":[{p,v,S}]}`.
 *     generic  {"op":"subscribe","channel":"trades"} → `{"channel","seq"}` messages;
 *              {"op":"quote","symbol"} → {"symbol","price"};
 *              {"op":"ping"} → {"op":"pong","ret_msg":"pong"}; {"type":"ping"} → {"type":"pong"}.
 *     Anything else is echoed.
 * - `ticks`: sends `{"type":"tick","symbol","price","s","p","u","seq"}` every 5 ms unasked,
 *   answers application pings like `exchange`.
 * - `ticks-with-invalid`: the same, every 10th tick with a non-numeric `price`.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { TestServer } from "../src/testing.js"

export const serverNames = ["echo", "exchange", "ticks", "ticks-with-invalid"] as const
export type ServerName = typeof serverNames[number]

const parse = (data: string | Uint8Array): Record<string, unknown> | undefined => {
  if (typeof data !== "string") return undefined
  try {
    const value: unknown = JSON.parse(data)
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}

/** Answers an application ping; `true` when it was one. */
const answerPing = (connection: TestServer.ServerConnection, message: Record<string, unknown> | undefined): boolean => {
  if (message?.op === "ping") {
    connection.send({ op: "pong", ret_msg: "pong" })
    return true
  }
  if (message?.type === "ping") {
    connection.send({ type: "pong" })
    return true
  }
  return false
}

/** Calls `tick` every `ms` until the connection closes. */
const every = (connection: TestServer.ServerConnection, ms: number, tick: (n: number) => void): void => {
  let n = 0
  const timer = setInterval(() => {
    if (connection.isOpen()) tick(++n)
  }, ms)
  connection.onClose(() => clearInterval(timer))
}

const trade = (stream: string, n: number) => {
  const symbol = stream.split("@")[0]!.toUpperCase()
  const price = 64_000 + (n % 50) * 0.5
  return { e: "trade", E: 1_700_000_000_000 + n, s: symbol, t: n, p: price.toFixed(2), q: "0.01000", T: 1_700_000_000_000 + n, m: n % 2 === 0, M: true }
}

const exchange: TestServer.Handler = (connection) => {
  const path = new URL(connection.url, "ws://127.0.0.1").pathname
  const combined = path.startsWith("/stream")
  const streams = new Set<string>()
  const topics = new Set<string>()
  const channels = new Set<string>()
  const direct = /^\/ws\/(.+)$/.exec(path)
  if (direct !== null) streams.add(decodeURIComponent(direct[1]!))
  every(connection, 20, (n) => {
    for (const stream of streams) connection.send(combined ? { stream, data: trade(stream, n) } : trade(stream, n))
    for (const topic of topics) {
      connection.send({ topic, ts: 1_700_000_000_000 + n, type: "snapshot", data: [{ p: (64_000 + n).toFixed(2), v: "0.001", S: n % 2 === 0 ? "Buy" : "Sell" }] })
    }
    for (const channel of channels) connection.send({ channel, seq: n })
  })
  connection.onMessage((data) => {
    const message = parse(data)
    if (answerPing(connection, message)) return
    const params = Array.isArray(message?.params) ? message.params.map(String) : []
    if (message?.method === "SUBSCRIBE" || message?.method === "UNSUBSCRIBE") {
      for (const p of params) message.method === "SUBSCRIBE" ? streams.add(p) : streams.delete(p)
      return connection.send({ result: null, id: message.id ?? null })
    }
    if (message?.op === "subscribe" && Array.isArray(message.args)) {
      for (const topic of message.args) topics.add(String(topic))
      return connection.send({ success: true, ret_msg: "", op: "subscribe" })
    }
    if (message?.op === "unsubscribe" && Array.isArray(message.args)) {
      for (const topic of message.args) topics.delete(String(topic))
      return connection.send({ success: true, ret_msg: "", op: "unsubscribe" })
    }
    if (message?.op === "subscribe" && typeof message.channel === "string") {
      channels.add(message.channel)
      return connection.send({ op: "subscribed", channel: message.channel })
    }
    if (message?.op === "quote" && typeof message.symbol === "string") {
      return connection.send({ symbol: message.symbol, price: 100 + message.symbol.length })
    }
    connection.send(data)
  })
}

const ticks = (invalidEvery: number | undefined): TestServer.Handler => (connection) => {
  connection.onMessage((data) => void answerPing(connection, parse(data)))
  every(connection, 5, (n) => {
    const price = 64_000 + (n % 50) * 0.5
    connection.send({
      type: "tick",
      symbol: "BTCUSDT",
      price: invalidEvery !== undefined && n % invalidEvery === 0 ? "not a number" : price,
      s: "BTCUSDT",
      p: price.toFixed(2),
      u: n,
      seq: n
    })
  })
}

const handlers: Record<ServerName, TestServer.Handler> = {
  echo: TestServer.echo,
  exchange,
  ticks: ticks(undefined),
  "ticks-with-invalid": ticks(10)
}

export interface DocsServers {
  readonly servers: Record<ServerName, TestServer.TestServer>
  /** When each server accepted a connection (epoch ms): a program ran against it if one falls in its run. */
  readonly connectedAt: Record<ServerName, Array<number>>
}

/** Starts one server per name (closed with the scope). */
export const start = (): Effect.Effect<DocsServers, never, Scope.Scope> =>
  Effect.gen(function*() {
    const servers = {} as Record<ServerName, TestServer.TestServer>
    const connectedAt = {} as Record<ServerName, Array<number>>
    for (const name of serverNames) {
      const times: Array<number> = (connectedAt[name] = [])
      servers[name] = yield* TestServer.make({
        handler: (connection) => {
          times.push(Date.now())
          handlers[name](connection)
        }
      })
    }
    return { servers, connectedAt }
  })
