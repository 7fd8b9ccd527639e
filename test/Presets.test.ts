import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { JetSocket, Presets } from "../src/index.js"
import { NodeTransport } from "../src/node.js"
import { TestServer } from "../src/testing.js"

describe("Presets", () => {
  it("trading", () => {
    expect(Presets.trading.reconnect).toMatchObject({ base: "500 millis", cap: "30 seconds", maxAttempts: 0 })
    expect(Presets.trading.heartbeat).toEqual({ interval: "20 seconds", timeout: "10 seconds" })
    expect(Presets.trading.buffer).toMatchObject({ capacity: 10_000, overflowPolicy: "drop_oldest", dedup: { window: 1_000 } })
    expect(Duration.toMillis(Presets.trading.maxConnectionAge!)).toBe((23 * 60 + 50) * 60_000)
    expect(Presets.trading.compression).toBe(true)
  })

  it("llmStream", () => {
    expect(Presets.llmStream.reconnect).toMatchObject({ base: "1 second", cap: "10 seconds", maxAttempts: 5 })
    expect(Presets.llmStream.heartbeat).toEqual({ interval: "30 seconds", timeout: "15 seconds" })
    expect(Presets.llmStream.buffer).toMatchObject({ capacity: 500 })
    expect(Presets.llmStream.maxMessageSize).toBe(128 * 1024 * 1024)
    expect(Presets.llmStream.compression).toBe(false)
  })

  it("dashboard and minimal", () => {
    expect(Presets.dashboard.reconnect).toMatchObject({ base: "2 seconds", cap: "60 seconds", maxAttempts: 0 })
    expect(Presets.dashboard.heartbeat).toMatchObject({ interval: "30 seconds" })
    expect(Presets.dashboard.buffer).toEqual({ capacity: 100, overflowPolicy: "drop_oldest" })
    expect(Presets.minimal).toEqual({ reconnect: true, heartbeat: "30 seconds", buffer: { capacity: 100 } })
  })

  it("Presets.with overrides field by field and leaves the preset untouched", () => {
    const custom = Presets.with(Presets.trading, { buffer: { capacity: 50_000 }, connectTimeout: "5 seconds" })
    expect(custom.buffer).toMatchObject({ capacity: 50_000, overflowPolicy: "drop_oldest", dedup: { window: 1_000 } })
    expect(custom.connectTimeout).toBe("5 seconds")
    expect(custom.heartbeat).toEqual(Presets.trading.heartbeat)
    expect(Presets.trading.buffer).toMatchObject({ capacity: 10_000 })
    expect(Presets.with(Presets.minimal, { heartbeat: false }).heartbeat).toBe(false)
  })

  it("trading dedup key uses seq/sequence/id/u", () => {
    const buffer = Presets.trading.buffer as { dedup: { key: (m: unknown) => unknown } }
    expect(buffer.dedup.key({ u: 9 })).toBe(9)
    expect(buffer.dedup.key({ seq: 1, id: 2 })).toBe(1)
  })

  it.scopedLive("each preset connects and exchanges a message", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.echo })
      for (const preset of [Presets.trading, Presets.llmStream, Presets.dashboard, Presets.minimal]) {
        const ws = yield* JetSocket.connect(server.url, Presets.with(preset, { heartbeat: false }))
        yield* ws.send({ seq: 1 })
        expect(yield* ws.recv({ timeout: "10 seconds" })).toEqual({ seq: 1 })
        yield* ws.close()
      }
    }).pipe(Effect.provide(NodeTransport.layer)), 30_000)
})
