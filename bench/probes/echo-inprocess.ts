// In-process echo and feed through the whole client (a fake transport answering from `setImmediate`,
// no socket): what `sendText` + `recv` cost per round trip, old vs new, against the same loop around
// a bare fiber (`Effect.async` resume, or an Effect `Queue` read with `Queue.take`); and the CPU per
// message of a JSON feed (500 per turn, or 1 per turn) through `messages`. Interleaved rounds.
//
//   node --import tsx bench/probes/echo-inprocess.ts [rounds=9] [oldSrc=/tmp/i20buf-old/src]
import { Duration, Effect, Layer, Queue, Stream } from "effect"
import * as New from "../../src/index.js"
import * as NewTransport from "../../src/Transport.js"

const rounds = Number(process.argv[2] ?? 9)
const oldSrc = process.argv[3] ?? "/tmp/i20buf-old/src"
const Old = (await import(`${oldSrc}/index.js`)) as typeof New
const OldTransport = (await import(`${oldSrc}/Transport.js`)) as typeof NewTransport
const N = 30_000
const now = () => performance.now()
const p50 = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!

const tick = JSON.stringify({ type: "tick", symbol: "BTC-USD", price: 43210.12, qty: 0.0153, ts: 1732500000000, seq: 1, pad: "x".repeat(20) })

const fake = (T: typeof NewTransport) =>
  Layer.succeed(T.Transport, T.make("fake", (request) =>
    Effect.sync((): NewTransport.Connection => {
      // ws://fake/feed?n=&perTurn=: sends n ticks, perTurn per turn, once connected
      const url = new URL(request.url)
      if (url.pathname === "/feed") {
        const n = Number(url.searchParams.get("n"))
        const perTurn = Number(url.searchParams.get("perTurn"))
        let sent = 0
        const pump = () => {
          for (let i = 0; i < perTurn && sent < n; i++, sent++) request.handlers.onMessage(tick)
          if (sent < n) setImmediate(pump)
        }
        setImmediate(pump)
      }
      return connection(request)
    })))

const connection = (request: NewTransport.ConnectRequest): NewTransport.Connection => ({
      protocol: "",
      extensions: "",
      canPing: false,
      isOpen: () => true,
      send: (data, onWritten) => {
        onWritten?.()
        setImmediate(() => request.handlers.onMessage(data))
      },
      ping: () => {},
      pause: () => {},
      resume: () => {},
      close: () => Effect.succeed(true)
    })

const libs = {
  old: { JetSocket: Old.JetSocket, layer: fake(OldTransport) },
  new: { JetSocket: New.JetSocket, layer: fake(NewTransport) }
}

const clientEcho = (lib: (typeof libs)["new"]) =>
  Effect.runPromise(Effect.gen(function*() {
    const ws = yield* lib.JetSocket.connect("ws://fake/", { codec: "text", heartbeat: Duration.seconds(30) })
    const lat: Array<number> = []
    const c0 = process.cpuUsage()
    for (let i = 0; i < N; i++) {
      const t0 = now()
      yield* ws.sendText("x".repeat(32))
      yield* ws.recv()
      lat.push((now() - t0) * 1000)
    }
    const c = process.cpuUsage(c0)
    return { p50: p50(lat), cpu: (c.user + c.system) / N }
  }).pipe(Effect.scoped, Effect.provide(lib.layer)) as Effect.Effect<{ p50: number; cpu: number }>)

const feed = (lib: (typeof libs)["new"], n: number, perTurn: number) =>
  Effect.runPromise(Effect.gen(function*() {
    const c0 = process.cpuUsage()
    const ws = yield* lib.JetSocket.connect(`ws://fake/feed?n=${n}&perTurn=${perTurn}`, { heartbeat: Duration.seconds(30) })
    let count = 0
    yield* ws.messages.pipe(Stream.take(n), Stream.runForEach(() => Effect.sync(() => void count++)))
    const c = process.cpuUsage(c0)
    return ((c.user + c.system) * 1000) / count
  }).pipe(Effect.scoped, Effect.provide(lib.layer)) as Effect.Effect<number>)

const floor = (kind: "async" | "queue") =>
  Effect.runPromise(Effect.gen(function*() {
    let reply: Effect.Effect<string>
    let onMessage: (s: string) => void
    if (kind === "async") {
      let waiter: ((e: Effect.Effect<string>) => void) | undefined
      onMessage = (s) => {
        const w = waiter
        waiter = undefined
        w?.(Effect.succeed(s))
      }
      reply = Effect.async<string>((resume) => void (waiter = resume))
    } else {
      const queue = yield* Queue.bounded<string>(1000)
      onMessage = (s) => void queue.unsafeOffer(s)
      reply = Queue.take(queue)
    }
    const lat: Array<number> = []
    const c0 = process.cpuUsage()
    for (let i = 0; i < N; i++) {
      const t0 = now()
      const payload = "x".repeat(32)
      yield* Effect.sync(() => setImmediate(() => onMessage(payload)))
      yield* reply
      lat.push((now() - t0) * 1000)
    }
    const c = process.cpuUsage(c0)
    return { p50: p50(lat), cpu: (c.user + c.system) / N }
  }))

const results: Record<string, Array<number>> = {}
const record = (row: string, r: { p50: number; cpu: number }) => {
  ;(results[`${row} p50 µs`] ??= []).push(r.p50)
  ;(results[`${row} CPU µs/rt`] ??= []).push(r.cpu)
}
await clientEcho(libs.old)
await clientEcho(libs.new)
await floor("async")
await floor("queue")
for (let r = 0; r < rounds; r++) {
  const names = r % 2 === 0 ? (["old", "new"] as const) : (["new", "old"] as const)
  for (const name of names) record(`echo ${name}`, await clientEcho(libs[name]))
  for (const kind of r % 2 === 0 ? (["async", "queue"] as const) : (["queue", "async"] as const)) {
    record(`floor ${kind}`, await floor(kind))
  }
  for (const name of names) (results[`feed 500/turn CPU ns/msg ${name}`] ??= []).push(await feed(libs[name], 100_000, 500))
  for (const name of names) (results[`feed 1/turn CPU ns/msg ${name}`] ??= []).push(await feed(libs[name], 10_000, 1))
  process.stderr.write(`round ${r + 1}/${rounds}\n`)
}
console.log(`rows over ${rounds} interleaved rounds: median (min–max)`)
for (const [row, xs] of Object.entries(results).sort()) {
  console.log(`${row.padEnd(24)} ${p50(xs).toFixed(2).padStart(8)}  (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`)
}
process.exit(0)
