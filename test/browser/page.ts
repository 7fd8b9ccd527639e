// Runs inside headless Chromium, bundled by esbuild from the browser entry
// point (`src/web.ts`): the real client on the browser's own WebSocket.
import { Effect, Stream } from "effect"
import { JetSocket, WebSocketTransport } from "../../src/web.js"

const params = new URLSearchParams(location.search)
const url = params.get("ws")!
const refusedUrl = params.get("refused")!

const scenario = Effect.gen(function*() {
  const ws = yield* JetSocket.connect(url, { heartbeat: false, reconnect: { base: "50 millis", jitter: false } })
  yield* ws.send({ hello: "from the browser" })
  const echoed = yield* ws.recv({ timeout: "5 seconds" })

  // Ask the server to drop us, then check the client heals and messages flow again.
  const reconnected = yield* ws.events.pipe(
    Stream.filter((event) => event._tag === "Reconnected"),
    Stream.take(1),
    Stream.runDrain,
    Effect.fork
  )
  yield* Effect.yieldNow()
  yield* ws.sendText("drop")
  yield* reconnected.await
  yield* ws.send({ after: "reconnect" })
  const afterReconnect = yield* ws.recv({ timeout: "5 seconds" })
  const stats = yield* ws.stats

  // A refused connection is a typed error in the error channel.
  const refused = yield* Effect.flip(JetSocket.connect(refusedUrl, { reconnect: false, heartbeat: false }))
  return {
    echoed,
    afterReconnect,
    reconnects: stats.reconnects,
    refused: { tag: refused._tag, fatal: refused.fatal, message: refused.message }
  }
}).pipe(Effect.scoped, Effect.provide(WebSocketTransport.layer))

Effect.runPromise(Effect.either(scenario)).then((result) => {
  ;(globalThis as unknown as { __result: unknown }).__result = result._tag === "Right"
    ? { ok: true, value: result.right }
    : { ok: false, error: String(result.left) }
})
