// Probe: what opening many jetsocket clients costs. argv: port n concurrency [heartbeat, default "30 seconds"]
// Prints the wall time, the connects' p50/p99 and the reconnects counted by the clients.
import { Effect } from "effect"
import { JetSocket } from "../../src/index.js"
import { NodeTransport } from "../../src/node.js"

const [port = "0", nStr = "2000", concurrencyStr = "200", heartbeat = "30 seconds"] = process.argv.slice(2)
const url = `ws://127.0.0.1:${port}/idle`
const times: Array<number> = []
const t0 = performance.now()
await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
  const clients = yield* Effect.forEach(
    Array.from({ length: Number(nStr) }),
    () =>
      Effect.gen(function*() {
        const start = performance.now()
        const ws = yield* JetSocket.connect(url, { reconnect: { base: "100 millis" }, heartbeat: heartbeat as "30 seconds" })
        times.push(performance.now() - start)
        return ws
      }),
    { concurrency: Number(concurrencyStr) }
  )
  const wall = performance.now() - t0
  let reconnects = 0
  for (const ws of clients) reconnects += (yield* ws.stats).reconnects
  times.sort((a, b) => a - b)
  console.log(JSON.stringify({
    wall: Math.round(wall),
    p50: times[times.length >> 1]!.toFixed(1),
    p99: times[Math.floor(times.length * 0.99)]!.toFixed(1),
    reconnects
  }))
})).pipe(Effect.provide(NodeTransport.layer)))
process.exit(0)
