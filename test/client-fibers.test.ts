/**
 * Every fiber the client starts runs in the user's runtime (a user
 * `Supervisor` sees it) and in the scope the client was made in; none
 * outlives `close` or that scope's end. Real server, live clock.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import * as JetSocket from "../src/JetSocket.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"
import { statesUntilEnd } from "./fixtures/helpers.js"
import { Recorder } from "./fixtures/supervisor.js"

const live = <A, E>(name: string, body: () => Effect.Effect<A, E, any>, timeout = 60_000) =>
  it.scopedLive(name, () => body().pipe(Effect.provide(NodeTransport.layer)), timeout)

const until = (predicate: () => boolean, timeoutMs = 10_000) => TestServer.waitUntil(predicate, timeoutMs).pipe(Effect.orDie)

describe("the client's fibers", () => {
  live("the client's life is one fiber, the user's: the same one connected and idle, through a drop and its backoff; close ends it", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const recorder = new Recorder()
      const ws = yield* JetSocket.make(server.url, { heartbeat: false, reconnect: { base: 300, jitter: false } }).pipe(
        Effect.supervised(recorder)
      )
      yield* ws.ready
      // Connected and idle: one fiber of the client's is alive, the supervisor.
      yield* until(() => recorder.alive().length === 1)
      const [supervisor] = recorder.alive()
      // A drop (a transport callback) is taken by the same fiber, waiting on the connection: through the
      // backoff it is still the only one alive.
      server.dropAll()
      yield* until(() => Effect.runSync(ws.state) === "BackingOff")
      expect(recorder.alive()).toEqual([supervisor])
      // ... and close ends it.
      yield* ws.close()
      expect(supervisor!.unsafePoll()).not.toBeNull()
      expect(recorder.alive()).toEqual([])
      const upgrades = server.upgradeCount()
      // Closed is terminal (stateChanges ends): the backoff never leads to another attempt
      expect(yield* statesUntilEnd(ws)).toEqual(["Closed"])
      expect(server.upgradeCount()).toBe(upgrades)
    }))

  live("with maxConnectionAge the rotation fiber is the user's and alive while connected; close ends it", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const recorder = new Recorder()
      const ws = yield* JetSocket.make(server.url, { heartbeat: false, maxConnectionAge: "150 millis" }).pipe(
        Effect.supervised(recorder)
      )
      yield* ws.ready
      yield* until(() => server.upgradeCount() >= 3) // two rotations
      expect(Effect.runSync(ws.state)).toBe("Connected")
      expect(recorder.alive().length).toBeGreaterThanOrEqual(1)
      yield* ws.close()
      expect(recorder.alive()).toEqual([])
    }))

  live("the end of the scope the client was made in ends its fibers (backing off, never connected)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ upgrade: TestServer.refuse(503) })
      const recorder = new Recorder()
      const scope = yield* Scope.make()
      const ws = yield* JetSocket.make(server.url, { heartbeat: false, reconnect: { base: 10_000, jitter: false } }).pipe(
        Scope.extend(scope),
        Effect.supervised(recorder)
      )
      yield* until(() => Effect.runSync(ws.state) === "BackingOff")
      expect(recorder.alive().length).toBeGreaterThanOrEqual(1)
      yield* Scope.close(scope, Exit.void)
      expect(recorder.alive()).toEqual([])
      expect(Effect.runSync(ws.state)).toBe("Closed")
    }))
})
