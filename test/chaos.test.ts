import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Stream } from "effect"
import * as FaultProxy from "../src/FaultProxy.js"
import * as JetSocket from "../src/JetSocket.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"

type Item = { readonly seq: number }

const N = 20_000
const realSleep = (ms: number) => Effect.promise(() => new Promise<void>((r) => setTimeout(r, ms)))

/**
 * A resumable sequenced feed: each connection waits for `{ resume: n }` and
 * then sends `{ seq }` for n + 1 … N, paced so that the run lasts a few seconds.
 * Without a resume request within 1 s it starts from 1.
 */
const resumableFeed: TestServer.Handler = (connection) => {
  let started = false
  const start = (from: number) => {
    if (started) return
    started = true
    clearTimeout(fallback)
    TestServer.sequenced({ from, to: N, batch: 20, intervalMs: 4 })(connection)
  }
  const fallback = setTimeout(() => start(1), 1000)
  connection.onMessage((data) => {
    if (typeof data !== "string") return
    try {
      const message = JSON.parse(data) as { resume?: unknown }
      if (typeof message.resume === "number") start(message.resume + 1)
    } catch {
      // not a resume request
    }
  })
  connection.onClose(() => clearTimeout(fallback))
}

describe("chaos", () => {
  it("FaultProxy.random: a seed gives a reproducible sequence covering every kind", () => {
    const a = FaultProxy.random(42)
    const b = FaultProxy.random(42)
    const xs = Array.from({ length: 200 }, () => a())
    expect(Array.from({ length: 200 }, () => b())).toEqual(xs)
    for (const tag of FaultProxy.faultTags) expect(xs.some((f) => f._tag === tag)).toBe(true)
    for (const f of xs) if (f._tag === "Delay") expect(f.millis >= 5 && f.millis <= 50).toBe(true)
  })

  it.scopedLive(
    "a resumable feed through ≥ 100 random faults: every seq 1..N exactly once, in order",
    () =>
      Effect.gen(function*() {
        const server = yield* TestServer.make({ handler: resumableFeed })
        const port = Number(new URL(server.url).port)
        const proxy = yield* FaultProxy.make({ target: { host: "127.0.0.1", port } })
        expect(FaultProxy.isFaultProxy(proxy)).toBe(true)

        const started = Date.now()
        const ws = yield* JetSocket.connect<Item>(proxy.url, {
          reconnect: { base: "10 millis", cap: "100 millis", jitter: false, resetAfter: "50 millis" },
          heartbeat: { interval: "100 millis", timeout: "150 millis" },
          replay: {
            mode: "sequence_id",
            sequenceKey: (m) => m.seq,
            onReplay: (last, send) => send({ resume: last ?? 0 })
          },
          buffer: { capacity: 1000, dedup: { window: 5000, key: (m) => m.seq } }
        })
        // onReplay runs only on re-connects: the first connection asks for the start itself.
        yield* ws.sendText(JSON.stringify({ resume: 0 }))

        let done = false
        const counts: Record<FaultProxy.Fault["_tag"], number> = {
          Drop: 0,
          Reset: 0,
          BlackHole: 0,
          Delay: 0,
          Truncate: 0
        }
        const injector = yield* Effect.fork(Effect.gen(function*() {
          // Bounded: at most 2000 faults (~80 s at the slowest pace), stops when the consumer is done.
          for (let i = 0; i < 2000 && !done; i++) {
            yield* realSleep(20 + Math.floor(Math.random() * 41))
            if (done) break
            const tag = FaultProxy.faultTags[i % FaultProxy.faultTags.length]!
            const fault: FaultProxy.Fault = tag === "Delay"
              ? { _tag: "Delay", millis: 5 + Math.floor(Math.random() * 45) }
              : { _tag: tag }
            proxy.inject(fault)
            counts[tag]++
          }
        }))

        const seqs = Chunk.toReadonlyArray(
          yield* ws.messages.pipe(
            Stream.map((m) => m.seq),
            Stream.takeUntil((seq) => seq >= N),
            Stream.runCollect,
            Effect.timeoutFail({ duration: "100 seconds", onTimeout: () => new Error("feed not completed in 100 s") })
          )
        )
        done = true
        yield* Fiber.join(injector)
        const elapsed = Date.now() - started

        const stats = yield* ws.stats
        const unique = new Set(seqs)
        let inRange = 0
        for (const seq of unique) if (seq >= 1 && seq <= N) inRange++
        const lost = N - inRange
        const duplicated = seqs.length - unique.size
        console.log(
          `chaos: faults=${proxy.faults()}, reconnects=${stats.reconnects}, messages=${seqs.length}, lost=${lost}, ` +
            `duplicated=${duplicated} (by kind ${JSON.stringify(counts)}, connections=${proxy.connections()}, ` +
            `deduplicated=${stats.deduplicated}, dropped=${stats.dropped}, invalid=${stats.validationErrors}, ${elapsed} ms)`
        )

        if (lost > 0 || duplicated > 0) {
          const firstBad = seqs.findIndex((seq, i) => seq !== i + 1)
          console.log(`first mismatch at index ${firstBad}: ${JSON.stringify(seqs.slice(Math.max(0, firstBad - 3), firstBad + 5))}`)
        }
        expect(lost).toBe(0)
        expect(duplicated).toBe(0)
        expect(seqs).toEqual(Array.from({ length: N }, (_, i) => i + 1))
        expect(proxy.faults()).toBeGreaterThanOrEqual(100)
        for (const tag of FaultProxy.faultTags) expect(counts[tag]).toBeGreaterThanOrEqual(15)
        expect(stats.reconnects).toBeGreaterThan(0)
        expect(elapsed).toBeLessThan(60_000)
      }).pipe(Effect.provide(NodeTransport.layer)),
    120_000
  )
})
