// multiplex routing: 100 channels over one connection, n messages round-robin; time until every
// channel got its share. jetsocket Multiplex (100 subscriptions) vs raw ws + a Map<channel, handler>.
import { Effect, Stream } from "effect"
import WebSocket from "ws"
import { Multiplex } from "../src/index.js"
import { NodeTransport } from "../src/node.js"

const CHANNELS = 100

const jet = (url: string, n: number) =>
  Effect.runPromise(
    Effect.scoped(Effect.gen(function*() {
      const mux = yield* Multiplex.make(url, {
        channelKey: "channel",
        reconnect: { base: "100 millis" },
        heartbeat: "30 seconds",
        queueSize: 1000
      })
      const per = n / CHANNELS
      const subs = yield* Effect.forEach(Array.from({ length: CHANNELS }, (_, i) => `c${i}`), (c) => mux.subscribe(c))
      yield* Effect.forEach(subs, (s) => s.messages.pipe(Stream.take(per), Stream.runDrain), { concurrency: "unbounded" })
    })).pipe(Effect.provide(NodeTransport.layer))
  )

const raw = (url: string, n: number) =>
  new Promise<void>((resolve, reject) => {
    const ws = new WebSocket(url)
    const counts = new Map<string, number>()
    let total = 0
    ws.on("error", reject)
    ws.on("message", (data) => {
      const m = JSON.parse(data.toString()) as { channel: string }
      counts.set(m.channel, (counts.get(m.channel) ?? 0) + 1)
      if (++total === n) {
        ws.close()
        resolve()
      }
    })
  })

export const multiplexBench = async (port: number, n: number): Promise<Record<string, number>> => {
  const url = `ws://127.0.0.1:${port}/mux?n=${n}&channels=${CHANNELS}`
  const out: Record<string, number> = {}
  for (const [name, f] of [["jetsocket", jet], ["raw ws", raw]] as const) {
    const t0 = performance.now()
    await f(url, n)
    // the server waits 200 ms for subscriptions before blasting; not counted
    out[name] = n / ((performance.now() - t0 - 200) / 1000)
  }
  return out
}
