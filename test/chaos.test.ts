import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Stream } from "effect"
import * as FaultProxy from "../src/FaultProxy.js"
import * as JetSocket from "../src/JetSocket.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"

type Item = { readonly seq: number }

const N = 20_000

/**
 * The run's seed: `CHAOS_SEED=<n>` replays a run (the pacing and delays of the
 * faults are drawn from it); otherwise a fresh one, printed either way.
 */
const seed = process.env["CHAOS_SEED"] !== undefined && process.env["CHAOS_SEED"] !== ""
  ? Number(process.env["CHAOS_SEED"]) >>> 0
  : Math.floor(Math.random() * 2 ** 32) >>> 0

/** mulberry32: a small seeded PRNG, numbers in [0, 1). */
const prng = (state: number) => () => {
  state = (state + 0x6d2b79f5) >>> 0
  let t = state
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

/** Faults that end the connection they hit (BlackHole through the heartbeat). */
const ending = new Set<FaultProxy.Fault["_tag"]>(["Drop", "Reset", "BlackHole", "Truncate"])

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
        const random = prng(seed)
        console.log(`chaos: seed=${seed} (replay with CHAOS_SEED=${seed})`)
        // Only faults that hit an open connection count: none between connections, none during a handshake.
        const hits: Record<FaultProxy.Fault["_tag"], number> = { Drop: 0, Reset: 0, BlackHole: 0, Delay: 0, Truncate: 0 }
        // The proxy connections (by accept number) that an ending fault hit: each must be followed by a reconnect.
        const ended = new Set<number>()
        const injector = yield* Effect.fork(Effect.gen(function*() {
          // Bounded: at most 4000 faults, stops when the consumer is done.
          for (let i = 0; i < 4000 && !done; i++) {
            yield* realSleep(20 + Math.floor(random() * 41))
            if (done) break
            const tag = FaultProxy.faultTags[i % FaultProxy.faultTags.length]!
            const fault: FaultProxy.Fault = tag === "Delay"
              ? { _tag: "Delay", millis: 5 + Math.floor(random() * 45) }
              : { _tag: tag }
            // Whether the client's connection is open, read in the same turn as the injection.
            const open = Effect.runSync(ws.state) === "Connected"
            if (proxy.inject(fault) > 0 && open) {
              hits[tag]++
              if (ending.has(tag)) ended.add(proxy.connections())
            }
          }
        }))

        const seqs = Chunk.toReadonlyArray(
          yield* ws.messages.pipe(
            Stream.map((m) => m.seq),
            Stream.takeUntil((seq) => seq >= N),
            Stream.runCollect,
            // a hang guard, not a performance claim
            Effect.timeoutFail({ duration: "110 seconds", onTimeout: () => new Error(`feed not completed (seed ${seed})`) })
          )
        )
        done = true
        yield* Fiber.join(injector)
        const elapsed = Date.now() - started
        // A fault on the last connection may land just before the end: wait for its reconnect too.
        const lastEnded = Math.max(0, ...ended)
        yield* server.waitUntil(() => proxy.connections() > lastEnded && Effect.runSync(ws.state) === "Connected", "20 seconds")
          .pipe(Effect.orDieWith(() => new Error(`no reconnect after the fault on connection ${lastEnded} (seed ${seed})`)))

        const stats = yield* ws.stats
        const unique = new Set(seqs)
        let inRange = 0
        for (const seq of unique) if (seq >= 1 && seq <= N) inRange++
        const lost = N - inRange
        const duplicated = seqs.length - unique.size
        const totalHits = Object.values(hits).reduce((a, b) => a + b, 0)
        console.log(
          `chaos: seed=${seed} faults=${totalHits} on open connections (of ${proxy.faults()} injected), ` +
            `connections ended by a fault=${ended.size}, reconnects=${stats.reconnects}, messages=${seqs.length}, lost=${lost}, ` +
            `duplicated=${duplicated} (hits by kind ${JSON.stringify(hits)}, connections=${proxy.connections()}, ` +
            `deduplicated=${stats.deduplicated}, dropped=${stats.dropped}, invalid=${stats.validationErrors}, ${elapsed} ms)`
        )

        if (lost > 0 || duplicated > 0) {
          const firstBad = seqs.findIndex((seq, i) => seq !== i + 1)
          console.log(`first mismatch at index ${firstBad}: ${JSON.stringify(seqs.slice(Math.max(0, firstBad - 3), firstBad + 5))}`)
        }
        expect(lost).toBe(0)
        expect(duplicated).toBe(0)
        expect(seqs).toEqual(Array.from({ length: N }, (_, i) => i + 1))
        expect(totalHits).toBeGreaterThanOrEqual(100)
        for (const tag of FaultProxy.faultTags) expect(hits[tag]).toBeGreaterThanOrEqual(15)
        // Every connection a fault ended was replaced by a reconnect, and every reconnect is a new proxied connection.
        expect(stats.reconnects).toBeGreaterThanOrEqual(ended.size)
        expect(stats.reconnects).toBeLessThanOrEqual(proxy.connections() - 1)
      }).pipe(Effect.provide(NodeTransport.layer)),
    120_000
  )
})
