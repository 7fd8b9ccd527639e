// Probe: CPU time per multiplexed message in the client process (user + system, from the first
// message), per consumer, interleaved: sub = 100 subscriptions each read by its own fiber with
// Stream.runForEach (the bench row); chunk = the same with runForEachChunk; router = mux.runForEach;
// raw = raw ws + a Map; qfloor / hfloor = the bench's floors (raw ws → an Effect Queue per channel,
// the sub consumer; raw ws → one Effect Queue, an Effect handler per message, bench/multiplex.ts).
// argv: port n rounds variants (against the blaster's /mux)
import { Deferred, Effect, Queue, Stream } from "effect"
import WebSocket from "ws"
import { Multiplex } from "../../src/index.js"
import { NodeTransport } from "../../src/node.js"
const [port, nS = "100000", roundsS = "4", variantsS = "sub,chunk,router,raw"] = process.argv.slice(2)
const n = Number(nS), CH = 100
const url = `ws://127.0.0.1:${port}/mux?n=${n}&channels=${CH}`
let sink = 0
const muxRun = (consume: (mux: Multiplex.Multiplex<unknown>) => Effect.Effect<void, any, any>) => Effect.runPromise(Effect.scoped(Effect.gen(function*() {
  const mux = yield* Multiplex.make(url, { channelKey: "channel", reconnect: { base: "100 millis" }, heartbeat: "30 seconds", queueSize: 1000 })
  yield* consume(mux)
})).pipe(Effect.provide(NodeTransport.layer)) as Effect.Effect<void>)
let t0 = 0, c0: NodeJS.CpuUsage | undefined
const mark = () => { if (c0 === undefined) { t0 = performance.now(); c0 = process.cpuUsage() } }
const openRaw = (onMessage: (m: any) => void) => Effect.async<WebSocket>((resume) => {
  const ws = new WebSocket(url)
  ws.on("message", (data) => onMessage(JSON.parse(data.toString())))
  ws.once("open", () => resume(Effect.succeed(ws)))
})
const variants: Record<string, () => Promise<void>> = {
  sub: () => muxRun((mux) => Effect.gen(function*() {
    const subs = yield* Effect.forEach(Array.from({ length: CH }, (_, i) => `c${i}`), (c) => mux.subscribe(c))
    yield* Effect.forEach(subs, (s) => s.messages.pipe(Stream.take(n / CH), Stream.runForEach((m: any) => Effect.sync(() => { mark(); sink += m.price }))), { concurrency: "unbounded" })
  })),
  chunk: () => muxRun((mux) => Effect.gen(function*() {
    const subs = yield* Effect.forEach(Array.from({ length: CH }, (_, i) => `c${i}`), (c) => mux.subscribe(c))
    yield* Effect.forEach(subs, (s) => s.messages.pipe(Stream.take(n / CH), Stream.runForEachChunk((c: any) => Effect.sync(() => { mark(); for (const m of c) sink += m.price }))), { concurrency: "unbounded" })
  })),
  router: () => muxRun((mux) => Effect.gen(function*() {
    let total = 0
    const done = yield* Deferred.make<void>()
    yield* Effect.forEach(Array.from({ length: CH }, (_, i) => `c${i}`), (channel) => mux.runForEach(channel, (m: any) => Effect.suspend(() => { mark(); sink += m.price; return ++total === n ? Deferred.succeed(done, undefined) : Effect.void })), { concurrency: "unbounded", discard: true }).pipe(Effect.forkScoped)
    yield* Deferred.await(done)
  })),
  qfloor: () => Effect.runPromise(Effect.gen(function*() {
    const queues = new Map<string, Queue.Queue<any>>()
    for (let i = 0; i < CH; i++) queues.set(`c${i}`, yield* Queue.bounded<any>(1000))
    const ws = yield* openRaw((m) => void Queue.unsafeOffer(queues.get(m.channel)!, m))
    yield* Effect.forEach([...queues.values()], (q) => Stream.fromQueue(q).pipe(Stream.take(n / CH), Stream.runForEach((m: any) => Effect.sync(() => { mark(); sink += m.price }))), { concurrency: "unbounded", discard: true })
    ws.close()
  })),
  hfloor: () => Effect.runPromise(Effect.gen(function*() {
    const queue = yield* Queue.unbounded<any>()
    const done = yield* Deferred.make<void>()
    let total = 0
    const handler = (m: any) => Effect.suspend(() => { mark(); sink += m.price; return ++total === n ? Deferred.succeed(done, undefined) : Effect.void })
    const handlers = new Map<string, (m: any) => Effect.Effect<void>>()
    for (let i = 0; i < CH; i++) handlers.set(`c${i}`, handler)
    const ws = yield* openRaw((m) => void Queue.unsafeOffer(queue, m))
    const router = Queue.takeBetween(queue, 1, Number.POSITIVE_INFINITY).pipe(Effect.flatMap((b) => Effect.forEach(b, (m: any) => handlers.get(m.channel)!(m), { discard: true })), Effect.forever)
    yield* Effect.raceFirst(router, Deferred.await(done))
    ws.close()
  })),
  raw: () => new Promise<void>((resolve, reject) => {
    const ws = new WebSocket(url)
    const handlers = new Map<string, (m: any) => void>()
    for (let i = 0; i < CH; i++) handlers.set(`c${i}`, (m) => void (sink += m.price))
    let total = 0
    ws.on("error", reject)
    ws.on("message", (data) => {
      mark()
      const m = JSON.parse(data.toString())
      handlers.get(m.channel)?.(m)
      if (++total === n) { resolve(); ws.close() }
    })
  })
}
const names = variantsS.split(","), res: Record<string, Array<[number, number]>> = {}
for (let r = 0; r < Number(roundsS); r++) {
  for (const v of r % 2 ? [...names].reverse() : names) {
    c0 = undefined
    await variants[v]!()
    const cpu = process.cpuUsage(c0), wall = performance.now() - t0
    ;(res[v] ??= []).push([wall * 1000 / n, (cpu.user + cpu.system) / n])
  }
}
const med = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
for (const [v, xs] of Object.entries(res)) console.log(`${v.padEnd(7)} wall µs/msg ${med(xs.map((x) => x[0])).toFixed(2)} (${xs.map((x) => x[0].toFixed(1)).join(" ")})  cpu µs/msg ${med(xs.map((x) => x[1])).toFixed(2)} (${xs.map((x) => x[1].toFixed(1)).join(" ")})`)
process.exit(0)
