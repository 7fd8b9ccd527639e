/**
 * What an idle client holds (docs/performance.md, "Independent clients'
 * memory"): the state few clients set left at its defaults (no hooks or
 * latency recorder made), and no stack trace captured per connect attempt (the trace named the
 * library's own line, and Effect's span-trace table kept an entry for it).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Tracer } from "effect"
import * as net from "node:net"
import * as JetSocket from "../src/JetSocket.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"
import type { Client } from "../src/internal/client.js"

/** A port on 127.0.0.1 that refuses connections (listened on, then closed). */
const refusedPort = Effect.promise(() =>
  new Promise<number>((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })
)

describe("an idle client's memory", () => {
  it.scopedLive("the state few clients set reads as its defaults on an idle client, and what is set reads back", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const ws = yield* JetSocket.connect(server.url, { heartbeat: "30 seconds" })
      const client = ws as unknown as Client<unknown>
      expect(client.validationErrors).toBe(0)
      expect(client.hooks).toBeUndefined()
      expect(client.latencyRecorder).toBeUndefined()
      expect((yield* ws.stats).validationErrors).toBe(0)
      client.validationErrors++
      expect((yield* ws.stats).validationErrors).toBe(1)
    }).pipe(Effect.provide(NodeTransport.layer)))

  it.live("a connect attempt's span carries its url and attempt, and no captured stack trace", () =>
    Effect.gen(function*() {
      const native = yield* Effect.tracer
      const spans: Array<Tracer.Span> = []
      const recording = Tracer.make({
        span: (...args) => {
          const span = native.span(...args)
          spans.push(span)
          return span
        },
        context: (f) => f()
      })
      const url = `ws://127.0.0.1:${yield* refusedPort}/`
      const exit = yield* Effect.exit(Effect.scoped(JetSocket.connect(url, { reconnect: false }))).pipe(
        Effect.provide(NodeTransport.layer),
        Effect.withTracer(recording)
      )
      expect(exit._tag).toBe("Failure")
      const attempts = spans.filter((span) => span.name === "jetsocket.connect")
      expect(attempts).toHaveLength(1)
      const [attempt] = attempts
      expect(attempt!.attributes.get("url.full")).toBe(url)
      expect(attempt!.attributes.get("jetsocket.attempt")).toBe(1)
      expect(attempt!.status._tag).toBe("Ended")
      expect(attempt!.attributes.has("code.stacktrace")).toBe(false)
    }))
})
