import { describe, expect, it } from "@effect/vitest"
import { Effect, Runtime, Schema } from "effect"
import { JetSocket, JetSocketError } from "../src/index.js"
import { fromOption, preview, withSchema } from "../src/internal/codec.js"
import type { Frame } from "../src/internal/codec.js"
import { NodeTransport } from "../src/node.js"
import { TestServer } from "../src/testing.js"

const bytes = (...xs: Array<number>) => new Uint8Array(xs)

describe("codecs (unit)", () => {
  it("json: text frames parsed, binary frames passed through, non-JSON is InvalidMessageError", () => {
    const json = fromOption<unknown>("json")
    expect(json.decode("{\"a\":1}")).toEqual({ a: 1 })
    expect(json.decode(bytes(1, 2))).toEqual(bytes(1, 2))
    const bad = json.decode("nope")
    expect(bad).toBeInstanceOf(JetSocketError.InvalidMessageError)
    expect(json.encode({ a: [1] })).toBe("{\"a\":[1]}")
    expect(json.encode("raw")).toBe("raw")
    expect(json.encode(bytes(3))).toEqual(bytes(3))
    expect(fromOption(undefined).decode("[1]")).toEqual([1])
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    expect(json.encode(cyclic)).toBeInstanceOf(JetSocketError.InvalidMessageError)
  })

  it("text and binary", () => {
    expect(fromOption<unknown>("text").decode("not json")).toBe("not json")
    expect(fromOption<unknown>("binary").decode("hi")).toEqual(bytes(104, 105))
    expect(fromOption<unknown>("binary").decode(bytes(9))).toEqual(bytes(9))
  })

  it("custom: a pair of Effects; a failure becomes InvalidMessageError with the cause", () => {
    const codec = fromOption<number>({
      decode: (frame: Frame) => {
        const n = Number(frame)
        return Number.isNaN(n) ? Effect.fail("NaN") : Effect.succeed(n)
      },
      encode: (n: number) => Effect.succeed(`${n}`)
    }, Runtime.defaultRuntime)
    expect(codec.decode("42")).toBe(42)
    expect(codec.encode(7)).toBe("7")
    const err = codec.decode("x")
    expect(err).toBeInstanceOf(JetSocketError.InvalidMessageError)
    expect((err as JetSocketError.InvalidMessageError).cause).toBe("NaN")
    const async = fromOption<number>({ decode: () => Effect.sleep(10).pipe(Effect.as(1)), encode: () => Effect.succeed("") }, Runtime.defaultRuntime)
    expect(async.decode("1")).toBeInstanceOf(JetSocketError.InvalidMessageError)
  })

  it("withSchema over json; preview is bounded", () => {
    const codec = withSchema(fromOption("json"), Schema.Struct({ n: Schema.NumberFromString }), Runtime.defaultRuntime)
    expect(codec.decode("{\"n\":\"5\"}")).toEqual({ n: 5 })
    expect(codec.encode({ n: 5 })).toBe("{\"n\":\"5\"}")
    expect(preview("y".repeat(10_000)).length).toBeLessThan(260)
    expect(preview(new Uint8Array(1000))).toContain("1000 bytes")
  })
})

describe("codecs (live)", () => {
  it.scopedLive("text codec delivers raw strings; binary frames arrive as Uint8Array", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const text = yield* JetSocket.connect(server.url, { codec: "text", heartbeat: false, reconnect: false })
      yield* text.sendText("hello, not json")
      expect(yield* text.recv({ timeout: "10 seconds" })).toBe("hello, not json")
      const json = yield* JetSocket.connect(server.url, { heartbeat: false, reconnect: false })
      yield* json.sendBinary(bytes(1, 2, 3))
      const got = yield* json.recv({ timeout: "10 seconds" })
      expect(got).toBeInstanceOf(Uint8Array)
      expect(Array.from(got as Uint8Array)).toEqual([1, 2, 3])
      yield* json.send({ a: 1 })
      expect(yield* json.recv({ timeout: "10 seconds" })).toEqual({ a: 1 })
    }).pipe(Effect.provide(NodeTransport.layer)), 20_000)

  it.scopedLive("custom codec round trip", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      const ws = yield* JetSocket.connect<{ readonly n: number }>(server.url, {
        heartbeat: false,
        reconnect: false,
        codec: {
          decode: (frame) => Effect.succeed({ n: Number(String(frame).slice(2)) }),
          encode: (m) => Effect.succeed(`n=${m.n}`)
        }
      })
      yield* ws.send({ n: 12 })
      yield* server.waitUntil(() => server.received().length >= 1, 10_000)
      expect(server.received()[0]?.data).toBe("n=12")
      expect(yield* ws.recv({ timeout: "10 seconds" })).toEqual({ n: 12 })
    }).pipe(Effect.provide(NodeTransport.layer)), 20_000)
})
