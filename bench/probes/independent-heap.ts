// Probe: heap per idle connection, clients opened in a row by one fiber vs each by its own runPromise.
// node --expose-gc independent-heap.mjs <port> <n> <one|independent|annotated|raw> <outdir>
// annotated: independent, each run under the same log annotation (set anew by each run, as a service
// that annotates its logs does)
import { Effect, Scope } from "effect"
import * as v8 from "node:v8"
import WebSocket from "ws"
import { JetSocket } from "../../src/index.js"
import { NodeTransport } from "../../src/node.js"

const [port = "0", nStr = "300", mode = "independent", outDir = "/tmp"] = process.argv.slice(2)
const url = `ws://127.0.0.1:${port}/idle`
const options = { reconnect: { base: "100 millis" }, heartbeat: "30 seconds", buffer: 1000 } as const
const gc = () => {
  for (let i = 0; i < 3; i++) (globalThis as any).gc()
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const keep: Array<unknown> = []

const open = async (count: number) => {
  if (mode === "raw") {
    await Promise.all(Array.from({ length: count }, () =>
      new Promise((resolve) => {
        const ws = new WebSocket(url)
        keep.push(ws)
        ws.once("open", resolve)
      })))
    return
  }
  if (mode === "one") {
    const scope = Effect.runSync(Scope.make())
    keep.push(scope)
    await Effect.runPromise(Effect.gen(function*() {
      for (let i = 0; i < count; i++) yield* JetSocket.connect(url, options)
    }).pipe(Scope.extend(scope), Effect.provide(NodeTransport.layer)))
    return
  }
  await Promise.all(Array.from({ length: count }, async () => {
    const scope = Effect.runSync(Scope.make())
    keep.push(scope)
    const connect = JetSocket.connect(url, options).pipe(Scope.extend(scope), Effect.provide(NodeTransport.layer))
    await Effect.runPromise(mode === "annotated" ? Effect.annotateLogs(connect, "service", "feeds") : connect)
  }))
}

await open(20) // warm: code paths compiled before the first snapshot
await sleep(300)
gc()
v8.writeHeapSnapshot(`${outDir}/before-${mode}.heapsnapshot`)
await open(Number(nStr))
await sleep(500)
gc()
v8.writeHeapSnapshot(`${outDir}/after-${mode}.heapsnapshot`)
console.log("done", keep.length)
process.exit(0)
