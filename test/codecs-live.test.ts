import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as JetSocket from "../src/JetSocket.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"

const live = <A, E>(effect: Effect.Effect<A, E, any>) => effect.pipe(Effect.provide(NodeTransport.layer))

describe("codecs", () => {
  it.scopedLive("text passes strings through; binary turns text into bytes; json keeps Uint8Array for binary frames", () =>
    live(Effect.gen(function*() {
      const server = yield* TestServer.make()
      const text = yield* JetSocket.connect(server.url, { codec: "text", heartbeat: false })
      yield* text.sendText("{not json")
      expect(yield* text.recv({ timeout: "5 seconds" })).toBe("{not json")
      const binary = yield* JetSocket.connect(server.url, { codec: "binary", heartbeat: false })
      yield* binary.sendText("hi")
      expect([...(yield* binary.recv({ timeout: "5 seconds" })) as Uint8Array]).toEqual([104, 105])
      const json = yield* JetSocket.connect(server.url, { heartbeat: false })
      yield* json.sendBinary(new Uint8Array([1, 2]))
      const bytes = yield* json.recv({ timeout: "5 seconds" })
      expect(bytes).toBeInstanceOf(Uint8Array)
    })))

  it.scopedLive("a custom codec (a pair of Effects) decodes and encodes; its failures are InvalidMessageError", () =>
    live(Effect.gen(function*() {
      const server = yield* TestServer.make()
      const ws = yield* JetSocket.connect<{ n: number }>(server.url, {
        heartbeat: false,
        codec: {
          decode: (frame) =>
            typeof frame === "string" && /^n=\d+$/.test(frame)
              ? Effect.succeed({ n: Number(frame.slice(2)) })
              : Effect.fail(new Error(`bad frame ${String(frame)}`)),
          encode: (message) => Effect.succeed(`n=${message.n}`)
        }
      })
      yield* ws.send({ n: 42 })
      expect(yield* ws.recv({ timeout: "5 seconds" })).toEqual({ n: 42 })
      yield* ws.sendText("garbage")
      const error = yield* Effect.flip(ws.recv({ timeout: "5 seconds" }))
      expect(error._tag).toBe("InvalidMessageError")
      expect(error.message).toContain("garbage")
    })))

  it.scopedLive("a message that cannot be encoded fails send with InvalidMessageError, nothing is sent", () =>
    live(Effect.gen(function*() {
      const server = yield* TestServer.make()
      const ws = yield* JetSocket.connect(server.url, { heartbeat: false })
      const cyclic: Record<string, unknown> = {}
      cyclic.self = cyclic
      const error = yield* Effect.flip(ws.send(cyclic))
      expect(error._tag).toBe("InvalidMessageError")
      const bigint = yield* Effect.flip(ws.send({ n: 1n }))
      expect(bigint._tag).toBe("InvalidMessageError")
      yield* ws.send({ ok: true })
      expect(yield* ws.recv({ timeout: "5 seconds" })).toEqual({ ok: true })
      expect(server.received().length).toBe(1)
    })))
})
