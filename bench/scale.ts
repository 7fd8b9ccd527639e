// Child process, one contender at scale; prints one JSON line.
// argv: name port idle <n>: n idle connections opened (200 at a time) with a heartbeat every second
//   → { openMs, rss, heap (bytes per connection, after GC), cpuPerSecond (ms of CPU per second while idle) }
// argv: name port fed <connections> <messages each>: that many connections fed at once, each consumed as
//   users write it (jetsocket: a fiber per connection, `Stream.runForEach` reading a field; raw ws: a callback)
//   → { msgsPerSecond } from the first message received to the last, over all connections
import { Effect, Stream } from "effect"
import WebSocket from "ws"
import { JetSocket } from "../src/index.js"
import { NodeTransport } from "../src/node.js"

const [name = "raw ws", port = "0", mode = "idle", nStr = "1000", perStr = "1000", windowStr = "5000"] = process.argv.slice(2)
const n = Number(nStr)
const OPENING = 200 // connections being opened at once (the server's listen backlog is 511)
const HEARTBEAT_MS = 1000
const gc = () => {
  for (let i = 0; i < 3; i++) (globalThis as any).gc?.()
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
let sink = 0

/** Opens `count` raw ws sockets, OPENING at a time, into `sockets` (each there from its open, `onOpen` called). */
const rawOpen = async (
  url: string,
  count: number,
  onMessage?: (data: WebSocket.RawData) => void,
  sockets: Array<WebSocket> = [],
  onOpen?: (ws: WebSocket) => void
) => {
  let next = 0
  const worker = async () => {
    while (next < count) {
      next++
      sockets.push(await new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(url)
        ws.once("open", () => {
          onOpen?.(ws)
          resolve(ws)
        })
        ws.once("error", reject)
        if (onMessage) ws.on("message", onMessage)
      }))
    }
  }
  await Promise.all(Array.from({ length: Math.min(OPENING, count) }, worker))
  return sockets
}

const idle = async () => {
  const url = `ws://127.0.0.1:${port}/idle`
  gc()
  const m0 = process.memoryUsage()
  const t0 = performance.now()
  if (name === "raw ws") {
    // The heartbeat one writes by hand: one timer pinging every open socket, each pong noted. It runs
    // while the others open, as jetsocket's heartbeats do (each client's from its own open): started
    // after the last open, raw ws's time to open paid for no heartbeat at all (issue 23).
    const sockets: Array<WebSocket> = []
    const alive = new WeakSet<WebSocket>()
    setInterval(() => {
      for (const ws of sockets) ws.ping()
    }, HEARTBEAT_MS)
    await rawOpen(url, n, undefined, sockets, (ws) => ws.on("pong", () => alive.add(ws)))
  } else {
    let opened: () => void
    const allOpen = new Promise<void>((r) => (opened = r))
    Effect.runFork(
      Effect.scoped(Effect.gen(function*() {
        yield* Effect.forEach(
          Array.from({ length: n }),
          () => JetSocket.connect(url, { reconnect: { base: "100 millis" }, heartbeat: `${HEARTBEAT_MS} millis`, buffer: 1000 }),
          { concurrency: OPENING, discard: true }
        )
        opened()
        yield* Effect.never
      })).pipe(Effect.provide(NodeTransport.layer))
    )
    await allOpen
  }
  const openMs = performance.now() - t0
  await sleep(1000)
  gc()
  const m1 = process.memoryUsage()
  const cpu0 = process.cpuUsage()
  const w0 = performance.now()
  await sleep(Number(windowStr))
  const used = process.cpuUsage(cpu0)
  const seconds = (performance.now() - w0) / 1000
  return {
    openMs,
    rss: (m1.rss - m0.rss) / n,
    heap: (m1.heapUsed - m0.heapUsed) / n,
    cpuPerSecond: (used.user + used.system) / 1000 / seconds
  }
}

const fed = async () => {
  const per = Number(perStr)
  // the server waits before feeding, so that every connection is open first
  const url = `ws://127.0.0.1:${port}/feed?n=${per}&size=120&delay=${300 + n * 2}`
  let first = 0
  let last = 0
  if (name === "raw ws") {
    let total = 0
    let done: () => void
    const all = new Promise<void>((r) => (done = r))
    const sockets = await rawOpen(url, n, (data) => {
      if (total === 0) first = performance.now()
      sink += (JSON.parse(data.toString()) as { price: number }).price
      if (++total === n * per) {
        last = performance.now()
        done()
      }
    })
    await all
    for (const ws of sockets) ws.close()
  } else {
    await Effect.runPromise(
      Effect.scoped(Effect.gen(function*() {
        const clients = yield* Effect.forEach(
          Array.from({ length: n }),
          () => JetSocket.connect(url, { reconnect: { base: "100 millis" }, heartbeat: "30 seconds", buffer: 1000 }),
          { concurrency: OPENING }
        )
        yield* Effect.forEach(
          clients,
          (ws) =>
            ws.messages.pipe(
              Stream.take(per),
              Stream.runForEach((m) =>
                Effect.sync(() => {
                  if (first === 0) first = performance.now()
                  sink += (m as { price: number }).price
                })
              )
            ),
          { concurrency: "unbounded", discard: true }
        )
        last = performance.now()
      })).pipe(Effect.provide(NodeTransport.layer))
    )
  }
  return { msgsPerSecond: (n * per) / ((last - first) / 1000), sink: sink > 0 }
}

const main = async () => {
  const result = mode === "idle" ? await idle() : await fed()
  process.stdout.write(JSON.stringify(result) + "\n")
  process.exit(0)
}
main().catch((e) => {
  console.error(e)
  process.exit(1)
})
