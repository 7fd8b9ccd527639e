// Echo 32 B round trips through real sockets (the bench's blaster in a child process), several
// source trees of the library side by side in one process, interleaved round by round, beside raw
// `ws` and the least an Effect program pays to wait for a reply in an Effect `Queue` or `Mailbox`.
// Used to locate issue 29's echo regression (docs/performance.md, "Issue 29: the echo wake-up").
//
//   node --import tsx bench/probes/echo-variants.ts <rounds> <n per part> name=/path/to/tree ...
// or, with no tsx in the measuring process (as the bench runs; from the repository's root):
//   npx esbuild bench/probes/echo-variants.ts --bundle --platform=node --format=esm --packages=external \
//     --outfile=node_modules/.cache/echo-variants.mjs && node node_modules/.cache/echo-variants.mjs ...
//
// Each `name=/path/to/tree` is a directory holding a `src/` of the library (e.g. `git archive <ref> src`
// unpacked); each is bundled with esbuild (node_modules external) so that it runs as shipped.
import { spawn } from "node:child_process"
import * as esbuild from "esbuild"
import * as fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { Effect, Mailbox, Queue } from "effect"
import WebSocket from "ws"

const args = process.argv.slice(2)
/** `--no-floors`: only raw ws and the trees. */
const floors = !args.includes("--no-floors")
const [roundsArg, nArg, ...trees] = args.filter((a) => !a.startsWith("--"))
const rounds = Number(roundsArg ?? 5)
const N = Number(nArg ?? 3000)
// run from the repository's root (also when this probe is itself bundled, see below)
const out = path.resolve("node_modules/.cache/jetsocket-echo-variants")
const now = () => performance.now()
const payload = "e".repeat(32)

type Echo = (url: string, n: number) => Promise<Array<number>>

const entry = (src: string) => `
import { Effect } from "effect"
import { JetSocket } from "${src}/index.js"
import { NodeTransport } from "${src}/node.js"
export const echo = (url, payload, n) => Effect.runPromise(Effect.gen(function*() {
  const ws = yield* JetSocket.connect(url, { codec: "text", heartbeat: "30 seconds", reconnect: { base: "100 millis" }, buffer: 1000 })
  const out = []
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    yield* ws.sendText(payload)
    yield* ws.recv()
    out.push((performance.now() - t0) * 1000)
  }
  return out
}).pipe(Effect.scoped, Effect.provide(NodeTransport.layer)))
`

const variants: Array<[string, Echo]> = []
for (const spec of trees) {
  const [name, tree] = spec.split("=") as [string, string]
  fs.mkdirSync(`${out}/${name}`, { recursive: true })
  const file = `${out}/${name}/entry.mjs`
  fs.writeFileSync(file, entry(path.resolve(tree, "src")))
  await esbuild.build({
    entryPoints: [file], outfile: `${out}/${name}/bundle.mjs`, bundle: true, platform: "node", format: "esm",
    target: "node20", packages: "external", logLevel: "warning", resolveExtensions: [".ts", ".js"],
    plugins: [{ name: "js-to-ts", setup: (b) => b.onResolve({ filter: /\.js$/ }, (a) => {
      const ts = path.resolve(a.resolveDir, a.path.replace(/\.js$/, ".ts"))
      return fs.existsSync(ts) ? { path: ts } : undefined
    }) }]
  })
  const mod = await import(pathToFileURL(`${out}/${name}/bundle.mjs`).href) as { echo: (u: string, p: string, n: number) => Promise<Array<number>> }
  variants.push([name, (url, n) => mod.echo(url, payload, n)])
}

const open = (url: string) => new Promise<WebSocket>((resolve, reject) => {
  const ws = new WebSocket(url)
  ws.once("open", () => resolve(ws))
  ws.once("error", reject)
})

const rawWs: Echo = async (url, n) => {
  const ws = await open(url)
  const out: Array<number> = []
  await new Promise<void>((resolve) => {
    let t0 = 0
    const next = () => { t0 = now(); ws.send(payload) }
    ws.on("message", (d) => {
      d.toString()
      out.push((now() - t0) * 1000)
      if (out.length === n) resolve()
      else next()
    })
    next()
  })
  ws.close()
  return out
}

/** raw ws offering each reply to an Effect waiting in `take` (an Effect `Queue`, or a `Mailbox`). */
const floor = (kind: "queue" | "mailbox"): Echo => async (url, n) => {
  const ws = await open(url)
  const result = await Effect.runPromise(Effect.gen(function*() {
    let take: Effect.Effect<string, unknown>
    if (kind === "queue") {
      const q = yield* Queue.unbounded<string>()
      ws.on("message", (d) => void Queue.unsafeOffer(q, d.toString()))
      take = Queue.take(q)
    } else {
      const m = yield* Mailbox.make<string>()
      ws.on("message", (d) => void m.unsafeOffer(d.toString()))
      take = m.take
    }
    const out: Array<number> = []
    for (let i = 0; i < n; i++) {
      const t0 = now()
      yield* Effect.sync(() => ws.send(payload))
      yield* take
      out.push((now() - t0) * 1000)
    }
    return out
  }))
  ws.close()
  return result
}

const all: Array<[string, Echo]> = [
  ["raw ws", rawWs],
  ...(floors ? [["ws→Queue.take", floor("queue")], ["ws→Mailbox.take", floor("mailbox")]] as Array<[string, Echo]> : []),
  ...variants
]

// The bench's bundled blaster when it exists (`npm run bench` made it), else the source through tsx.
const bundled = path.resolve("node_modules/.cache/jetsocket-bench/blaster.mjs")
const blaster = spawn(process.execPath, fs.existsSync(bundled) ? [bundled] : ["--import", "tsx", path.resolve("bench/blaster.ts")], {
  stdio: ["ignore", "pipe", "inherit"]
})
const port = await new Promise<number>((resolve) => blaster.stdout!.on("data", (d: Buffer) => {
  const m = /PORT (\d+)/.exec(d.toString())
  if (m) resolve(Number(m[1]))
}))
const url = `ws://127.0.0.1:${port}/echo`
const p50 = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!

/**
 * The machine's other load over a part (Linux): CPU time of every process but this one and the
 * blaster, as a share of all CPUs' time (/proc/stat, clock ticks). On this VM an idle CPU is a
 * halted vCPU whose wake-up is most of a round trip (docs/performance.md): parts measured while
 * other processes kept the CPUs busy and parts measured on idle CPUs are told apart by it.
 */
const ticks = (): { busy: number; all: number; blaster: number } | undefined => {
  try {
    const [user, nice, system, idle, iowait, irq, softirq, steal] = fs.readFileSync("/proc/stat", "utf8").split("\n")[0]!
      .trim().split(/\s+/).slice(1).map(Number) as Array<number>
    const busy = user! + nice! + system! + irq! + softirq! + steal!
    const stat = fs.readFileSync(`/proc/${blaster.pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return { busy, all: busy + idle! + iowait!, blaster: Number(fields[11]) + Number(fields[12]) }
  } catch {
    return undefined
  }
}
const ticksPerSecond = 100 // USER_HZ

for (const [, echo] of all) await echo(url, 500) // warm-up
const results = new Map<string, Array<{ p50: number; cpu: number; others: number; inside?: number; outside?: number }>>()
/**
 * A tree instrumented by hand (its transport's message callback and `send` pushing timestamps'
 * differences to these globals) splits each round trip: `inside` from the reply's callback to the
 * next send (the client's own path), `outside` from a send to its reply's callback (the kernel,
 * the blaster, and the vCPUs' wake-ups). Medians per part; absent for other trees.
 */
const split = (): { inside?: number; outside?: number } => {
  const g = globalThis as { __echoInternal?: Array<number> | undefined; __echoExternal?: Array<number> | undefined }
  const inside = g.__echoInternal, outside = g.__echoExternal
  g.__echoInternal = g.__echoExternal = undefined
  return inside && outside ? { inside: p50(inside) * 1000, outside: p50(outside) * 1000 } : {}
}
for (let r = 0; r < rounds; r++) {
  for (let i = 0; i < all.length; i++) {
    const [name, echo] = all[(i + r) % all.length]!
    const t0 = ticks()
    const c0 = process.cpuUsage()
    split()
    const lat = await echo(url, N)
    const c = process.cpuUsage(c0)
    const { inside, outside } = split()
    const t1 = ticks()
    const own = ((c.user + c.system) / 1e6) * ticksPerSecond
    const others = t0 && t1 ? Math.max(0, t1.busy - t0.busy - own - (t1.blaster - t0.blaster)) / (t1.all - t0.all) : NaN
    if (process.env.ECHO_VARIANTS_PARTS) {
      // one line per part (stderr), for pooling parts over several runs
      console.error(`part\t${name}\t${p50(lat).toFixed(1)}\t${(others * 100).toFixed(0)}\t${inside?.toFixed(1) ?? ""}\t${outside?.toFixed(1) ?? ""}\t${((c.user + c.system) / N).toFixed(1)}`)
    }
    ;(results.get(name) ?? results.set(name, []).get(name)!).push({ p50: p50(lat), cpu: (c.user + c.system) / N, others, ...(inside === undefined ? {} : { inside, outside }) })
  }
}
blaster.kill()
const med = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
/** Parts whose other load was under `quiet` (a share of all CPUs), and the others. */
const quiet = 0.1
const table = (title: string, keep: (part: { others: number }) => boolean) => {
  const raw = (results.get("raw ws") ?? []).filter(keep)
  const rawMed = raw.length > 0 ? med(raw.map((x) => x.p50)) : NaN
  console.log(`\n${title}\n`)
  console.log(`| contender | parts | p50 µs median (min–max) | × raw ws | CPU µs per round trip | inside µs | outside µs |`)
  console.log(`|---|---:|---:|---:|---:|---:|---:|`)
  for (const [name, all] of results) {
    const rs = all.filter(keep)
    if (rs.length === 0) continue
    const ps = rs.map((x) => x.p50)
    console.log(`| ${name} | ${rs.length} | ${med(ps).toFixed(1)} (${Math.min(...ps).toFixed(1)}–${Math.max(...ps).toFixed(1)}) | ${(med(ps) / rawMed).toFixed(2)} | ${med(rs.map((x) => x.cpu)).toFixed(1)} | ${
      rs[0]!.inside === undefined ? "—" : med(rs.map((x) => x.inside!)).toFixed(1)} | ${rs[0]!.outside === undefined ? "—" : med(rs.map((x) => x.outside!)).toFixed(1)} |`)
  }
}
table(`${rounds} rounds of ${N} round trips, every part`, () => true)
table(`parts while other processes used < ${quiet * 100} % of the CPUs (idle CPUs)`, (p) => p.others < quiet)
table(`parts while other processes used ≥ ${quiet * 100} % of the CPUs (busy CPUs)`, (p) => p.others >= quiet)
