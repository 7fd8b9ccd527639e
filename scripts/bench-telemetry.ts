/**
 * Telemetry's cost on the message path (docs/observability.md, "Cost"): the
 * bench's feed and echo workloads for the jetsocket client, in up to three
 * variants interleaved in one run (the order rotates every round, so the
 * machine's load hits each alike):
 *
 * - `off`: this tree's library with no telemetry layer (the metrics still go
 *   to Effect's registry: that is how the library always runs);
 * - `on`: the same with `@effect/opentelemetry`'s OTLP/JSON layer exporting
 *   traces and metrics every second to a local endpoint that accepts them;
 * - `sdk`: the same with the OpenTelemetry JS SDK (`NodeSdk.layer`: its
 *   tracer, which enters the OpenTelemetry context at every fiber resumption
 *   under a span, and a metric reader every second) and exporters that drop;
 * - `before` (with `--before=<dir>`): the library of another tree (e.g. a
 *   detached worktree of main), no telemetry layer.
 *
 *   node --import tsx scripts/bench-telemetry.ts [--before=/tmp/main-tree] [--variants=on,before] [--rounds=9] [--feed=200000] [--echo=20000]
 *
 * Each workload reports its wall time and the CPU time of this process (user +
 * system: the client, its runtime, its GC and the exporter; the server is the
 * bench's blaster, bench/blaster.ts, in its own process). On a shared machine
 * the CPU time per message is the steadier figure: a busy neighbour delays a
 * run's wall clock far more than it changes the work the run does.
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import * as Otlp from "@effect/opentelemetry/Otlp"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics"
import { BatchSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect, Layer, ManagedRuntime, Stream } from "effect"
import { spawn } from "node:child_process"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as path from "node:path"
import { pathToFileURL } from "node:url"

const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
const rounds = Number(arg("rounds") ?? 9)
const feedN = Number(arg("feed") ?? 200_000)
const echoN = Number(arg("echo") ?? 20_000)
const before = arg("before")
/** `--variants=before`: run only these besides `off` (e.g. a before/after without the exporter's code in the process). */
const only = arg("variants")?.split(",")
const options = { reconnect: { base: "100 millis" }, heartbeat: "30 seconds", buffer: 1000 } as const

type Lib = { readonly JetSocket: typeof import("../src/index.js").JetSocket; readonly NodeTransport: typeof import("../src/node.js").NodeTransport }
const load = async (root: string): Promise<Lib> => ({
  JetSocket: (await import(pathToFileURL(path.join(root, "src/index.ts")).href)).JetSocket,
  NodeTransport: (await import(pathToFileURL(path.join(root, "src/node.ts")).href)).NodeTransport
})

const blaster = (): Promise<{ port: number; stop: () => void }> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", new URL("../bench/blaster.ts", import.meta.url).pathname], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    child.stdout!.on("data", (d: Buffer) => {
      const m = /PORT (\d+)/.exec(d.toString())
      if (m) resolve({ port: Number(m[1]), stop: () => child.kill() })
    })
    child.once("exit", (code) => reject(new Error(`blaster exited ${code}`)))
  })

/** An OTLP/HTTP endpoint that accepts and counts what it is sent. */
const sink = (): Promise<{ url: string; requests: () => number; stop: () => void }> =>
  new Promise((resolve) => {
    let requests = 0
    const server = http.createServer((req, res) => {
      req.resume()
      req.on("end", () => {
        requests++
        res.writeHead(200, { "content-type": "application/json" }).end("{}")
      })
    })
    server.listen(0, "127.0.0.1", () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        requests: () => requests,
        stop: () => server.close()
      }))
  })

interface Timing {
  readonly wall: number
  readonly cpu: number
}

/**
 * Wall ms and CPU µs (this process: user + system) of `effect`, scope included (connect to close),
 * run in a span as application code usually is (the connect spans are its children).
 */
const timed = <E, R>(effect: Effect.Effect<unknown, E, R>): Effect.Effect<Timing, E, R> =>
  Effect.suspend(() => {
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    return Effect.map(effect, () => {
      const cpu = process.cpuUsage(cpu0)
      return { wall: performance.now() - t0, cpu: cpu.user + cpu.system }
    })
  }).pipe(Effect.withSpan("bench.workload"))

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

interface Figures {
  feedRate: Array<number>
  feedCpu: Array<number>
  echoMedian: Array<number>
  echoCpu: Array<number>
}

const main = async () => {
  const server = await blaster()
  const collector = await sink()
  const telemetry = Otlp.layerJson({
    baseUrl: collector.url,
    resource: { serviceName: "bench" },
    metricsExportInterval: "1 second",
    tracerExportInterval: "1 second"
  }).pipe(Layer.provide(FetchHttpClient.layer))
  const here = await load(path.resolve(new URL("..", import.meta.url).pathname))
  // The OpenTelemetry JS SDK's tracer and meter (`NodeSdk`), exporting every second to exporters that
  // accept and drop: its cost without the network's.
  const sdk = NodeSdk.layer(() => ({
    resource: { serviceName: "bench" },
    spanProcessor: new BatchSpanProcessor({ export: (_, done) => done({ code: 0 }), shutdown: () => Promise.resolve() }),
    metricReader: new PeriodicExportingMetricReader({
      exporter: { export: (_, done) => done({ code: 0 }), forceFlush: () => Promise.resolve(), shutdown: () => Promise.resolve() },
      exportIntervalMillis: 1000
    })
  }))
  const all: Array<{ name: string; lib: Lib; layer: Layer.Layer<never> | undefined }> = [
    { name: "off", lib: here, layer: undefined },
    { name: "on", lib: here, layer: telemetry },
    { name: "sdk", lib: here, layer: sdk as Layer.Layer<never> },
    ...(before === undefined ? [] : [{ name: "before", lib: await load(path.resolve(before)), layer: undefined }])
  ]
  // `off` is the reference the ratios divide by: always run.
  const variants = all.filter((v) => v.name === "off" || only === undefined || only.includes(v.name))
  const results = new Map<string, Figures>(variants.map((v) => [v.name, { feedRate: [], feedCpu: [], echoMedian: [], echoCpu: [] }]))
  const feedUrl = `ws://127.0.0.1:${server.port}/feed?n=${feedN}&size=120`
  const echoUrl = `ws://127.0.0.1:${server.port}/echo`
  // One runtime per variant for the whole run, as an application has: the SDK layer is built once
  // and exports all along; what is timed is the workload alone, not building or releasing a layer.
  const runtimes = new Map(variants.map((v) => [
    v.name,
    ManagedRuntime.make(v.layer === undefined ? v.lib.NodeTransport.layer : Layer.merge(v.lib.NodeTransport.layer, v.layer))
  ]))
  // Round 0 is a warm-up (not counted): the JIT, and the SDK's first export.
  for (let round = 0; round <= rounds; round++) {
    const order = variants.map((_, i) => variants[(i + round) % variants.length]!)
    for (const { name, lib } of order) {
      const runtime = runtimes.get(name)!
      const feed = await runtime.runPromise(timed(Effect.scoped(Effect.gen(function*() {
        const ws = yield* lib.JetSocket.connect(feedUrl, options)
        yield* ws.messages.pipe(Stream.take(feedN), Stream.runDrain)
      }))) as Effect.Effect<Timing, unknown, any>)
      const latencies: Array<number> = []
      const echo = await runtime.runPromise(timed(Effect.scoped(Effect.gen(function*() {
        const ws = yield* lib.JetSocket.connect(echoUrl, { ...options, codec: "text" })
        for (let i = 0; i < echoN; i++) {
          const t0 = performance.now()
          yield* ws.sendText("e".repeat(32))
          yield* ws.recv()
          latencies.push((performance.now() - t0) * 1000)
        }
      }))) as Effect.Effect<Timing, unknown, any>)
      if (round === 0) continue
      const r = results.get(name)!
      r.feedRate.push(feedN / (feed.wall / 1000))
      r.feedCpu.push(feed.cpu / feedN)
      r.echoMedian.push(median(latencies))
      r.echoCpu.push(echo.cpu / echoN)
      console.log(
        `round ${round} ${name}: feed ${Math.round(feedN / (feed.wall / 1000))} msg/s, ${(feed.cpu / feedN).toFixed(2)} µs CPU/msg; ` +
          `echo median ${median(latencies).toFixed(1)} µs, ${(echo.cpu / echoN).toFixed(1)} µs CPU/round trip`
      )
    }
  }
  for (const runtime of runtimes.values()) await runtime.dispose()
  const show = (xs: ReadonlyArray<number>, digits: number) =>
    `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`
  console.log(`\n${rounds} rounds, feed ${feedN} × 120 B JSON, echo ${echoN} × 32 B; median (min–max)`)
  console.log("| variant | feed msg/s | feed CPU µs/msg | echo p50 µs | echo CPU µs/round trip |")
  console.log("|---|---:|---:|---:|---:|")
  for (const [name, r] of results) {
    console.log(`| ${name} | ${show(r.feedRate, 0)} | ${show(r.feedCpu, 2)} | ${show(r.echoMedian, 1)} | ${show(r.echoCpu, 1)} |`)
  }
  const off = results.get("off")!
  for (const [name, r] of results) {
    if (name === "off") continue
    console.log(
      `${name}/off (medians): feed msg/s ${(median(r.feedRate) / median(off.feedRate)).toFixed(3)}, feed CPU ${(median(r.feedCpu) / median(off.feedCpu)).toFixed(3)}, ` +
        `echo p50 ${(median(r.echoMedian) / median(off.echoMedian)).toFixed(3)}, echo CPU ${(median(r.echoCpu) / median(off.echoCpu)).toFixed(3)}`
    )
  }
  // Paired: each round ran every variant back to back, so a round's ratio sees one machine state.
  for (const [name, r] of results) {
    if (name === "off") continue
    const paired = (xs: ReadonlyArray<number>, ys: ReadonlyArray<number>) => show(xs.map((x, i) => x / ys[i]!), 3)
    console.log(
      `${name}/off (per round, median (min–max)): feed msg/s ${paired(r.feedRate, off.feedRate)}, feed CPU ${paired(r.feedCpu, off.feedCpu)}, ` +
        `echo p50 ${paired(r.echoMedian, off.echoMedian)}, echo CPU ${paired(r.echoCpu, off.echoCpu)}`
    )
  }
  console.log(`OTLP requests received: ${collector.requests()}`)
  server.stop()
  collector.stop()
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
