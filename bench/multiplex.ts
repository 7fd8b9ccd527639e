// multiplex routing: 100 channels over one connection, n messages round-robin; time from the first
// message to the moment every channel got its share (setup and subscriptions not counted).
// jetsocket `Multiplex` (100 subscriptions, each consumed by its own fiber with `Stream.runForEach`,
// reading a field) vs raw ws + a `Map<channel, handler>` routing the same messages to a handler each.
import { Deferred, Effect, Stream } from "effect"
import WebSocket from "ws"
import { Multiplex } from "../src/index.js"
import { NodeTransport } from "../src/node.js"

export const CHANNELS = 100

/** What the consumers add up (a field of each message), so that reading it is not optimised away. */
export let sink = 0

interface Tick {
  readonly channel: string
  readonly price: number
}

/** The multiplexer both jetsocket rows use (only how the channels are consumed differs). */
const muxOptions = {
  channelKey: "channel",
  reconnect: { base: "100 millis" },
  heartbeat: "30 seconds",
  queueSize: 1000
} as const

const jet = (url: string, n: number): Promise<number> =>
  Effect.runPromise(
    Effect.scoped(Effect.gen(function*() {
      const mux = yield* Multiplex.make(url, muxOptions)
      const per = n / CHANNELS
      const subs = yield* Effect.forEach(Array.from({ length: CHANNELS }, (_, i) => `c${i}`), (c) => mux.subscribe(c))
      let t0: number | undefined
      yield* Effect.forEach(
        subs,
        (s) =>
          s.messages.pipe(
            Stream.take(per),
            Stream.runForEach((m) =>
              Effect.sync(() => {
                t0 ??= performance.now()
                sink += (m as Tick).price
              })
            )
          ),
        { concurrency: "unbounded" }
      )
      return performance.now() - t0!
    })).pipe(Effect.provide(NodeTransport.layer))
  )

/** The same with `mux.runForEach`: the router runs each channel's handler itself (no queue, stream or fiber each). */
const jetRouter = (url: string, n: number): Promise<number> =>
  Effect.runPromise(
    Effect.scoped(Effect.gen(function*() {
      const mux = yield* Multiplex.make(url, muxOptions)
      let t0: number | undefined
      let total = 0
      const done = yield* Deferred.make<void>()
      yield* Effect.forEach(
        Array.from({ length: CHANNELS }, (_, i) => `c${i}`),
        (channel) =>
          mux.runForEach(channel, (m) =>
            Effect.suspend(() => {
              t0 ??= performance.now()
              sink += (m as Tick).price
              return ++total === n ? Deferred.succeed(done, undefined) : Effect.void
            })
          ),
        { concurrency: "unbounded", discard: true }
      ).pipe(Effect.forkScoped)
      yield* Deferred.await(done)
      return performance.now() - t0!
    })).pipe(Effect.provide(NodeTransport.layer))
  )

const raw = (url: string, n: number) =>
  new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(url)
    const handlers = new Map<string, (m: Tick) => void>()
    for (let i = 0; i < CHANNELS; i++) handlers.set(`c${i}`, (m) => void (sink += m.price))
    let total = 0
    let t0 = 0
    ws.on("error", reject)
    ws.on("message", (data) => {
      if (total === 0) t0 = performance.now()
      const m = JSON.parse(data.toString()) as Tick
      handlers.get(m.channel)?.(m)
      if (++total === n) {
        resolve(performance.now() - t0)
        ws.close()
      }
    })
  })

/** The names this module measures (`raw ws`, and `jetsocket` of the library it was bundled with). */
export const multiplexContenders = ["jetsocket", "raw ws"] as const

/**
 * msgs/s of one contender over n messages; jetsocket consumes each subscription with its own fiber
 * (`"subscriptions"`), or with `mux.runForEach` (`"router"`, for a library that has it).
 */
export const multiplexRun = async (
  name: (typeof multiplexContenders)[number],
  port: number,
  n: number,
  consumer: "subscriptions" | "router" = "subscriptions"
): Promise<number> => {
  const url = `ws://127.0.0.1:${port}/mux?n=${n}&channels=${CHANNELS}`
  const run = name === "raw ws" ? raw : consumer === "router" ? jetRouter : jet
  return n / ((await run(url, n)) / 1000)
}
