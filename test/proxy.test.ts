/**
 * The `agent` option (docs: "an HTTP(S) agent, e.g. a proxy agent") through a real HTTP CONNECT
 * proxy on loopback: Debian's tinyproxy. The agent is test/fixtures/peers.ts's ConnectAgent (what
 * https-proxy-agent does). Without tinyproxy the tests are skipped with a printed line; under
 * CI=true (`.ci/run` installs it) they run.
 */
import { describe, expect } from "@effect/vitest"
import { Effect } from "effect"
import * as JetSocket from "../src/JetSocket.js"
import * as TestServer from "../src/TestServer.js"
import { closedPort } from "./fixtures/helpers.js"
import { announceSkip, ConnectAgent, connectProxy, HAS_TINYPROXY, liveWithPeer } from "./fixtures/peers.js"

announceSkip("tinyproxy", HAS_TINYPROXY, "apt-get install tinyproxy")

const live = liveWithPeer(HAS_TINYPROXY, "tinyproxy is missing (CI=true requires it): apt-get install tinyproxy")

describe("the agent option through a real HTTP CONNECT proxy (tinyproxy)", () => {
  live("connects through the proxy, round trips, and reconnects through it after a drop", () =>
    Effect.gen(function*() {
      const proxy = yield* connectProxy
      const server = yield* TestServer.make()
      const agent = new ConnectAgent(proxy.port)
      const ws = yield* JetSocket.connect(server.url, { agent, reconnect: { base: "10 millis", jitter: false } })
      yield* ws.send({ via: "proxy" })
      expect(yield* ws.recv({ timeout: "10 seconds" })).toEqual({ via: "proxy" })
      const target = new URL(server.url).host
      expect(agent.tunnels).toEqual([target])
      // the proxy, not only our agent, carried it: tinyproxy logs the CONNECT it served
      expect(proxy.log()).toContain(`CONNECT ${target}`)
      // a drop reconnects through the proxy again
      server.dropAll()
      yield* server.waitUntil(() => server.upgradeCount() === 2, "10 seconds")
      yield* ws.send({ again: true })
      expect(yield* ws.recv({ timeout: "10 seconds" })).toEqual({ again: true })
      expect(agent.tunnels).toEqual([target, target])
    }))

  live("a proxy that cannot reach the target → retriable ConnectionRefusedError", () =>
    Effect.gen(function*() {
      const proxy = yield* connectProxy
      const port = yield* closedPort
      const agent = new ConnectAgent(proxy.port)
      const error = yield* Effect.flip(JetSocket.connect(`ws://127.0.0.1:${port}`, { agent, reconnect: false }))
      expect(error).toMatchObject({ _tag: "ConnectionRefusedError", fatal: false })
      expect(error.message).toContain("proxy answered CONNECT")
      expect(agent.tunnels).toEqual([`127.0.0.1:${port}`])
    }))
})
