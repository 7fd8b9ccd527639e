// The contenders: each opens its own connection to the blaster and runs one workload.
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as Socket from "@effect/platform/Socket"
import { Deferred, Effect, Exit, Queue, Schema, Stream } from "effect"
import ReconnectingWebSocket from "partysocket/ws"
import WebSocket from "ws"
import { JetSocket } from "../src/index.js"
import { NodeTransport } from "../src/node.js"
import { perChannelFloorName, perMessageFloorName } from "./multiplex.js"

export interface Contender {
  readonly name: string
  /** A reference row, not a client: no memory, restart, multiplex or scale run. */
  readonly reference?: true
  /** receive n JSON messages, parse included; ms from the connection's open to the n-th message */
  readonly feed?: (url: string, n: number) => Promise<number>
  /** n sequential round trips of `payload`; returns latencies in µs (every contender but the multiplex floors) */
  readonly echo?: (url: string, payload: string, n: number) => Promise<Array<number>>
  /** receive n binary messages; ms from the connection's open to the n-th message */
  readonly large?: (url: string, n: number) => Promise<number>
  /**
   * receive n JSON messages consumed as users write it, reading a field of each (`price`):
   * `Stream.runForEach` (one Effect per message) or `Stream.runForEachChunk` (one per chunk);
   * a callback for the contenders that have no Stream. ms from the open to the n-th message.
   */
  readonly feedEach?: (url: string, n: number, consumer: FeedConsumer) => Promise<number>
}

/** How `feedEach` consumes the messages. */
export type FeedConsumer = "runForEach" | "runForEachChunk"

/** What the consumers read of each message: a field of the feed's JSON. */
interface Priced {
  readonly price: number
}

/** Where the consumers add the field they read, so that reading it is not optimised away. */
export let sink = 0

/** The same consumer for every Stream contender: `Stream.take(n)` then `consumer`, reading `price`. */
const consume = <E, R>(stream: Stream.Stream<unknown, E, R>, n: number, consumer: FeedConsumer) =>
  consumer === "runForEach"
    ? stream.pipe(Stream.take(n), Stream.runForEach((m) => Effect.sync(() => (sink += (m as Priced).price))))
    : stream.pipe(
      Stream.take(n),
      Stream.runForEachChunk((chunk) =>
        Effect.sync(() => {
          for (const m of chunk) sink += (m as Priced).price
        })
      )
    )

const now = () => performance.now()

const Tick = Schema.Struct({
  type: Schema.String,
  symbol: Schema.String,
  price: Schema.Number,
  qty: Schema.Number,
  ts: Schema.Number,
  seq: Schema.Number,
  pad: Schema.String
})

const jetOptions = {
  reconnect: { base: "100 millis" },
  heartbeat: "30 seconds",
  buffer: 1000
} as const

const runJet = <A>(eff: Effect.Effect<A, unknown, any>) =>
  Effect.runPromise(eff.pipe(Effect.scoped, Effect.provide(NodeTransport.layer)) as Effect.Effect<A, unknown, never>)

/** ms from `connect` returning to the n-th message of `messages`, drained or read by `consumer`. */
const jetCount = <A>(connect: Effect.Effect<JetSocket.JetSocket<A>, unknown, any>, n: number, consumer?: FeedConsumer) =>
  runJet(Effect.gen(function*() {
    const ws = yield* connect
    const t0 = now()
    if (consumer === undefined) yield* ws.messages.pipe(Stream.take(n), Stream.runDrain)
    else yield* consume(ws.messages, n, consumer)
    return now() - t0
  }))

const jet = (schema: boolean): Contender => ({
  name: schema ? "jetsocket+schema" : "jetsocket",
  feed: (url, n) =>
    schema
      ? jetCount(JetSocket.connect(url, { ...jetOptions, schema: Tick }), n)
      : jetCount(JetSocket.connect(url, jetOptions), n),
  echo: (url, payload, n) =>
    runJet(Effect.gen(function*() {
      const ws = yield* JetSocket.connect(url, { ...jetOptions, codec: "text" })
      const out: Array<number> = []
      for (let i = 0; i < n; i++) {
        const t0 = now()
        yield* ws.sendText(payload)
        yield* ws.recv()
        out.push((now() - t0) * 1000)
      }
      return out
    })),
  large: (url, n) => jetCount(JetSocket.connect(url, { ...jetOptions, codec: "binary" }), n),
  ...(schema ? {} : {
    feedEach: (url: string, n: number, consumer: FeedConsumer) => jetCount(JetSocket.connect(url, jetOptions), n, consumer)
  })
})

/** ms from open to the n-th message, JSON-parsing each one when `parse` (and reading its `price` when `read`). */
const rawCount = (url: string, n: number, parse: boolean, read = false) =>
  new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(url)
    let count = 0
    let t0 = 0
    ws.on("error", reject)
    ws.on("open", () => (t0 = now()))
    ws.on("message", (data) => {
      if (read) sink += (JSON.parse(data.toString()) as Priced).price
      else if (parse) JSON.parse(data.toString())
      if (++count === n) {
        resolve(now() - t0)
        ws.close()
      }
    })
  })

const rawWs: Contender = {
  name: "raw ws",
  feed: (url, n) => rawCount(url, n, true),
  echo: (url, payload, n) =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(url)
      const out: Array<number> = []
      let t0 = 0
      ws.on("error", reject)
      const next = () => {
        t0 = now()
        ws.send(payload)
      }
      ws.on("open", next)
      ws.on("message", (data) => {
        data.toString()
        out.push((now() - t0) * 1000)
        if (out.length === n) {
          ws.close()
          resolve(out)
        } else next()
      })
    }),
  large: (url, n) => rawCount(url, n, false),
  // a callback reads the field whatever the Stream consumer of the others
  feedEach: (url, n) => rawCount(url, n, true, true)
}

/**
 * Not a client: the least an Effect program pays to consume raw \`ws\` through
 * Effect's own primitives. The socket callback parses each message and offers
 * it to an unbounded Effect \`Queue\` (\`Queue.unsafeOffer\`); the feed reads it
 * with \`Stream.fromQueue\` and the same consumer as jetsocket's, echo with
 * \`Queue.take\` per reply. No reconnect, heartbeat, bound or back-pressure.
 */
const queueFloor: Contender = {
  name: "raw ws → Effect Queue (floor)",
  reference: true,
  feed: (url, n) => queueFeed(url, n, undefined),
  feedEach: (url, n, consumer) => queueFeed(url, n, consumer),
  echo: (url, payload, n) =>
    Effect.runPromise(Effect.gen(function*() {
      const queue = yield* Queue.unbounded<string>()
      const ws = new WebSocket(url)
      ws.on("message", (data) => void Queue.unsafeOffer(queue, data.toString()))
      yield* Effect.async<void>((resume) => void ws.once("open", () => resume(Effect.void)))
      const out: Array<number> = []
      for (let i = 0; i < n; i++) {
        const t0 = now()
        yield* Effect.sync(() => ws.send(payload))
        yield* Queue.take(queue)
        out.push((now() - t0) * 1000)
      }
      ws.close()
      return out
    }))
}

const queueFeed = (url: string, n: number, consumer: FeedConsumer | undefined) =>
  Effect.runPromise(Effect.gen(function*() {
    const queue = yield* Queue.unbounded<unknown>()
    const ws = new WebSocket(url)
    ws.on("message", (data) => void Queue.unsafeOffer(queue, JSON.parse(data.toString())))
    yield* Effect.async<void>((resume) => void ws.once("open", () => resume(Effect.void)))
    const t0 = now()
    const messages = Stream.fromQueue(queue)
    if (consumer === undefined) yield* messages.pipe(Stream.take(n), Stream.runDrain)
    else yield* consume(messages, n, consumer)
    const elapsed = now() - t0
    ws.close()
    return elapsed
  }))

/**
 * Not a client: the least any Effect program pays per round trip — raw `ws`
 * driven from a fiber that suspends in `Effect.async` for each reply (no
 * buffer, reconnect or heartbeat). Echo only; it shows how much of a client's
 * echo latency is the Effect runtime's fiber resume rather than the client.
 */
const effectFloor: Contender = {
  name: "raw ws in Effect (floor)",
  reference: true,
  echo: (url, payload, n) =>
    Effect.runPromise(Effect.gen(function*() {
      const ws = new WebSocket(url)
      yield* Effect.async<void>((resume) => void ws.once("open", () => resume(Effect.void)))
      let waiter: ((reply: Effect.Effect<string>) => void) | undefined
      ws.on("message", (data) => {
        const resume = waiter
        waiter = undefined
        resume?.(Effect.succeed(data.toString()))
      })
      const reply = Effect.async<string>((resume) => void (waiter = resume))
      const out: Array<number> = []
      for (let i = 0; i < n; i++) {
        const t0 = now()
        yield* Effect.sync(() => ws.send(payload))
        yield* reply
        out.push((now() - t0) * 1000)
      }
      ws.close()
      return out
    }))
}

const runPlatform = <A>(eff: Effect.Effect<A, unknown, Socket.WebSocketConstructor>) =>
  Effect.runPromise(eff.pipe(Effect.provide(NodeSocket.layerWebSocketConstructor)))

const platformCount = (url: string, n: number, parse: boolean) =>
  runPlatform(Effect.gen(function*() {
    const socket = yield* Socket.makeWebSocket(url)
    const done = yield* Deferred.make<void>()
    let count = 0
    let t0 = 0
    let elapsed = 0
    const decoder = new TextDecoder()
    yield* Effect.race(
      socket.runRaw((data) => {
        if (parse) JSON.parse(typeof data === "string" ? data : decoder.decode(data))
        if (++count === n) {
          elapsed = now() - t0
          Deferred.unsafeDone(done, Exit.void)
        }
      }, { onOpen: Effect.sync(() => (t0 = now())) }),
      Deferred.await(done)
    )
    return elapsed
  }))

const platform: Contender = {
  name: "@effect/platform Socket",
  feed: (url, n) => platformCount(url, n, true),
  large: (url, n) => platformCount(url, n, false),
  echo: (url, payload, n) =>
    runPlatform(Effect.scoped(Effect.gen(function*() {
      const socket = yield* Socket.makeWebSocket(url)
      const write = yield* socket.writer
      const out: Array<number> = []
      const done = yield* Deferred.make<void>()
      let t0 = 0
      yield* Effect.race(
        socket.runRaw(
          (data) => {
            if (typeof data !== "string") new TextDecoder().decode(data)
            out.push((now() - t0) * 1000)
            if (out.length === n) return Deferred.done(done, Exit.void)
            t0 = now()
            return write(payload)
          },
          { onOpen: Effect.suspend(() => { t0 = now(); return Effect.fork(write(payload)) }).pipe(Effect.asVoid) }
        ),
        Deferred.await(done)
      )
      return out
    })))
}

const party = (): Contender => {
  const open = (url: string) => new ReconnectingWebSocket(url, [], { WebSocket, minReconnectionDelay: 100, maxRetries: 1000 })
  const count = (url: string, n: number, parse: boolean) =>
    new Promise<number>((resolve) => {
      const ws = open(url)
      ws.binaryType = "arraybuffer"
      let c = 0
      let t0 = 0
      ws.onopen = () => (t0 = now())
      ws.onmessage = (ev: MessageEvent) => {
        if (parse) JSON.parse(ev.data as string)
        if (++c === n) {
          resolve(now() - t0)
          ws.close()
        }
      }
    })
  return {
    name: "partysocket",
    feed: (url, n) => count(url, n, true),
    large: (url, n) => count(url, n, false),
    echo: (url, payload, n) =>
      new Promise((resolve) => {
        const ws = open(url)
        const out: Array<number> = []
        let t0 = 0
        const next = () => {
          t0 = now()
          ws.send(payload)
        }
        ws.onopen = next
        ws.onmessage = () => {
          out.push((now() - t0) * 1000)
          if (out.length === n) {
            ws.close()
            resolve(out)
          } else next()
        }
      })
  }
}

/**
 * The multiplex workload's floors (bench/multiplex.ts runs them): named here so that `--only`
 * selects them like any contender. Not clients, and in no other workload.
 */
const multiplexFloors: ReadonlyArray<Contender> = [perChannelFloorName, perMessageFloorName].map((name) => ({
  name,
  reference: true
}))

export const contenders: ReadonlyArray<Contender> = [
  jet(false),
  jet(true),
  rawWs,
  platform,
  party(),
  effectFloor,
  queueFloor,
  ...multiplexFloors
]

/** The contender whose median is the \`× floor\` ratio of a workload where it runs (multiplex: its own floors, see multiplexRows). */
export const floorName = queueFloor.name
