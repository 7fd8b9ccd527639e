/**
 * Soak: many reconnect cycles and many pool acquire/release cycles, then check
 * that active handles are back to baseline and the heap did not grow.
 *
 * Run: `npm run soak` (i.e. `node --expose-gc --import tsx bench/soak.ts`).
 * Exit 1 if handles differ from the baseline, a fiber it started is still alive, the heap grew > 20 MB,
 * a lease failed with anything but the soak's own timeout, or an echo came back wrong.
 */
import { Cause, Duration, Effect, Either, type Fiber, FiberRef, Supervisor } from "effect"
import * as ConnectionPool from "../src/ConnectionPool.js"
import * as JetSocket from "../src/JetSocket.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"

/** Handle types that would show a leaked socket, server or timer. */
const TRACKED = new Set(["TCPSocketWrap", "TCPServerWrap", "TLSWrap", "PipeWrap", "Timeout", "Immediate"])

export const handles = (): Record<string, number> => {
  const counts: Record<string, number> = {}
  for (const name of process.getActiveResourcesInfo()) {
    if (TRACKED.has(name)) counts[name] = (counts[name] ?? 0) + 1
  }
  return counts
}

/** No tracked handle type above its baseline count (a runner's own timer may go away, never a new one stays). */
export const withinBaseline = (baseline: Record<string, number>, now: Record<string, number>): boolean => {
  for (const key of Object.keys(now)) if ((now[key] ?? 0) > (baseline[key] ?? 0)) return false
  return true
}

const gc = (): void => {
  const g = (globalThis as { gc?: () => void }).gc
  if (g) {
    g()
    g()
  }
}

/** A small deterministic PRNG (mulberry32). */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

export interface SoakResult {
  readonly reconnects: number
  readonly echoes: number
  readonly poolCycles: number
  /** Leases cut short by the soak's own random timeout (expected). */
  readonly poolTimeouts: number
  /** Any other lease failure, counted by error tag: the soak fails unless this is empty. */
  readonly poolErrors: Readonly<Record<string, number>>
  readonly poolStats: ConnectionPool.PoolStats
  readonly elapsedMs: number
  /**
   * Fibers the soak's `Supervisor` saw alive while the reconnect client sat
   * connected and idle after its last cycle: only the heartbeat timer's (its
   * loop, and the two sides of the race its sleep is while it waits: at most
   * 3; an idle client holds no fiber of its own). More than 0 shows the
   * supervisor sees the shared heartbeat machinery too.
   */
  readonly idleFibers: number
  /** Fibers started during the soak (client loops, heartbeats, pool timers…) still alive afterwards. */
  readonly liveFibers: number
}

/**
 * `reconnectCycles` drop/reconnect cycles, then `poolCycles` pool leases with
 * random interruption; every fiber they start is tracked by a `Supervisor`,
 * and the live ones are counted once everything is closed.
 */
export const soak = (options: { readonly reconnectCycles: number; readonly poolCycles: number }) =>
  Effect.gen(function*() {
    const supervisor = yield* Supervisor.track
    const result = yield* cycles(options, supervisor).pipe(Effect.supervised(supervisor))
    // Interrupted fibers finish asynchronously: give them a moment (real time, bounded).
    let live = (yield* supervisor.value).length
    for (let i = 0; i < 100 && live > 0; i++) {
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 20)))
      live = (yield* supervisor.value).length
    }
    return { ...result, liveFibers: live } satisfies SoakResult
  })

const cycles = (
  options: { readonly reconnectCycles: number; readonly poolCycles: number },
  supervisor: Supervisor.Supervisor<Array<Fiber.RuntimeFiber<any, any>>>
) =>
  Effect.gen(function*() {
    const started = Date.now()
    let reconnects = 0
    let echoes = 0
    let idleFibers = -1
    // Phase 1: reconnect cycles (own scope, so everything is closed afterwards).
    yield* Effect.scoped(Effect.gen(function*() {
      // the server's fibers are not the library's: kept out of the supervisor's count
      const server = yield* TestServer.make({ handler: TestServer.echo }).pipe(
        Effect.locally(FiberRef.currentSupervisor, Supervisor.none)
      )
      const ws = yield* JetSocket.connect(server.url, {
        reconnect: { base: "1 millis", jitter: false, resetAfter: "1 millis" },
        // on, but never due during the soak: its timer entry (and the shared timer fiber) exist, no ping is sent
        heartbeat: "10 minutes"
      })
      for (let i = 0; i < options.reconnectCycles; i++) {
        const before = server.upgradeCount()
        server.dropAll()
        yield* server.waitUntil(
          () => server.upgradeCount() > before && server.connections().length === 1 && Effect.runSync(ws.state) === "Connected",
          "10 seconds"
        ).pipe(Effect.orDieWith(() =>
          new Error(
            `reconnect cycle ${i}: upgrades ${server.upgradeCount()} (before ${before}), open ${server.connections().length}, state ${
              Effect.runSync(ws.state)
            }`
          )
        ))
        reconnects++
        if (i % 50 === 0) {
          yield* ws.send({ i })
          const reply = yield* ws.recv({ timeout: "10 seconds" })
          if ((reply as { i?: number } | undefined)?.i !== i) {
            return yield* Effect.dieMessage(`echo mismatch at cycle ${i}: ${JSON.stringify(reply)}`)
          }
          echoes++
        }
      }
      // Connected and idle: what is alive is the client's supervisor and the
      // heartbeat timer's (at most 3). A fiber of the last step may still be
      // finishing: wait (bounded) for the count to come down to those (at most 4).
      const alive = Effect.map(supervisor.value, (fibers) => fibers.filter((f) => f.unsafePoll() === null).length)
      idleFibers = yield* alive
      for (let i = 0; i < 100 && idleFibers > 4; i++) {
        yield* Effect.promise(() => new Promise((r) => setTimeout(r, 20)))
        idleFibers = yield* alive
      }
    }))

    // Phase 2: pool cycles with random interruption.
    const { poolErrors, poolStats, poolTimeouts } = yield* Effect.scoped(Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const pool = yield* ConnectionPool.make({ baseUrl: server.url, maxConnections: 5 })
      const random = prng(8)
      let timeouts = 0
      const errors: Record<string, number> = {}
      const count = (error: { readonly _tag: string }) => {
        errors[error._tag] = (errors[error._tag] ?? 0) + 1
      }
      const cycle = (i: number) =>
        Effect.gen(function*() {
          const lease = Effect.scoped(Effect.gen(function*() {
            const ws = yield* pool.acquire(i % 3 === 0 ? "/b" : "/a")
            if (i % 20 === 0) {
              yield* ws.send({ i })
              const reply = yield* ws.recv({ timeout: "10 seconds" })
              // A reused connection never carries a reply meant for an earlier borrower.
              if ((reply as { i?: number } | undefined)?.i !== i) {
                return yield* Effect.dieMessage(`pool echo mismatch at cycle ${i}: ${JSON.stringify(reply)}`)
              }
            } else {
              yield* Effect.yieldNow()
            }
          }))
          if (random() < 0.3) {
            // Cut short by a random timeout (the lease is interrupted): the one expected failure.
            const r = yield* lease.pipe(Effect.timeout(Duration.micros(BigInt(Math.floor(random() * 2000)))), Effect.either)
            if (Either.isLeft(r)) {
              if (Cause.isTimeoutException(r.left)) timeouts++
              else count(r.left)
            }
          } else {
            const r = yield* Effect.either(lease)
            if (Either.isLeft(r)) count(r.left)
          }
        })
      yield* Effect.forEach(Array.from({ length: options.poolCycles }, (_, i) => i), cycle, {
        concurrency: 8,
        discard: true
      })
      yield* server.waitUntil(() => Effect.runSync(pool.stats).closing === 0, "10 seconds").pipe(
        Effect.orDieWith(() => new Error(`pool closes did not finish: ${JSON.stringify(Effect.runSync(pool.stats))}`))
      )
      return { poolStats: yield* pool.stats, poolTimeouts: timeouts, poolErrors: errors }
    }))
    return {
      reconnects,
      echoes,
      idleFibers,
      poolCycles: options.poolCycles,
      poolTimeouts,
      poolErrors,
      poolStats,
      elapsedMs: Date.now() - started
    }
  }).pipe(Effect.provide(NodeTransport.layer))

/** Poll (real time) until handles are back to `baseline`, at most `timeoutMs`. */
export const settle = async (baseline: Record<string, number>, timeoutMs: number): Promise<Record<string, number>> => {
  const deadline = Date.now() + timeoutMs
  let now = handles()
  while (!withinBaseline(baseline, now) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20))
    gc()
    now = handles()
  }
  return now
}

const main = async () => {
  const mb = (n: number) => (n / 1024 / 1024).toFixed(1)
  gc()
  const before = handles()
  const heapBefore = process.memoryUsage().heapUsed
  const result = await Effect.runPromise(soak({ reconnectCycles: 1000, poolCycles: 10_000 }))
  const after = await settle(before, 5000)
  gc()
  const heapAfter = process.memoryUsage().heapUsed
  const grew = heapAfter - heapBefore
  console.log(`reconnect cycles: ${result.reconnects} (echoes ${result.echoes})`)
  console.log(
    `pool cycles: ${result.poolCycles} (timed out ${result.poolTimeouts}, other errors ${JSON.stringify(result.poolErrors)})`,
    result.poolStats
  )
  console.log(`elapsed: ${(result.elapsedMs / 1000).toFixed(1)} s`)
  console.log(`live fibers after: ${result.liveFibers}`)
  console.log("handles before:", before)
  console.log("handles after: ", after)
  console.log(`heap before: ${mb(heapBefore)} MB, after: ${mb(heapAfter)} MB (delta ${mb(grew)} MB)`)
  const ok = withinBaseline(before, after) && grew <= 20 * 1024 * 1024 && result.poolStats.active === 0 &&
    result.poolStats.waiting === 0 && result.liveFibers === 0 && Object.keys(result.poolErrors).length === 0
  console.log(ok ? "SOAK OK" : "SOAK FAILED")
  if (!(globalThis as { gc?: unknown }).gc) console.log("(note: run with --expose-gc for meaningful heap figures)")
  process.exit(ok ? 0 : 1)
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, "/"))) {
  void main()
}
