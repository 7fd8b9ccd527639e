import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as JetSocket from "../src/JetSocket.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"

describe("smoke", () => {
  it.scopedLive("echo", () => Effect.gen(function*() {
    const server = yield* TestServer.make()
    const ws = yield* JetSocket.connect(server.url)
    yield* ws.send({ hello: "world" })
    const m = yield* ws.recv({ timeout: "2 seconds" })
    expect(m).toEqual({ hello: "world" })
    yield* ws.sendText("not json")
    const e = yield* Effect.flip(ws.recv({ timeout: "2 seconds" }))
    expect(e._tag).toBe("InvalidMessageError")
    yield* ws.send([1,2])
    expect(yield* ws.recv()).toEqual([1,2])
    server.dropAll()
    yield* Effect.sleep("50 millis")
    yield* ws.send({ after: 1 })
    expect(yield* ws.recv({ timeout: "3 seconds" })).toEqual({ after: 1 })
    const st = yield* ws.stats
    expect(st.reconnects).toBe(1)
    yield* ws.close()
    yield* server.waitUntil(() => server.closes().some((c) => c.code === 1000))
  }).pipe(Effect.provide(NodeTransport.layer)))
})
