// In-process probe of the multiplex subscriptions' consumer side (no socket, no router fiber): 100
// receive buffers fed round-robin from `setImmediate` (perTurn messages a turn, as the router offers a
// turn's batch), each consumed by its own fiber with `messages`-like `buffer.stream` +
// `Stream.take(per)` + `Stream.runForEach` reading a field; ns per message.
// Rows: jetsocket (the buffers of ../../src), Effect Queue floor (`Queue.bounded` + `Stream.fromQueue`,
// the same consumer), raw (a Map of handlers called by the producer).
//
//   npx esbuild bench/probes/mux-inprocess.ts --bundle --platform=node --format=esm --packages=external --outfile=/tmp/mux-inprocess.mjs
//   node /tmp/mux-inprocess.mjs [rounds=5] [perTurn=1300] [turns=300] [rows=jet,queue,raw]
import { Effect, Queue, Stream } from "effect"
import * as MessageBuffer from "../../src/MessageBuffer.js"
import { makeBuffer } from "./makeBuffer.js"

const [roundsS = "5", perTurnS = "1300", turnsS = "300", rowsS = "jet,queue,raw"] = process.argv.slice(2)
const CHANNELS = Number(process.env.CHANNELS ?? 100)
const perTurn = Number(perTurnS)
const turns = Number(turnsS)
const N = perTurn * turns
const per = N / CHANNELS
interface Tick {
  readonly channel: number
  readonly price: number
}
const msgs: Array<Tick> = Array.from({ length: N }, (_, i) => ({ channel: i % CHANNELS, price: i }))
export let sink = 0
/** The process's CPU time in ms (user + system): unlike wall time, not inflated while other processes hold the cores. */
const cpuNow = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

const produce = (offer: (m: Tick) => void) => {
  let sent = 0
  const turn = () => {
    for (let i = 0; i < perTurn && sent < N; i++) offer(msgs[sent++]!)
    if (sent < N) setImmediate(turn)
  }
  setImmediate(turn)
}

const consume = <E>(s: Stream.Stream<Tick, E>) =>
  s.pipe(Stream.take(per), Stream.runForEach((m) => Effect.sync(() => void (sink += m.price))))

const jet = () =>
  Effect.runPromise(Effect.gen(function*() {
    const buffers = Array.from({ length: CHANNELS }, () => makeBuffer<Tick, string>(MessageBuffer, { capacity: 1000, policy: "backpressure" }))
    const t0 = cpuNow()
    produce((m) => void buffers[m.channel]!.offer(m))
    yield* Effect.forEach(buffers, (b) => consume(b.stream), { concurrency: "unbounded", discard: true })
    return ((cpuNow() - t0) * 1e6) / N
  }))

const queue = () =>
  Effect.runPromise(Effect.gen(function*() {
    const queues = yield* Effect.forEach(Array.from({ length: CHANNELS }), () => Queue.bounded<Tick>(1000))
    const t0 = cpuNow()
    produce((m) => void queues[m.channel]!.unsafeOffer(m))
    yield* Effect.forEach(queues, (q) => consume(Stream.fromQueue(q)), { concurrency: "unbounded", discard: true })
    return ((cpuNow() - t0) * 1e6) / N
  }))

const raw = () =>
  new Promise<number>((resolve) => {
    const handlers = new Map<number, (m: Tick) => void>()
    let total = 0
    const t0 = cpuNow()
    for (let i = 0; i < CHANNELS; i++) {
      handlers.set(i, (m) => {
        sink += m.price
        if (++total === N) resolve(((cpuNow() - t0) * 1e6) / N)
      })
    }
    produce((m) => handlers.get(m.channel)!(m))
  })

/** No Stream: each subscription's fiber waits with `Effect.async`, takes what is queued, runs f per message. */
const fiber = () =>
  Effect.runPromise(Effect.gen(function*() {
    const subs = Array.from({ length: CHANNELS }, () => ({ items: [] as Array<Tick>, waiter: undefined as undefined | (() => void), scheduled: false }))
    let pending: Array<() => void> = []
    const t0 = cpuNow()
    produce((m) => {
      const s = subs[m.channel]!
      s.items.push(m)
      if (s.waiter !== undefined && !s.scheduled) {
        s.scheduled = true
        if (pending.push(() => { s.scheduled = false; const w = s.waiter!; s.waiter = undefined; w() }) === 1) {
          setImmediate(() => { const b = pending; pending = []; for (const f of b) f() })
        }
      }
    })
    yield* Effect.forEach(subs, (s) => Effect.gen(function*() {
      let left = per
      while (left > 0) {
        if (s.items.length === 0) yield* Effect.async<void>((resume) => void (s.waiter = () => resume(Effect.void)))
        const batch = s.items
        s.items = []
        left -= batch.length
        yield* Effect.forEach(batch, (m) => Effect.sync(() => void (sink += m.price)), { discard: true })
      }
    }), { concurrency: "unbounded", discard: true })
    return ((cpuNow() - t0) * 1e6) / N
  }))

const jetChunk = () =>
  Effect.runPromise(Effect.gen(function*() {
    const buffers = Array.from({ length: CHANNELS }, () => makeBuffer<Tick, string>(MessageBuffer, { capacity: 1000, policy: "backpressure" }))
    const t0 = cpuNow()
    produce((m) => void buffers[m.channel]!.offer(m))
    yield* Effect.forEach(buffers, (b) => b.stream.pipe(Stream.take(per), Stream.runForEachChunk((c) => Effect.sync(() => { for (const m of c) sink += m.price }))), { concurrency: "unbounded", discard: true })
    return ((cpuNow() - t0) * 1e6) / N
  }))

const rows: Record<string, () => Promise<number>> = { jet, queue, raw, fiber, jetChunk }
const names = rowsS.split(",")
const results: Record<string, Array<number>> = {}
for (const name of names) await rows[name]!() // warm up
for (let r = 0; r < Number(roundsS); r++) {
  for (const name of r % 2 === 0 ? names : [...names].reverse()) (results[name] ??= []).push(await rows[name]!())
}
const med = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
for (const [name, xs] of Object.entries(results)) {
  console.log(`${name.padEnd(6)} ns/msg ${med(xs).toFixed(0).padStart(6)} (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)})`)
}
