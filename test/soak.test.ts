import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { handles, withinBaseline, settle, soak } from "../bench/soak.js"

describe("soak (short)", () => {
  it.live("100 reconnect cycles + 1000 pool cycles leave no handle and no fiber behind; the user's supervisor sees the client's and the heartbeat timer's fibers while idle", () =>
    Effect.gen(function*() {
      const before = handles()
      const result = yield* soak({ reconnectCycles: 100, poolCycles: 1000 })
      expect(result.reconnects).toBe(100)
      expect(result.echoes).toBe(2)
      expect(result.poolErrors).toEqual({})
      expect(result.poolTimeouts).toBeGreaterThan(0)
      expect(result.poolStats.active).toBe(0)
      expect(result.poolStats.waiting).toBe(0)
      expect(result.poolStats.closing).toBe(0)
      // the user's Supervisor sees the client's supervisor and the heartbeat timer's fiber while the client
      // is idle, and nothing survives
      expect(result.idleFibers).toBeGreaterThanOrEqual(2)
      expect(result.idleFibers).toBeLessThanOrEqual(4)
      expect(result.liveFibers).toBe(0)
      // settle: wait (bounded, 5 s) until no tracked handle kind is above its count before
      const after = yield* Effect.promise(() => settle(before, 5000))
      for (const name of ["TCPSocketWrap", "TCPServerWrap", "TLSWrap"]) {
        expect(after[name] ?? 0, name).toBeLessThanOrEqual(before[name] ?? 0)
      }
      expect(withinBaseline(before, after)).toBe(true)
    }), 20_000)
})
