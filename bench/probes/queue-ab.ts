// A/B probe for the receive buffer (issue 20 item 1): interleaved rounds in one process against the
// blaster (a child process), so that a loaded machine hits every contender alike.
//
//   node --import tsx bench/probes/queue-ab.ts [rounds=7] [oldSrc=/tmp/i20buf-old/src] [rows=echo,floor,feed,large]
//
// `oldSrc` is a copy of an older `src/` (e.g. `git archive main src | tar -x -C /tmp/old`, with a
// `node_modules` symlink next to it so that both copies share one `effect`). Rows:
// - echo 32 B through `sendText` + `recv` (one at a time), old vs new client;
// - the floor: raw `ws` resuming a fiber with `Effect.async`, vs raw `ws` into an Effect `Queue`
//   read with `Queue.take`;
// - feed: 100 000 × 120 B JSON through `messages` + `Stream.runForEach`, old vs new;
// - large: 200 × 64 KiB binary through `messages`, old vs new.
import { spawn } from "node:child_process"
import { Effect, Queue, Stream } from "effect"
import WebSocket from "ws"
import * as New from "../../src/index.js"
import * as NewNode from "../../src/node.js"

const rounds = Number(process.argv[2] ?? 7)
const oldSrc = process.argv[3] ?? "/tmp/i20buf-old/src"
const rows = (process.argv[4] ?? "echo,floor,feed,large").split(",")
const Old = (await import(`${oldSrc}/index.js`)) as typeof New
const OldNode = (await import(`${oldSrc}/node.js`)) as typeof NewNode

const ECHO_N = 3000
const FEED_N = 100_000
const LARGE_N = 200
const now = () => performance.now()

const blaster = await new Promise<{ port: number; kill: () => void }>((resolve, reject) => {
  const child = spawn(process.execPath, ["--import", "tsx", new URL("../blaster.ts", import.meta.url).pathname], {
    stdio: ["ignore", "pipe", "inherit"]
  })
  child.stdout!.on("data", (d: Buffer) => {
    const m = /PORT (\d+)/.exec(d.toString())
    if (m) resolve({ port: Number(m[1]), kill: () => child.kill() })
  })
  child.once("exit", (code) => reject(new Error(`blaster exited ${code}`)))
})
const base = `ws://127.0.0.1:${blaster.port}`

type Lib = { JetSocket: typeof New.JetSocket; layer: typeof NewNode.NodeTransport.layer }
const libs: Record<string, Lib> = {
  old: { JetSocket: Old.JetSocket, layer: OldNode.NodeTransport.layer },
  new: { JetSocket: New.JetSocket, layer: NewNode.NodeTransport.layer }
}
const options = { reconnect: { base: "100 millis" }, heartbeat: "30 seconds", buffer: 1000 } as const

const run = <A>(lib: Lib, eff: Effect.Effect<A, unknown, any>) =>
  Effect.runPromise(eff.pipe(Effect.scoped, Effect.provide(lib.layer)) as Effect.Effect<A, unknown, never>)

const payload = "x".repeat(32)

const jetEcho = (lib: Lib, n: number) =>
  run(lib, Effect.gen(function*() {
    const ws = yield* lib.JetSocket.connect(`${base}/echo`, { ...options, codec: "text" })
    const out: Array<number> = []
    for (let i = 0; i < n; i++) {
      const t0 = now()
      yield* ws.sendText(payload)
      yield* ws.recv()
      out.push((now() - t0) * 1000)
    }
    return out
  }))

const jetCount = (lib: Lib, path: string, n: number, codec: "json" | "binary") =>
  run(lib, Effect.gen(function*() {
    const ws = yield* lib.JetSocket.connect(`${base}${path}`, { ...options, codec })
    const t0 = now()
    let count = 0
    yield* ws.messages.pipe(
      Stream.take(n),
      Stream.runForEach(() => Effect.sync(() => void count++))
    )
    return now() - t0
  }))

/** raw `ws`; the reply resumes the fiber through `resumeWith` (Effect.async or a Queue). */
const floor = (kind: "async" | "queue", n: number) =>
  Effect.runPromise(Effect.gen(function*() {
    const ws = new WebSocket(`${base}/echo`)
    yield* Effect.async<void>((resume) => void ws.once("open", () => resume(Effect.void)))
    let reply: Effect.Effect<string>
    if (kind === "async") {
      let waiter: ((reply: Effect.Effect<string>) => void) | undefined
      ws.on("message", (data) => {
        const resume = waiter
        waiter = undefined
        resume?.(Effect.succeed(data.toString()))
      })
      reply = Effect.async<string>((resume) => void (waiter = resume))
    } else {
      const queue = yield* Queue.bounded<string>(1000)
      ws.on("message", (data) => void queue.unsafeOffer(data.toString()))
      reply = Queue.take(queue)
    }
    const out: Array<number> = []
    for (let i = 0; i < n; i++) {
      const t0 = now()
      yield* Effect.sync(() => ws.send(payload))
      yield* reply
      out.push((now() - t0) * 1000)
    }
    ws.close()
    return out
  }))

const pct = (xs: Array<number>, p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!
}
const mean = (xs: Array<number>) => xs.reduce((a, b) => a + b, 0) / xs.length

const results: Record<string, Array<number>> = {}
const record = (row: string, value: number) => (results[row] ??= []).push(value)

const cpu = () => {
  const u = process.cpuUsage()
  return u.user + u.system
}

// warm-up
for (const name of ["old", "new"]) {
  await jetEcho(libs[name]!, 300)
  await jetCount(libs[name]!, `/feed?n=5000&size=120`, 5000, "json")
}
await floor("async", 300)
await floor("queue", 300)

for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? ["old", "new"] : ["new", "old"]
  for (const name of rows.includes("echo") ? order : []) {
    const c0 = cpu()
    const lat = await jetEcho(libs[name]!, ECHO_N)
    record(`echo 32 B p50 ${name}`, pct(lat, 50))
    record(`echo 32 B mean ${name}`, mean(lat))
    record(`echo 32 B CPU/rt ${name}`, (cpu() - c0) / ECHO_N)
  }
  for (const kind of !rows.includes("floor") ? [] : r % 2 === 0 ? ["async", "queue"] as const : ["queue", "async"] as const) {
    const c0 = cpu()
    const lat = await floor(kind, ECHO_N)
    record(`floor ${kind} p50`, pct(lat, 50))
    record(`floor ${kind} mean`, mean(lat))
    record(`floor ${kind} CPU/rt`, (cpu() - c0) / ECHO_N)
  }
  for (const name of rows.includes("feed") ? order : []) {
    const c0 = cpu()
    const ms = await jetCount(libs[name]!, `/feed?n=${FEED_N}&size=120`, FEED_N, "json")
    record(`feed msgs/s ${name}`, FEED_N / (ms / 1000))
    record(`feed CPU µs/msg ${name}`, (cpu() - c0) / FEED_N)
  }
  for (const name of rows.includes("large") ? order : []) {
    const c0 = cpu()
    const ms = await jetCount(libs[name]!, `/large?n=${LARGE_N}&size=65536`, LARGE_N, "binary")
    record(`large MB/s ${name}`, (LARGE_N * 65536) / 1e6 / (ms / 1000))
    record(`large CPU µs/msg ${name}`, (cpu() - c0) / LARGE_N)
  }
  process.stderr.write(`round ${r + 1}/${rounds}\n`)
}

const median = (xs: Array<number>) => pct(xs, 50)
console.log(`rows over ${rounds} interleaved rounds: median (min–max)`)
for (const [row, xs] of Object.entries(results)) {
  const f = (x: number) => (x >= 1000 ? x.toFixed(0) : x.toFixed(2))
  console.log(`${row.padEnd(28)} ${f(median(xs)).padStart(10)}  (${f(Math.min(...xs))}–${f(Math.max(...xs))})`)
}
// Paired: each round's new / old (the load changes between rounds more than between neighbours).
console.log("paired new/old per round: median (min–max)")
for (const row of Object.keys(results)) {
  if (!row.endsWith(" new")) continue
  const base = row.slice(0, -4)
  const olds = results[`${base} old`]
  if (olds === undefined) continue
  const ratios = results[row]!.map((x, i) => x / olds[i]!)
  console.log(`${base.padEnd(24)} ${median(ratios).toFixed(3).padStart(8)}  (${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)})`)
}
blaster.kill()
process.exit(0)
