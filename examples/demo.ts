/**
 * `npm run demo`: an exchange-like feed under fire, watched live.
 *
 * Starts an embedded market-data simulator on 127.0.0.1 (six symbols, global
 * and per-symbol sequence numbers) that injects faults — TCP drops, server
 * restarts, stalled pongs — and a JetSocket client that rides through them:
 * one multiplexed subscription per symbol, reconnect with backoff, ping/pong
 * heartbeat, Schema-typed channels, replay
 * from the last sequence id after every reconnect, dedup of the overlap.
 * A terminal dashboard shows last prices, msgs/s, latency, reconnects and
 * gaps (which must stay 0). Stops by itself after `--duration` seconds
 * (default 20) with a summary; exits 1 if any message was lost or repeated.
 *
 *   npm run demo                      # 20 s
 *   npm run demo -- --duration 60     # longer
 *   npm run demo -- --no-faults       # a calm market
 *
 * Needs no network: everything runs on loopback.
 */
import { Duration, Effect, Option, Schedule, Schema, Stream } from "effect"
import { Multiplex } from "../src/index.js"
import { NodeTransport } from "../src/node.js"
import { parseArgs } from "./lib/args.js"
import { runMain } from "./lib/main.js"
import * as Exchange from "./simulators/exchange.js"

// ---------------------------------------------------------------- protocol

const Trade = Schema.Struct({
  type: Schema.Literal("trade"),
  channel: Schema.String,
  seq: Schema.Number,
  symSeq: Schema.Number,
  price: Schema.Number,
  size: Schema.Number,
  ts: Schema.Number
})
type Trade = typeof Trade.Type
/** The global sequence number (the resume point) of a raw incoming message. */
const seqOf = (message: unknown): number | undefined =>
  typeof message === "object" && message !== null && typeof (message as { seq?: unknown }).seq === "number"
    ? (message as { seq: number }).seq
    : undefined

// ------------------------------------------------------------------- state

interface SymbolState {
  price: number
  previous: number
  trades: number
  /** The first trade seen (the client joins a running market). */
  firstSymSeq: number
  lastSymSeq: number
  gaps: number
  duplicates: number
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!

const ms = (d: Option.Option<Duration.Duration>) => Option.match(d, { onNone: () => "–", onSome: (x) => `${Duration.toMillis(x).toFixed(1)} ms` })

const args = parseArgs(process.argv.slice(2), ["no-faults"])
const durationS = args.seconds("duration", 20)
const faultsOn = !args.has("no-faults")
const rate = Number(args.get("rate") ?? 200)
const tty = process.stdout.isTTY === true

const program = Effect.gen(function*() {
  const exchange = yield* Exchange.make({ rate })
  const started = Date.now()
  const endAt = started + durationS * 1000

  // One resilient connection, one subscription per symbol (Multiplex re-subscribes
  // each of them exactly once after every reconnect, before replay and before
  // messages flow).
  const mux = yield* Multiplex.make(exchange.url, {
    channelKey: "channel",
    subscribeMessage: (channel) => ({ op: "subscribe", channel }),
    unsubscribeMessage: (channel) => ({ op: "unsubscribe", channel }),
    reconnect: { base: "100 millis", multiplier: 2, cap: "1 second" },
    heartbeat: { interval: "1 second", timeout: "1 second" },
    // Lossless and bounded: when the consumer lags, the socket stops being read.
    buffer: { capacity: 10_000, overflowPolicy: "backpressure", dedup: { window: 10_000, key: (m) => seqOf(m) ?? m } },
    // After every reconnect: ask for everything since the last trade we saw.
    // The server replays inclusively, so the overlap (one trade) is dropped by dedup.
    replay: {
      mode: "sequence_id",
      sequenceKey: seqOf,
      onReplay: (lastSeq, send) => typeof lastSeq === "number" ? send({ op: "resume", since: lastSeq }) : Effect.void
    }
  })
  const ws = mux.client
  // Schema-typed channels: each subscription decodes its trades.
  const subscriptions = yield* Effect.forEach(exchange.symbols, (symbol) => mux.subscribe(symbol, { schema: Trade }))

  // ------------------------------------------------------------ consumer
  const symbols = new Map<string, SymbolState>()
  let total = 0
  const latencies: Array<number> = []
  const rateWindow: Array<{ t: number; n: number }> = []
  yield* Stream.mergeAll(subscriptions.map((subscription) => subscription.messages), { concurrency: "unbounded" }).pipe(
    Stream.runForEach((trade) =>
      Effect.sync(() => {
        total++
        latencies.push(Date.now() - trade.ts)
        if (latencies.length > 2000) latencies.splice(0, latencies.length - 2000)
        let s = symbols.get(trade.channel)
        if (s === undefined) {
          s = {
            price: trade.price,
            previous: trade.price,
            trades: 0,
            firstSymSeq: trade.symSeq,
            lastSymSeq: trade.symSeq - 1,
            gaps: 0,
            duplicates: 0
          }
          symbols.set(trade.channel, s)
        }
        if (trade.symSeq <= s.lastSymSeq) s.duplicates++
        else {
          if (trade.symSeq > s.lastSymSeq + 1) s.gaps += trade.symSeq - s.lastSymSeq - 1
          s.lastSymSeq = trade.symSeq
          s.previous = s.price
          s.price = trade.price
          s.trades++
        }
      })
    ),
    Effect.forkScoped
  )

  // -------------------------------------------------------------- events
  const recent: Array<string> = []
  const note = (line: string) => {
    const t = ((Date.now() - started) / 1000).toFixed(1).padStart(5)
    recent.push(`${t}s  ${line}`)
    // Kept for the tallest terminal; render shows as many as the screen has room for.
    if (recent.length > 200) recent.shift()
    if (!tty) console.log(`[${t}s] ${line}`)
  }
  const events = yield* ws.subscribeEvents
  yield* events.pipe(
    Stream.runForEach((event) =>
      Effect.sync(() => {
        switch (event._tag) {
          case "Disconnected":
            return note(`disconnected (${event.code}${event.reason ? ` ${event.reason}` : ""})`)
          case "Reconnecting":
            return note(`reconnecting, attempt ${event.attempt} in ${Duration.toMillis(event.delay).toFixed(0)} ms`)
          case "Reconnected":
            return note(`reconnected after ${event.attempts} attempt(s), down ${Duration.toMillis(event.downtime).toFixed(0)} ms`)
          case "ReplayCompleted":
            return note(`replay done in ${Duration.toMillis(event.duration).toFixed(0)} ms`)
          case "Error":
            return event.fatal ? note(`fatal: ${event.error.message}`) : undefined
        }
      })
    ),
    Effect.forkScoped
  )

  // -------------------------------------------------------------- faults
  if (faultsOn) {
    yield* Effect.gen(function*() {
      const rand = Exchange.random(7)
      const kinds = ["drop", "restart", "stall"] as const
      let i = 0
      yield* Effect.sleep("2 seconds")
      while (Date.now() < endAt - 4000) {
        const kind = kinds[i++ % kinds.length]!
        if (kind === "drop") {
          note("FAULT: server drops every TCP connection")
          exchange.drop()
        } else if (kind === "restart") {
          const down = 500 + Math.floor(rand() * 1000)
          note(`FAULT: server restarts (down ${down} ms)`)
          yield* exchange.restart(down)
        } else {
          note("FAULT: server stops answering pings")
          yield* exchange.stallPongs(5000)
        }
        yield* Effect.sleep(Duration.millis(2000 + Math.floor(rand() * 1500)))
      }
    }).pipe(Effect.forkScoped)
  }

  // ----------------------------------------------------------- dashboard
  const view = Effect.gen(function*() {
    const stats = yield* ws.stats
    const now = Date.now()
    rateWindow.push({ t: now, n: total })
    while (rateWindow.length > 2 && rateWindow[1]!.t <= now - 1000) rateWindow.shift()
    const first = rateWindow[0]!
    const perSecond = now > first.t ? ((total - first.n) * 1000) / (now - first.t) : 0
    const sorted = [...latencies].sort((a, b) => a - b)
    const gaps = [...symbols.values()].reduce((n, s) => n + s.gaps, 0)
    const dups = [...symbols.values()].reduce((n, s) => n + s.duplicates, 0)
    return { stats, perSecond, p50: percentile(sorted, 50), p99: percentile(sorted, 99), gaps, dups, now }
  })

  const render = Effect.gen(function*() {
    const v = yield* view
    const elapsed = ((v.now - started) / 1000).toFixed(1)
    if (!tty) {
      console.log(
        `[${elapsed}s] ${v.stats.state} msgs=${total} ${v.perSecond.toFixed(0)}/s latency p50=${v.p50}ms p99=${v.p99}ms ` +
          `rtt=${ms(v.stats.lastLatency)} reconnects=${v.stats.reconnects} gaps=${v.gaps}`
      )
      return
    }
    const lines: Array<string> = []
    const bold = (s: string) => `\x1b[1m${s}\x1b[0m`
    const green = (s: string) => `\x1b[32m${s}\x1b[0m`
    const red = (s: string) => `\x1b[31m${s}\x1b[0m`
    const dim = (s: string) => `\x1b[2m${s}\x1b[0m`
    lines.push(bold(`JetSocket demo — ${exchange.url}`) + dim(`   ${elapsed}s / ${durationS}s   Ctrl-C to stop`))
    lines.push("")
    lines.push(
      `state ${v.stats.state === "Connected" ? green(v.stats.state.padEnd(12)) : red(v.stats.state.padEnd(12))}` +
        `msgs ${String(total).padStart(7)}   ${v.perSecond.toFixed(0).padStart(5)} msg/s   ` +
        `reconnects ${v.stats.reconnects}`
    )
    lines.push(
      `latency p50 ${v.p50} ms  p99 ${v.p99} ms   heartbeat rtt ${ms(v.stats.lastLatency)}   ` +
        `dedup ${v.stats.deduplicated}   gaps ${v.gaps === 0 ? green("0") : red(String(v.gaps))}   dups ${v.dups}`
    )
    lines.push(
      dim(`faults: ${exchange.faults.drops} drops, ${exchange.faults.restarts} restarts, ${exchange.faults.stalls} stalled pongs`)
    )
    lines.push("")
    lines.push(bold(`${"symbol".padEnd(10)}${"last".padStart(12)}    ${"trades".padStart(7)}${"seq".padStart(8)}${"gaps".padStart(6)}`))
    for (const symbol of exchange.symbols) {
      const s = symbols.get(symbol)
      if (s === undefined) {
        lines.push(`${symbol.padEnd(10)}${"–".padStart(12)}`)
        continue
      }
      const arrow = s.price > s.previous ? green("▲") : s.price < s.previous ? red("▼") : " "
      lines.push(
        `${symbol.padEnd(10)}${s.price.toPrecision(6).padStart(12)} ${arrow}  ${String(s.trades).padStart(7)}` +
          `${String(s.lastSymSeq).padStart(8)}${String(s.gaps).padStart(6)}`
      )
    }
    lines.push("")
    lines.push(bold("events"))
    // Fill the rest of the screen (at least 6 lines), newest last; one row spare for the cursor.
    const room = Math.max(6, (process.stdout.rows ?? 24) - lines.length - 1)
    for (const line of recent.slice(-room)) lines.push(dim(line))
    process.stdout.write(`\x1b[H\x1b[J${lines.join("\n")}\n`)
  })

  if (tty) process.stdout.write("\x1b[?25l\x1b[2J")
  yield* Effect.addFinalizer(() => Effect.sync(() => tty && process.stdout.write("\x1b[?25h")))
  yield* render.pipe(Effect.repeat(Schedule.spaced(tty ? "250 millis" : "1 second")), Effect.forkScoped)

  yield* Effect.sleep(Duration.millis(endAt - Date.now()))

  // ---------------------------------------------- closing bell: catch up
  exchange.halt()
  const caughtUp = () => exchange.symbols.every((s) => (symbols.get(s)?.lastSymSeq ?? 0) >= exchange.lastSymSeq(s))
  const deadline = Date.now() + 15_000
  while (!caughtUp() && Date.now() < deadline) yield* Effect.sleep("50 millis")
  yield* render
  const v = yield* view
  const missing = exchange.symbols.reduce((n, s) => n + Math.max(0, exchange.lastSymSeq(s) - (symbols.get(s)?.lastSymSeq ?? 0)), 0)
  const beforeJoin = [...symbols.values()].reduce((n, s) => n + s.firstSymSeq - 1, 0)
  const ok = v.gaps === 0 && v.dups === 0 && missing === 0
  console.log(
    [
      "",
      `summary: ${total} trades received over ${durationS}s, ${exchange.symbols.length} symbols ` +
      `(${exchange.published()} published, ${beforeJoin} of them before the client subscribed)`,
      `  faults injected: ${exchange.faults.drops} drops, ${exchange.faults.restarts} restarts, ${exchange.faults.stalls} stalled pongs`,
      `  reconnects: ${v.stats.reconnects}   deduplicated overlap: ${v.stats.deduplicated}`,
      `  latency p50 ${v.p50} ms, p99 ${v.p99} ms   heartbeat rtt avg ${ms(v.stats.averageLatency)}`,
      `  gaps: ${v.gaps}   duplicates: ${v.dups}   missing at close: ${missing}`,
      ok ? "  every trade arrived exactly once, in order." : "  LOSS OR DUPLICATION DETECTED"
    ].join("\n")
  )
  return ok ? 0 : 1
}).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))

runMain(program)
