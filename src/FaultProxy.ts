/**
 * A fault-injecting TCP proxy for chaos tests: it listens on 127.0.0.1 and
 * pipes every accepted connection to a target; `inject(fault)` then drops,
 * resets, black-holes, delays or truncates the currently open connections.
 *
 * ```ts
 * const proxy = yield* FaultProxy.make({ target: { host: "127.0.0.1", port } })
 * const ws = yield* JetSocket.connect(proxy.url)
 * proxy.inject({ _tag: "Drop" })
 * ```
 *
 * Node-only: import it from `jetsocket/testing`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as net from "node:net"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("jetsocket/FaultProxy")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * A fault applied to the currently open proxied connections:
 *
 * - `Drop`: destroys both sides (the client sees an abrupt end, 1006).
 * - `Reset`: sends a TCP RST to the client (`resetAndDestroy`) and destroys
 *   the server side.
 * - `BlackHole`: keeps both sockets open but forwards nothing more, in either
 *   direction, until the connection ends (a heartbeat must notice).
 * - `Delay`: delays the forwarding of every later chunk by `millis` (order is
 *   kept).
 * - `Truncate`: forwards only the first half of the next server → client
 *   chunk, then destroys both sides.
 *
 * @since 0.1.0
 * @category models
 */
export type Fault =
  | { readonly _tag: "Drop" }
  | { readonly _tag: "Reset" }
  | { readonly _tag: "BlackHole" }
  | { readonly _tag: "Delay"; readonly millis: number }
  | { readonly _tag: "Truncate" }

/**
 * The tags of {@link Fault}, in a fixed order.
 *
 * @since 0.1.0
 * @category constants
 */
export const faultTags: ReadonlyArray<Fault["_tag"]> = ["Drop", "Reset", "BlackHole", "Delay", "Truncate"]

/**
 * @since 0.1.0
 * @category models
 */
export interface FaultProxy {
  readonly [TypeId]: TypeId
  /** `ws://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  /**
   * Applies `fault` to every currently open proxied connection and returns how
   * many it hit: 0 when none was open (e.g. while the client is between
   * connections), so a test can count only the faults that reached a
   * connection.
   */
  readonly inject: (fault: Fault) => number
  /** How many faults were injected (whether or not they hit a connection). */
  readonly faults: () => number
  /** How many connections were accepted. */
  readonly connections: () => number
  /**
   * What the faults actually did, by kind, counting only connections past their
   * upgrade (the target had sent the client at least one chunk: for a WebSocket,
   * the 101 answer), so a fault during a handshake or between connections is not
   * counted: `Drop` / `Reset` a connection they destroyed, `BlackHole` one it
   * silenced (not already silenced or cut), `Delay` one whose forwarding it
   * slowed (not silenced or cut), `Truncate` one it cut in the middle of a chunk.
   */
  readonly hits: () => Readonly<Record<Fault["_tag"], number>>
  /**
   * The connections (by accept number, from 1) that a fault ended after their
   * upgrade, in the order they were hit: each was destroyed, cut or silenced
   * (a silenced connection ends when a heartbeat notices).
   */
  readonly ended: () => ReadonlyArray<number>
}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace FaultProxy {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Options {
    readonly target: { readonly host: string; readonly port: number }
  }
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isFaultProxy = (u: unknown): u is FaultProxy => typeof u === "object" && u !== null && TypeId in u

interface Lane {
  /** Chunks waiting for their time, oldest first (a single timer drains them in order). */
  readonly queue: Array<{ readonly at: number; readonly chunk: Buffer; readonly last?: boolean }>
  timer: ReturnType<typeof setTimeout> | undefined
}

interface Pipe {
  /** Its accept number, from 1. */
  readonly index: number
  readonly client: net.Socket
  readonly server: net.Socket
  /** A chunk from the target reached the client (for a WebSocket: the upgrade answer). */
  upgraded: boolean
  /** A fault ended it after its upgrade (counted once, in `Accounting.ended`). */
  ended: boolean
  blackHole: boolean
  delay: number
  truncate: boolean
  /** Truncated: nothing new is forwarded; what is queued drains, the half chunk last. */
  cut: boolean
  readonly up: Lane
  readonly down: Lane
}

/** What the faults did (see `FaultProxy.hits` / `ended`). */
interface Accounting {
  readonly hits: Record<Fault["_tag"], number>
  readonly ended: Array<number>
}

const hit = (accounting: Accounting, pipe: Pipe, tag: Fault["_tag"], ends: boolean) => {
  accounting.hits[tag]++
  if (ends && !pipe.ended) {
    pipe.ended = true
    accounting.ended.push(pipe.index)
  }
}

const destroy = (pipe: Pipe) => {
  for (const lane of [pipe.up, pipe.down]) {
    if (lane.timer !== undefined) clearTimeout(lane.timer)
    lane.timer = undefined
    lane.queue.length = 0
  }
  pipe.client.destroy()
  pipe.server.destroy()
}

const drain = (pipe: Pipe, direction: "up" | "down") => {
  const lane = pipe[direction]
  const to = direction === "up" ? pipe.server : pipe.client
  lane.timer = undefined
  const now = Date.now()
  while (lane.queue.length > 0 && lane.queue[0]!.at <= now) {
    const { chunk, last } = lane.queue.shift()!
    if (last === true) return cut(pipe, to, chunk)
    if (!pipe.blackHole && !to.destroyed) write(pipe, direction, chunk)
  }
  if (lane.queue.length > 0) {
    lane.timer = setTimeout(() => drain(pipe, direction), lane.queue[0]!.at - now)
    lane.timer.unref()
  }
}

/** Writes the half chunk, then destroys both sides. */
const cut = (pipe: Pipe, to: net.Socket, half: Buffer) => {
  if (pipe.blackHole || to.destroyed) return destroy(pipe)
  to.write(half, () => destroy(pipe))
  // If the write never completes (e.g. the socket died), still end it soon.
  setTimeout(() => destroy(pipe), 50).unref()
}

const write = (pipe: Pipe, direction: "up" | "down", chunk: Buffer) => {
  if (direction === "down") pipe.upgraded = true
  ;(direction === "up" ? pipe.server : pipe.client).write(chunk)
}

const forward = (pipe: Pipe, direction: "up" | "down", chunk: Buffer, accounting: Accounting) => {
  const to = direction === "up" ? pipe.server : pipe.client
  if (pipe.blackHole || pipe.cut) return
  const lane = pipe[direction]
  let last = false
  if (direction === "down" && pipe.truncate) {
    pipe.truncate = false
    pipe.cut = true
    if (pipe.upgraded) hit(accounting, pipe, "Truncate", true)
    chunk = chunk.subarray(0, Math.floor(chunk.length / 2))
    last = true
  }
  if (pipe.delay === 0 && lane.queue.length === 0) {
    if (last) return cut(pipe, to, chunk)
    if (!to.destroyed) write(pipe, direction, chunk)
    return
  }
  // Never earlier than what is already waiting: the byte order is kept.
  const previous = lane.queue.length > 0 ? lane.queue[lane.queue.length - 1]!.at : 0
  lane.queue.push({ at: Math.max(Date.now() + pipe.delay, previous), chunk, ...(last ? { last } : {}) })
  if (lane.timer === undefined) drain(pipe, direction)
}

const apply = (pipe: Pipe, fault: Fault, accounting: Accounting) => {
  // a silenced or cut connection forwards nothing more: only destroying it still does something
  const live = pipe.upgraded && !pipe.blackHole && !pipe.cut
  switch (fault._tag) {
    case "Drop":
      if (pipe.upgraded) hit(accounting, pipe, "Drop", true)
      return destroy(pipe)
    case "Reset": {
      if (pipe.upgraded) hit(accounting, pipe, "Reset", true)
      if (typeof pipe.client.resetAndDestroy === "function") pipe.client.resetAndDestroy()
      else pipe.client.destroy()
      pipe.server.destroy()
      return
    }
    case "BlackHole":
      if (live) hit(accounting, pipe, "BlackHole", true)
      pipe.blackHole = true
      return
    case "Delay":
      if (live && fault.millis > 0) hit(accounting, pipe, "Delay", false)
      pipe.delay = Math.max(0, fault.millis)
      return
    case "Truncate":
      pipe.truncate = true
      return
  }
}

/**
 * Starts a proxy on 127.0.0.1 (random port) in front of `target`; it stops,
 * destroying every open connection, when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: FaultProxy.Options): Effect.Effect<FaultProxy, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ listener: net.Server; pipes: Set<Pipe>; proxy: FaultProxy }>((resume) => {
      const pipes = new Set<Pipe>()
      let accepted = 0
      let injected = 0
      const accounting: Accounting = { hits: { Drop: 0, Reset: 0, BlackHole: 0, Delay: 0, Truncate: 0 }, ended: [] }
      const listener = net.createServer((client) => {
        accepted++
        const server = net.connect({ host: options.target.host, port: options.target.port })
        const pipe: Pipe = {
          index: accepted,
          client,
          server,
          upgraded: false,
          ended: false,
          blackHole: false,
          delay: 0,
          truncate: false,
          cut: false,
          up: { queue: [], timer: undefined },
          down: { queue: [], timer: undefined }
        }
        pipes.add(pipe)
        client.setNoDelay(true)
        server.setNoDelay(true)
        client.on("error", () => {})
        server.on("error", () => {})
        client.on("data", (chunk: Buffer) => forward(pipe, "up", chunk, accounting))
        server.on("data", (chunk: Buffer) => forward(pipe, "down", chunk, accounting))
        const end = () => {
          pipes.delete(pipe)
          destroy(pipe)
        }
        client.on("close", end)
        server.on("close", end)
      })
      listener.on("error", (error) => resume(Effect.die(error)))
      listener.listen(0, "127.0.0.1", () => {
        const port = (listener.address() as net.AddressInfo).port
        const proxy: FaultProxy = {
          [TypeId]: TypeId,
          url: `ws://127.0.0.1:${port}`,
          port,
          inject: (fault) => {
            injected++
            const open = Array.from(pipes).filter((pipe) => !pipe.client.destroyed && !pipe.server.destroyed)
            for (const pipe of open) apply(pipe, fault, accounting)
            return open.length
          },
          faults: () => injected,
          connections: () => accepted,
          hits: () => ({ ...accounting.hits }),
          ended: () => [...accounting.ended]
        }
        resume(Effect.succeed({ listener, pipes, proxy }))
      })
    }),
    ({ listener, pipes }) =>
      Effect.async<void>((resume) => {
        for (const pipe of pipes) destroy(pipe)
        pipes.clear()
        listener.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ proxy }) => proxy))

/**
 * A generator of random faults: each call draws the next one, every kind
 * equally likely (`Delay` of 5–50 ms). Pass a `seed` for a reproducible
 * sequence.
 *
 * @since 0.1.0
 * @category constructors
 */
export const random = (seed?: number): () => Fault => {
  const next = mulberry32(seed ?? Math.floor(Math.random() * 2 ** 32))
  return () => {
    const tag = faultTags[Math.floor(next() * faultTags.length)]!
    return tag === "Delay" ? { _tag: "Delay", millis: 5 + Math.floor(next() * 46) } : { _tag: tag }
  }
}

/**
 * A seeded fault schedule for a chaos run: each call returns the next fault and
 * the pause to wait before injecting it (uniform in `[minPauseMillis,
 * maxPauseMillis]`, default 20–60 ms). The kinds come in rounds of five, each
 * round every kind once in an order drawn from the seed, so the first `5·k`
 * faults hold exactly `k` of each; `Delay` lasts 5–50 ms. The same seed gives
 * the same schedule, so a failing run's seed replays its faults (their timing
 * against the traffic stays the real clock's).
 *
 * @since 0.1.0
 * @category constructors
 */
export const plan = (
  seed: number,
  options: { readonly minPauseMillis?: number; readonly maxPauseMillis?: number } = {}
): () => { readonly fault: Fault; readonly pauseMillis: number } => {
  const next = mulberry32(seed)
  const min = options.minPauseMillis ?? 20
  const max = Math.max(min, options.maxPauseMillis ?? 60)
  const round: Array<Fault["_tag"]> = []
  return () => {
    if (round.length === 0) {
      // a Fisher-Yates shuffle of the five kinds
      const tags = [...faultTags]
      for (let i = tags.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1))
        ;[tags[i], tags[j]] = [tags[j]!, tags[i]!]
      }
      round.push(...tags)
    }
    const tag = round.shift()!
    const fault: Fault = tag === "Delay" ? { _tag: "Delay", millis: 5 + Math.floor(next() * 46) } : { _tag: tag }
    return { fault, pauseMillis: min + Math.floor(next() * (max - min + 1)) }
  }
}

/** mulberry32: a small seeded PRNG, numbers in [0, 1). */
const mulberry32 = (seed: number): () => number => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
