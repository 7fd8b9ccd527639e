// In-process A/B probe of the receive buffer alone (no socket): what a consumer step costs.
//
//   node --import tsx bench/probes/buffer-inprocess.ts [rounds=7] [oldSrc=/tmp/i20buf-old/src]
//
// A producer offers from `setImmediate` (as a socket callback would, outside any fiber); rows:
// - recv: one message per turn, read with `recv` (the echo path's consumer side), p50 µs from the
//   offer's scheduling to the take's return;
// - floor async / floor queue: the same loop resuming a fiber with `Effect.async`, or through an
//   Effect `Queue.bounded` read with `Queue.take`;
// - stream 1/turn: one message per turn through `stream` + `Stream.runForEach` (a feed slower
//   than the event loop: one consumer step per message), µs per message;
// - stream 500/turn: 500 messages per turn through the stream, ns per message.
import { Effect, Queue, Stream } from "effect"
import * as New from "../../src/MessageBuffer.js"
import { makeBuffer } from "./makeBuffer.js"

const rounds = Number(process.argv[2] ?? 7)
const oldSrc = process.argv[3] ?? "/tmp/i20buf-old/src"
const Old = (await import(`${oldSrc}/MessageBuffer.js`)) as typeof New
const libs = { old: Old, new: New } as const

const now = () => performance.now()
const N = 50_000
const p50 = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!

const recvLoop = (lib: typeof New) =>
  Effect.runPromise(Effect.gen(function*() {
    const buffer = makeBuffer<number, string>(lib, { capacity: 1000, policy: "backpressure" })
    const take = buffer.recv(() => "ended")
    const lat: Array<number> = []
    for (let i = 0; i < N; i++) {
      const t0 = now()
      setImmediate(() => buffer.offer(i))
      yield* take
      lat.push((now() - t0) * 1000)
    }
    return p50(lat)
  }))

const floorLoop = (kind: "async" | "queue") =>
  Effect.runPromise(Effect.gen(function*() {
    let reply: Effect.Effect<number>
    let offer: (n: number) => void
    if (kind === "async") {
      let waiter: ((e: Effect.Effect<number>) => void) | undefined
      offer = (n) => {
        const w = waiter
        waiter = undefined
        w?.(Effect.succeed(n))
      }
      reply = Effect.async<number>((resume) => void (waiter = resume))
    } else {
      const queue = yield* Queue.bounded<number>(1000)
      offer = (n) => void queue.unsafeOffer(n)
      reply = Queue.take(queue)
    }
    const lat: Array<number> = []
    for (let i = 0; i < N; i++) {
      const t0 = now()
      setImmediate(() => offer(i))
      yield* reply
      lat.push((now() - t0) * 1000)
    }
    return p50(lat)
  }))

/** `perTurn` messages offered per turn, `turns` turns, consumed through the stream; ns per message. */
const streamLoop = (lib: typeof New, perTurn: number, turns: number) =>
  Effect.runPromise(Effect.gen(function*() {
    const buffer = makeBuffer<number, string>(lib, { capacity: 1000, policy: "backpressure" })
    let sent = 0
    const produce = () => {
      for (let i = 0; i < perTurn; i++) buffer.offer(sent++)
      if (sent < perTurn * turns) setImmediate(produce)
      else buffer.end()
    }
    const t0 = now()
    setImmediate(produce)
    let count = 0
    yield* buffer.stream.pipe(Stream.runForEach(() => Effect.sync(() => void count++)))
    if (count !== perTurn * turns) throw new Error(`lost messages: ${count}`)
    return ((now() - t0) * 1e6) / count
  }))

const results: Record<string, Array<number>> = {}
const record = (row: string, value: number) => (results[row] ??= []).push(value)

for (const name of ["old", "new"] as const) {
  await recvLoop(libs[name])
  await streamLoop(libs[name], 1, 5000)
}
await floorLoop("async")
await floorLoop("queue")

for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? (["old", "new"] as const) : (["new", "old"] as const)
  for (const name of order) record(`recv p50 µs ${name}`, await recvLoop(libs[name]))
  for (const kind of r % 2 === 0 ? (["async", "queue"] as const) : (["queue", "async"] as const)) {
    record(`floor ${kind} p50 µs`, await floorLoop(kind))
  }
  for (const name of order) record(`stream 1/turn µs/msg ${name}`, (await streamLoop(libs[name], 1, N)) / 1000)
  for (const name of order) record(`stream 500/turn ns/msg ${name}`, await streamLoop(libs[name], 500, 400))
  process.stderr.write(`round ${r + 1}/${rounds}\n`)
}

const pct = (xs: Array<number>, p: number) => [...xs].sort((a, b) => a - b)[Math.floor((p / 100) * (xs.length - 1))]!
console.log(`rows over ${rounds} interleaved rounds: median (min–max)`)
for (const [row, xs] of Object.entries(results)) {
  console.log(`${row.padEnd(28)} ${pct(xs, 50).toFixed(2).padStart(9)}  (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`)
}
