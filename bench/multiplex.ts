// multiplex routing: 100 channels over one connection, n messages round-robin; time from the first
// message to the moment every channel got its share (setup and subscriptions not counted).
// jetsocket `Multiplex` (100 subscriptions, each consumed by its own fiber with `Stream.runForEach`,
// reading a field) vs raw ws + a `Map<channel, handler>` routing the same messages to a handler each,
// and beside each jetsocket row its floor: raw ws into Effect's own primitives, consumed the same way.
import { Deferred, Effect, Queue, Stream } from "effect"
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

/** The consumer of a subscription's messages in the jetsocket row and its floor: `Stream.take` + `runForEach`, reading a field. */
const consumeChannel = <E, R>(messages: Stream.Stream<unknown, E, R>, per: number, first: () => void) =>
  messages.pipe(
    Stream.take(per),
    Stream.runForEach((m) =>
      Effect.sync(() => {
        first()
        sink += (m as Tick).price
      })
    )
  )

/** A router-level handler (the jetsocket row and its floor): reads a field, completes `done` at the n-th message. */
const makeHandler = (n: number, done: Deferred.Deferred<void>, first: () => void) => {
  let total = 0
  return (m: unknown): Effect.Effect<void> =>
    Effect.suspend(() => {
      first()
      sink += (m as Tick).price
      return ++total === n ? Deferred.succeed(done, undefined) : Effect.void
    })
}

const channelNames = () => Array.from({ length: CHANNELS }, (_, i) => `c${i}`)

/** Opens raw ws, each message parsed in the callback and given to `onMessage`; resolves once open. */
const openRaw = (url: string, onMessage: (m: Tick) => void) =>
  Effect.async<WebSocket, Error>((resume) => {
    const ws = new WebSocket(url)
    ws.once("error", (e) => resume(Effect.fail(e)))
    ws.on("message", (data) => onMessage(JSON.parse(data.toString()) as Tick))
    ws.once("open", () => resume(Effect.succeed(ws)))
  })

/**
 * Floor of the per-subscription row — not a client: raw ws and a `Map` routing each parsed message
 * into its channel's Effect `Queue` (bounded 1000, as a subscription's, `Queue.unsafeOffer` from the
 * socket callback), each queue consumed by its own fiber with the jetsocket row's consumer
 * (`Stream.fromQueue` + `Stream.take` + `Stream.runForEach`, reading a field). No reconnect,
 * heartbeat or back-pressure; a refused offer (a full queue) fails the run rather than hang it.
 */
const queuePerChannelFloor = (url: string, n: number): Promise<number> =>
  Effect.runPromise(Effect.gen(function*() {
    const per = n / CHANNELS
    const queues = new Map<string, Queue.Queue<Tick>>()
    for (const c of channelNames()) queues.set(c, yield* Queue.bounded<Tick>(1000))
    const overflow = yield* Deferred.make<never, Error>()
    const ws = yield* openRaw(url, (m) => {
      const queue = queues.get(m.channel)
      if (queue !== undefined && !Queue.unsafeOffer(queue, m)) {
        Deferred.unsafeDone(overflow, Effect.fail(new Error(`${m.channel}'s queue of 1000 is full`)))
      }
    })
    let t0: number | undefined
    const first = () => void (t0 ??= performance.now())
    yield* Effect.raceFirst(
      Effect.forEach([...queues.values()], (q) => consumeChannel(Stream.fromQueue(q), per, first), {
        concurrency: "unbounded",
        discard: true
      }),
      Deferred.await(overflow)
    )
    const elapsed = performance.now() - t0!
    ws.close()
    return elapsed
  }))

/**
 * Floor of the router-level row — not a client: raw ws into one unbounded Effect `Queue`
 * (`Queue.unsafeOffer` of each parsed message), one fiber taking what is there
 * (`Queue.takeBetween(1, ∞)`) and running, per message, its channel's Effect handler from a `Map`
 * (what `mux.runForEach` does, with Effect's primitives and nothing else).
 */
const handlerPerMessageFloor = (url: string, n: number): Promise<number> =>
  Effect.runPromise(Effect.gen(function*() {
    const queue = yield* Queue.unbounded<Tick>()
    const done = yield* Deferred.make<void>()
    let t0: number | undefined
    const handler = makeHandler(n, done, () => void (t0 ??= performance.now()))
    const handlers = new Map<string, (m: Tick) => Effect.Effect<void>>()
    for (const c of channelNames()) handlers.set(c, handler)
    const run = (m: Tick) => handlers.get(m.channel)?.(m) ?? Effect.void
    const ws = yield* openRaw(url, (m) => void Queue.unsafeOffer(queue, m))
    const router = Queue.takeBetween(queue, 1, Number.POSITIVE_INFINITY).pipe(
      Effect.flatMap((batch) => Effect.forEach(batch, run, { discard: true })),
      Effect.forever
    )
    yield* Effect.raceFirst(router, Deferred.await(done))
    const elapsed = performance.now() - t0!
    ws.close()
    return elapsed
  }))

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
      const subs = yield* Effect.forEach(channelNames(), (c) => mux.subscribe(c))
      let t0: number | undefined
      const first = () => void (t0 ??= performance.now())
      yield* Effect.forEach(subs, (s) => consumeChannel(s.messages, per, first), { concurrency: "unbounded" })
      return performance.now() - t0!
    })).pipe(Effect.provide(NodeTransport.layer))
  )

/** The same with `mux.runForEach`: the router runs each channel's handler itself (no queue, stream or fiber each). */
const jetRouter = (url: string, n: number): Promise<number> =>
  Effect.runPromise(
    Effect.scoped(Effect.gen(function*() {
      const mux = yield* Multiplex.make(url, muxOptions)
      let t0: number | undefined
      const done = yield* Deferred.make<void>()
      const handler = makeHandler(n, done, () => void (t0 ??= performance.now()))
      yield* Effect.forEach(channelNames(), (channel) => mux.runForEach(channel, handler), {
        concurrency: "unbounded",
        discard: true
      }).pipe(Effect.forkScoped)
      yield* Deferred.await(done)
      return performance.now() - t0!
    })).pipe(Effect.provide(NodeTransport.layer))
  )

const raw = (url: string, n: number) =>
  new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(url)
    const handlers = new Map<string, (m: Tick) => void>()
    for (const c of channelNames()) handlers.set(c, (m) => void (sink += m.price))
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

/** The floor contenders' names (declared in contenders.ts too, so that `--only` selects them). */
export const perChannelFloorName = "raw ws → Effect Queue per channel (floor)"
export const perMessageFloorName = "raw ws → Effect handler per message (floor)"

/** The names this module measures (`raw ws`, the floors, and `jetsocket` of the library it was bundled with). */
export const multiplexContenders = ["jetsocket", "raw ws", perChannelFloorName, perMessageFloorName] as const

export type MultiplexConsumer = "subscriptions" | "router"

/** Which contenders run in each multiplex row, and the floor of that row. */
export const multiplexRows: Record<MultiplexConsumer, { readonly contenders: ReadonlyArray<string>; readonly floor: string }> = {
  subscriptions: { contenders: ["jetsocket", "raw ws", perChannelFloorName], floor: perChannelFloorName },
  router: { contenders: ["jetsocket", "raw ws", perMessageFloorName], floor: perMessageFloorName }
}

/**
 * msgs/s of one contender over n messages; jetsocket consumes each subscription with its own fiber
 * (`"subscriptions"`), or with `mux.runForEach` (`"router"`, for a library that has it). raw ws and
 * the floors consume one way whatever `consumer` says.
 */
export const multiplexRun = async (
  name: (typeof multiplexContenders)[number],
  port: number,
  n: number,
  consumer: MultiplexConsumer = "subscriptions"
): Promise<number> => {
  const url = `ws://127.0.0.1:${port}/mux?n=${n}&channels=${CHANNELS}`
  const run = name === "raw ws"
    ? raw
    : name === perChannelFloorName
    ? queuePerChannelFloor
    : name === perMessageFloorName
    ? handlerPerMessageFloor
    : consumer === "router"
    ? jetRouter
    : jet
  return n / ((await run(url, n)) / 1000)
}
