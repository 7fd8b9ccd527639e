/**
 * The cost of an exporter (docs/observability.md, "Cost"): the bench's feed
 * and echo workloads for the jetsocket client, with telemetry off (no SDK
 * layer: the metrics still go to Effect's registry, which is how the library
 * always runs) and on (`@effect/opentelemetry`'s OTLP/JSON layer exporting
 * traces and metrics every second to a local sink that accepts them),
 * interleaved in one run so that the machine's load hits both alike.
 *
 *   node --import tsx scripts/bench-telemetry.ts [rounds=7] [feedN=200000] [echoN=20000]
 *
 * Prints each round and the medians; the server is the bench's blaster
 * (bench/blaster.ts) in its own process.
 */
import * as Otlp from "@effect/opentelemetry/Otlp"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { Effect, Layer, Stream } from "effect"
import { spawn } from "node:child_process"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { JetSocket } from "../src/index.js"
import { NodeTransport } from "../src/node.js"

const [rounds = 7, feedN = 200_000, echoN = 20_000] = process.argv.slice(2).map(Number)
const options = { reconnect: { base: "100 millis" }, heartbeat: "30 seconds", buffer: 1000 } as const

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

const feed = (url: string) =>
  Effect.gen(function*() {
    const ws = yield* JetSocket.connect(url, options)
    const t0 = performance.now()
    yield* ws.messages.pipe(Stream.take(feedN), Stream.runDrain)
    return performance.now() - t0
  })

const echo = (url: string) =>
  Effect.gen(function*() {
    const ws = yield* JetSocket.connect(url, { ...options, codec: "text" })
    const latencies: Array<number> = []
    for (let i = 0; i < echoN; i++) {
      const t0 = performance.now()
      yield* ws.sendText("x".repeat(32))
      yield* ws.recv()
      latencies.push((performance.now() - t0) * 1000)
    }
    return median(latencies)
  })

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const main = async () => {
  const server = await blaster()
  const collector = await sink()
  const telemetry = Otlp.layerJson({
    baseUrl: collector.url,
    resource: { serviceName: "bench" },
    metricsExportInterval: "1 second",
    tracerExportInterval: "1 second"
  }).pipe(Layer.provide(FetchHttpClient.layer))
  const modes = {
    off: <A, E>(effect: Effect.Effect<A, E, never>) => effect,
    on: <A, E>(effect: Effect.Effect<A, E, never>) => Effect.provide(effect, telemetry)
  }
  const results: Record<string, { feed: Array<number>; echo: Array<number> }> = { off: { feed: [], echo: [] }, on: { feed: [], echo: [] } }
  const feedUrl = `ws://127.0.0.1:${server.port}/feed?n=${feedN}&size=120`
  const echoUrl = `ws://127.0.0.1:${server.port}/echo`
  // A warm-up of each (not counted): the JIT, and the SDK's first export, out of the first round.
  for (let round = -1; round < rounds; round++) {
    // Alternate which goes first, so neither always runs right after the other's garbage.
    for (const mode of round % 2 !== 0 ? (["off", "on"] as const) : (["on", "off"] as const)) {
      const run = <A>(workload: Effect.Effect<A, unknown, any>) =>
        Effect.runPromise(modes[mode](workload.pipe(Effect.scoped, Effect.provide(NodeTransport.layer)) as Effect.Effect<A, unknown, never>))
      const feedMs = await run(feed(feedUrl))
      const echoUs = await run(echo(echoUrl))
      if (round < 0) continue
      results[mode]!.feed.push(feedN / (feedMs / 1000))
      results[mode]!.echo.push(echoUs)
      console.log(`round ${round + 1} ${mode}: feed ${Math.round(feedN / (feedMs / 1000))} msg/s, echo median ${echoUs.toFixed(1)} µs`)
    }
  }
  for (const mode of ["off", "on"] as const) {
    const r = results[mode]!
    console.log(
      `${mode}: feed median ${Math.round(median(r.feed))} msg/s (min ${Math.round(Math.min(...r.feed))}, max ${Math.round(Math.max(...r.feed))}); ` +
        `echo median ${median(r.echo).toFixed(1)} µs (min ${Math.min(...r.echo).toFixed(1)}, max ${Math.max(...r.echo).toFixed(1)})`
    )
  }
  console.log(`on/off: feed ${(median(results.on!.feed) / median(results.off!.feed)).toFixed(3)}, echo ${(median(results.on!.echo) / median(results.off!.echo)).toFixed(3)}; OTLP requests received: ${collector.requests()}`)
  server.stop()
  collector.stop()
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
