/**
 * An exchange-like market-data simulator on 127.0.0.1, built on the test kit
 * (`TestServer` from `jetsocket/testing`). It keeps trading while clients
 * come and go, keeps a history, and can inject faults: TCP drops, restarts
 * (stop listening, start again on the same port) and stalled pongs.
 *
 * Wire protocol (JSON text frames):
 *
 *   client → server  { "op": "subscribe",   "channel": "BTC-USD" }
 *                    { "op": "unsubscribe", "channel": "BTC-USD" }
 *                    { "op": "resume",      "since": 1234 }        // replay history with seq >= since
 *   server → client  { "type": "trade", "channel": "BTC-USD", "seq": 1235, "symSeq": 87,
 *                      "price": 64012.5, "size": 0.12, "ts": 1732500000000 }
 *
 * `seq` is global (one counter over every symbol, the resume point), `symSeq`
 * counts per symbol (contiguous: a jump is a gap). A new connection is held
 * ("gated") after its first subscribe until it sends `resume` or 500 ms pass,
 * so a resuming client gets the history first and live trades after it, in
 * order.
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import { TestServer } from "../../src/testing.js"

export interface Trade {
  readonly type: "trade"
  readonly channel: string
  readonly seq: number
  readonly symSeq: number
  readonly price: number
  readonly size: number
  readonly ts: number
}

export interface ExchangeOptions {
  readonly symbols?: ReadonlyArray<string>
  /** Trades per second over all symbols (default 200). */
  readonly rate?: number
  /** Trades kept for resume requests (default 100 000). */
  readonly historySize?: number
  /** Pseudo-random seed (default 42). */
  readonly seed?: number
}

export interface Exchange {
  readonly url: string
  readonly symbols: ReadonlyArray<string>
  /** The last `symSeq` published per symbol. */
  readonly lastSymSeq: (symbol: string) => number
  readonly published: () => number
  /** Stops generating trades (the market closes). */
  readonly halt: () => void
  readonly faults: { drops: number; restarts: number; stalls: number }
  /** Drops every TCP connection (no close frame). */
  readonly drop: () => void
  /** Stops the server for `downMs`, then listens again on the same port. */
  readonly restart: (downMs: number) => Effect.Effect<void>
  /** Stops answering pings until a new connection arrives (or `maxMs` passes). */
  readonly stallPongs: (maxMs: number) => Effect.Effect<void>
  readonly connectionCount: () => number
  readonly server: TestServer.TestServer
}

export const defaultSymbols = ["BTC-USD", "ETH-USD", "SOL-USD", "XRP-USD", "ADA-USD", "DOGE-USD"]

const startPrices: Record<string, number> = {
  "BTC-USD": 64000,
  "ETH-USD": 3400,
  "SOL-USD": 150,
  "XRP-USD": 0.6,
  "ADA-USD": 0.45,
  "DOGE-USD": 0.16
}

/** A small deterministic PRNG (mulberry32). */
export const random = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface Session {
  readonly channels: Set<string>
  live: boolean
  gate: ReturnType<typeof setTimeout> | undefined
  readonly send: (message: unknown) => void
}

export const make = (options: ExchangeOptions = {}): Effect.Effect<Exchange, never, Scope.Scope> =>
  Effect.gen(function*() {
    const symbols = options.symbols ?? defaultSymbols
    const rate = options.rate ?? 200
    const historySize = options.historySize ?? 100_000
    const rand = random(options.seed ?? 42)
    const history: Array<Trade> = []
    const prices = new Map(symbols.map((s) => [s, startPrices[s] ?? 100]))
    const symSeqs = new Map(symbols.map((s) => [s, 0]))
    const sessions = new Set<Session>()
    let seq = 0
    const faults = { drops: 0, restarts: 0, stalls: 0 }

    const replay = (session: Session, since: number) => {
      const first = history[0]?.seq ?? seq + 1
      const start = Math.max(0, since - first)
      for (let i = start; i < history.length; i++) {
        const trade = history[i]!
        if (session.channels.has(trade.channel)) session.send(trade)
      }
    }

    const handler: TestServer.Handler = (connection) => {
      const session: Session = { channels: new Set(), live: false, gate: undefined, send: connection.send }
      sessions.add(session)
      connection.onClose(() => {
        if (session.gate !== undefined) clearTimeout(session.gate)
        sessions.delete(session)
      })
      connection.onMessage((data) => {
        if (typeof data !== "string") return
        let message: { op?: unknown; channel?: unknown; since?: unknown }
        try {
          message = JSON.parse(data)
        } catch {
          return connection.send({ type: "error", reason: "not JSON" })
        }
        if (message.op === "subscribe" && typeof message.channel === "string") {
          session.channels.add(message.channel)
          if (!session.live && session.gate === undefined) {
            session.gate = setTimeout(() => {
              session.gate = undefined
              session.live = true
            }, 500)
          }
        } else if (message.op === "unsubscribe" && typeof message.channel === "string") {
          session.channels.delete(message.channel)
        } else if (message.op === "resume" && typeof message.since === "number") {
          if (session.gate !== undefined) clearTimeout(session.gate)
          session.gate = undefined
          replay(session, message.since)
          session.live = true
        }
      })
    }

    const server = yield* TestServer.make({ handler })

    let halted = false
    const tick = () => {
      if (halted) return
      // Poisson-ish: on average rate/50 trades per 20 ms tick.
      const n = Math.floor((rate / 50) * 2 * rand())
      const now = Date.now()
      for (let i = 0; i < n; i++) {
        const channel = symbols[Math.floor(rand() * symbols.length)]!
        const last = prices.get(channel)!
        const price = Number((last * (1 + (rand() - 0.5) * 0.002)).toPrecision(6))
        prices.set(channel, price)
        const symSeq = symSeqs.get(channel)! + 1
        symSeqs.set(channel, symSeq)
        const trade: Trade = { type: "trade", channel, seq: ++seq, symSeq, price, size: Number((rand() * 2).toFixed(4)), ts: now }
        history.push(trade)
        if (history.length > historySize) history.splice(0, history.length - historySize)
        for (const session of sessions) if (session.live && session.channels.has(channel)) session.send(trade)
      }
    }
    const timer = setInterval(tick, 20)
    yield* Effect.addFinalizer(() => Effect.sync(() => clearInterval(timer)))

    return {
      url: server.url,
      symbols,
      lastSymSeq: (symbol) => symSeqs.get(symbol) ?? 0,
      published: () => seq,
      halt: () => {
        halted = true
      },
      faults,
      drop: () => {
        faults.drops++
        server.dropAll()
      },
      restart: (downMs) =>
        Effect.gen(function*() {
          faults.restarts++
          yield* server.stop
          yield* Effect.sleep(downMs)
          yield* server.start
        }),
      stallPongs: (maxMs) =>
        Effect.gen(function*() {
          faults.stalls++
          const before = server.connectionCount()
          server.setAutoPong(false)
          yield* server.waitUntil(() => server.connectionCount() > before, maxMs).pipe(Effect.ignore)
          server.setAutoPong(true)
        }),
      connectionCount: server.connectionCount,
      server
    }
  })
