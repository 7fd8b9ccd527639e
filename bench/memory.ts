// Child process: open N idle connections with one contender, print RSS / heap delta per connection (bytes).
// argv: name port n [independent]: with "independent", jetsocket's clients are each opened by its own
// `Effect.runPromise` (as a service opening connections on demand, or the Promise API, does), all at once,
// instead of in a row by one fiber; raw ws and partysocket open the same way in both modes.
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as Socket from "@effect/platform/Socket"
import { Effect, Exit, Fiber, Scope } from "effect"
import ReconnectingWebSocket from "partysocket/ws"
import WebSocket from "ws"
import { JetSocket } from "../src/index.js"
import { NodeTransport } from "../src/node.js"

const [name = "raw ws", port = "0", nStr = "1000", mode = "one fiber"] = process.argv.slice(2)
const n = Number(nStr)
const url = `ws://127.0.0.1:${port}/idle`
const gc = () => {
  for (let i = 0; i < 3; i++) (globalThis as any).gc?.()
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

// warm up module code paths with one connection so the delta is per connection, not code loading
const openAll = async (count: number): Promise<() => Promise<void>> => {
  if (name === "raw ws" || name === "partysocket") {
    const socks = await Promise.all(
      Array.from({ length: count }, () =>
        new Promise<any>((resolve) => {
          const ws: any = name === "raw ws" ? new WebSocket(url) : new ReconnectingWebSocket(url, [], { WebSocket })
          if (name === "raw ws") ws.once("open", () => resolve(ws))
          else ws.onopen = () => resolve(ws)
        })
      )
    )
    return async () => socks.forEach((s) => s.close())
  }
  if (name === "jetsocket" && mode === "independent") {
    // each client its own runPromise and scope (closed to close it), the transport layer provided to it
    const scopes = await Promise.all(Array.from({ length: count }, async () => {
      const scope = Effect.runSync(Scope.make())
      await Effect.runPromise(
        JetSocket.connect(url, { reconnect: { base: "100 millis" }, heartbeat: "30 seconds", buffer: 1000 }).pipe(
          Scope.extend(scope),
          Effect.provide(NodeTransport.layer)
        )
      )
      return scope
    }))
    return async () => void (await Promise.all(scopes.map((scope) => Effect.runPromise(Scope.close(scope, Exit.void)))))
  }
  if (name === "jetsocket") {
    const fiber = Effect.runFork(
      Effect.scoped(Effect.gen(function*() {
        for (let i = 0; i < count; i++) {
          yield* JetSocket.connect(url, { reconnect: { base: "100 millis" }, heartbeat: "30 seconds", buffer: 1000 })
        }
        yield* Effect.never
      })).pipe(Effect.provide(NodeTransport.layer))
    )
    // wait until all are open: poll server-side is not available; poll the count of our sockets via a latch
    await waitOpen(count)
    return async () => void (await Effect.runPromise(Fiber.interrupt(fiber)))
  }
  const fiber = Effect.runFork(
    Effect.gen(function*() {
      for (let i = 0; i < count; i++) {
        const s = yield* Socket.makeWebSocket(url)
        yield* Effect.forkDaemon(s.runRaw(() => {}, { onOpen: Effect.sync(() => opened++) }))
      }
      yield* Effect.never
    }).pipe(Effect.provide(NodeSocket.layerWebSocketConstructor))
  )
  await waitOpen(count)
  return async () => void (await Effect.runPromise(Fiber.interrupt(fiber)))
}

// count open TCP handles to the blaster port (works for every contender without hooks)
let opened = 0
const waitOpen = async (count: number) => {
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    const handles = (process as any)._getActiveHandles() as Array<any>
    const open = handles.filter((h) => h?.remotePort === Number(port) && !h.connecting).length
    if (open >= count && (name !== "@effect/platform Socket" || opened >= count)) return
    await sleep(50)
  }
  throw new Error(`only some connections opened`)
}

const main = async () => {
  const warm = await openAll(5)
  await sleep(200)
  gc()
  await sleep(100)
  gc()
  const m0 = process.memoryUsage()
  const close = await openAll(n)
  await sleep(500)
  gc()
  await sleep(200)
  gc()
  const m1 = process.memoryUsage()
  process.stdout.write(JSON.stringify({ rss: (m1.rss - m0.rss) / n, heap: (m1.heapUsed - m0.heapUsed) / n }) + "\n")
  void close
  void warm
  process.exit(0)
}
main().catch((e) => {
  console.error(e)
  process.exit(1)
})
