import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber } from "effect"
import * as ConnectionPool from "../src/ConnectionPool.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"

const CYCLES = 10_000
const CONCURRENCY = 16

/** Open TCP sockets of this process (client and server ends alike). */
const tcpSockets = (): number => process.getActiveResourcesInfo().filter((name) => name === "TCPSocketWrap").length

const realPoll = (predicate: () => boolean, what: string, timeoutMs = 10_000) =>
  TestServer.waitUntil(predicate, timeoutMs).pipe(Effect.orDieWith(() => new Error(`timed out waiting for ${what}`)))

/** A small deterministic PRNG (mulberry32), so a failure can be replayed. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

describe("ConnectionPool soak", () => {
  it.scopedLive(`${CYCLES} acquire/release cycles with random interruption leak nothing`, () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const socketsBefore = tcpSockets()
      const pool = yield* ConnectionPool.make({ baseUrl: server.url, maxConnections: 5, acquireTimeout: "30 seconds" })
      const random = prng(20261125)
      const paths = ["/a", "/b", "/c"]
      let completed = 0
      let interrupted = 0
      let finishedFirst = 0
      const unexpected: Array<string> = []
      let echoes = 0
      let peakWaiting = 0

      const cycle = (i: number) =>
        Effect.gen(function*() {
          const path = paths[random() < 0.8 ? 0 : random() < 0.5 ? 1 : 2]!
          const talk = i % 10 === 0
          const lease = Effect.scoped(Effect.gen(function*() {
            const ws = yield* pool.acquire(path)
            if (talk) {
              yield* ws.send({ i })
              const reply = yield* ws.recv({ timeout: "10 seconds" })
              // A reused connection never carries a reply meant for an earlier borrower.
              expect(reply).toEqual({ i })
              echoes++
            } else {
              yield* Effect.yieldNow()
            }
          }))
          if (random() < 0.25) {
            // Interrupt after a few scheduler turns: while waiting, connecting, talking or releasing.
            const fiber = yield* Effect.fork(lease)
            const turns = Math.floor(random() * 4)
            for (let k = 0; k < turns; k++) yield* Effect.yieldNow()
            if (i % 100 === 0) peakWaiting = Math.max(peakWaiting, (yield* pool.stats).waiting)
            // Await the lease: it either finished first or was interrupted, and nothing else (a failure
            // or defect inside it, e.g. a reply meant for an earlier borrower, fails the test).
            const exit = yield* Fiber.interrupt(fiber)
            if (Exit.isSuccess(exit)) finishedFirst++
            else if (Cause.isInterruptedOnly(exit.cause)) interrupted++
            else unexpected.push(`cycle ${i}: ${Cause.pretty(exit.cause)}`)
          } else {
            yield* lease
            completed++
          }
        })

      const started = Date.now()
      yield* Effect.forEach(Array.from({ length: CYCLES }, (_, i) => i), cycle, {
        concurrency: CONCURRENCY,
        discard: true
      })
      const elapsed = Date.now() - started

      // Background closes of evicted connections finish on their own.
      yield* realPoll(() => Effect.runSync(pool.stats).closing === 0, "evictions to finish")
      const stats = yield* pool.stats
      expect(stats.active).toBe(0)
      expect(stats.waiting).toBe(0)
      expect(stats.total).toBe(stats.idle)
      expect(stats.idle).toBeLessThanOrEqual(5)
      expect(unexpected).toEqual([])
      expect(completed + finishedFirst + interrupted).toBe(CYCLES)
      expect(server.peakConnections()).toBeLessThanOrEqual(5)
      // Server side: exactly the idle set is open. Process side: one client and one server socket per idle connection.
      yield* server.waitUntil(() => server.connections().length === stats.idle)
      yield* realPoll(() => tcpSockets() <= socketsBefore + 2 * stats.idle, "sockets of closed connections to go")
      const socketsAfter = tcpSockets()
      console.log(
        `${CYCLES} cycles (concurrency ${CONCURRENCY}) in ${elapsed} ms: ${completed} completed, ${interrupted} interrupted, ` +
          `${finishedFirst} finished before their interruption, ` +
          `${echoes} echoes; connections opened ${stats.created}, closed ${stats.closed}, server peak ` +
          `${server.peakConnections()}; end: active ${stats.active}, waiting ${stats.waiting}, idle ${stats.idle}; ` +
          `TCP sockets before ${socketsBefore}, after ${socketsAfter}; heap ${
            Math.round(process.memoryUsage().heapUsed / 1e6)
          } MB; peak waiting seen ${peakWaiting}`
      )
    }).pipe(Effect.provide(NodeTransport.layer)), 60_000)
})
