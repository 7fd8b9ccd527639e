// The contenders: each opens its own connection to the blaster and runs one workload.
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as Socket from "@effect/platform/Socket"
import { Deferred, Effect, Exit, Schema, Stream } from "effect"
import ReconnectingWebSocket from "partysocket/ws"
import WebSocket from "ws"
import { JetSocket } from "../src/index.js"
import { NodeTransport } from "../src/node.js"

export interface Contender {
  readonly name: string
  /** A reference row measured on echo only (not a client: no memory, restart or multiplex run). */
  readonly echoOnly?: true
  /** receive n JSON messages, parse included; ms from the connection's open to the n-th message */
  readonly feed?: (url: string, n: number) => Promise<number>
  /** n sequential round trips of `payload`; returns latencies in µs */
  readonly echo: (url: string, payload: string, n: number) => Promise<Array<number>>
  /** receive n binary messages; ms from the connection's open to the n-th message */
  readonly large?: (url: string, n: number) => Promise<number>
}

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

/** ms from `connect` returning to the n-th message of `messages`. */
const jetCount = <A>(connect: Effect.Effect<JetSocket.JetSocket<A>, unknown, any>, n: number) =>
  runJet(Effect.gen(function*() {
    const ws = yield* connect
    const t0 = now()
    yield* ws.messages.pipe(Stream.take(n), Stream.runDrain)
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
  large: (url, n) => jetCount(JetSocket.connect(url, { ...jetOptions, codec: "binary" }), n)
})

/** ms from open to the n-th message, JSON-parsing each one when `parse`. */
const rawCount = (url: string, n: number, parse: boolean) =>
  new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(url)
    let count = 0
    let t0 = 0
    ws.on("error", reject)
    ws.on("open", () => (t0 = now()))
    ws.on("message", (data) => {
      if (parse) JSON.parse(data.toString())
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
  large: (url, n) => rawCount(url, n, false)
}

/**
 * Not a client: the least any Effect program pays per round trip — raw `ws`
 * driven from a fiber that suspends in `Effect.async` for each reply (no
 * buffer, reconnect or heartbeat). Echo only; it shows how much of a client's
 * echo latency is the Effect runtime's fiber resume rather than the client.
 */
const effectFloor: Contender = {
  name: "raw ws in Effect (floor)",
  echoOnly: true,
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

export const contenders: ReadonlyArray<Contender> = [jet(false), jet(true), rawWs, platform, party(), effectFloor]
