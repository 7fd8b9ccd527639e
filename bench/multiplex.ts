// multiplex routing: 100 channels over one connection, n messages round-robin; time from the first
// message to the moment every channel got its share (setup and subscriptions not counted).
// jetsocket Multiplex (100 subscriptions, one stream each) vs raw ws + a Map<channel, count>.
import { type Chunk, Effect, Stream } from "effect"
import WebSocket from "ws"
import { Multiplex } from "../src/index.js"
import { NodeTransport } from "../src/node.js"

const CHANNELS = 100

const jet = (url: string, n: number): Promise<number> =>
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
      let t0: number | undefined
      const first = Stream.mapChunks(<A>(chunk: Chunk.Chunk<A>) => {
        t0 ??= performance.now()
        return chunk
      })
      yield* Effect.forEach(subs, (s) => s.messages.pipe(Stream.take(per), first, Stream.runDrain), { concurrency: "unbounded" })
      return performance.now() - t0!
    })).pipe(Effect.provide(NodeTransport.layer))
  )

const raw = (url: string, n: number) =>
  new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(url)
    const counts = new Map<string, number>()
    let total = 0
    let t0 = 0
    ws.on("error", reject)
    ws.on("message", (data) => {
      if (total === 0) t0 = performance.now()
      const m = JSON.parse(data.toString()) as { channel: string }
      counts.set(m.channel, (counts.get(m.channel) ?? 0) + 1)
      if (++total === n) {
        resolve(performance.now() - t0)
        ws.close()
      }
    })
  })

export const multiplexBench = async (port: number, n: number): Promise<Record<string, number>> => {
  const url = `ws://127.0.0.1:${port}/mux?n=${n}&channels=${CHANNELS}`
  const out: Record<string, number> = {}
  for (const [name, f] of [["jetsocket", jet], ["raw ws", raw]] as const) {
    out[name] = n / ((await f(url, n)) / 1000)
  }
  return out
}
