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
for (const [, echo] of all) await echo(url, 500) // warm-up
const results = new Map<string, Array<{ p50: number; cpu: number }>>()
for (let r = 0; r < rounds; r++) {
  for (let i = 0; i < all.length; i++) {
    const [name, echo] = all[(i + r) % all.length]!
    const c0 = process.cpuUsage()
    const lat = await echo(url, N)
    const c = process.cpuUsage(c0)
    ;(results.get(name) ?? results.set(name, []).get(name)!).push({ p50: p50(lat), cpu: (c.user + c.system) / N })
  }
}
blaster.kill()
const med = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
const rawMed = med(results.get("raw ws")!.map((x) => x.p50))
console.log(`| contender | p50 µs median (min–max) | × raw ws | CPU µs per round trip |`)
console.log(`|---|---:|---:|---:|`)
for (const [name, rs] of results) {
  const ps = rs.map((x) => x.p50)
  console.log(`| ${name} | ${med(ps).toFixed(1)} (${Math.min(...ps).toFixed(1)}–${Math.max(...ps).toFixed(1)}) | ${(med(ps) / rawMed).toFixed(2)} | ${med(rs.map((x) => x.cpu)).toFixed(1)} |`)
}
