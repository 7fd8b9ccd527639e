/**
 * The client's lifecycle is one tagged state changed by one transition
 * function along a table of allowed edges (src/internal/client/lifecycle.ts).
 * Each test drives edges against a real TestServer (TestClock where time
 * matters: backoff, rotation, resetAfter) and records every transition the
 * client makes; the last test checks that together they drove every edge of
 * the table, and that an edge outside the table is refused.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Schedule, TestClock } from "effect"
import * as JetSocket from "../src/JetSocket.js"
import type { Client } from "../src/internal/client.js"
import { InvalidStateError } from "../src/JetSocketError.js"
import * as Lifecycle from "../src/internal/client/lifecycle.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as TestServer from "../src/TestServer.js"
import * as Transport from "../src/Transport.js"
import { throwingProtocol } from "./fixtures/helpers.js"

const scoped = <A, E>(name: string, body: () => Effect.Effect<A, E, any>) =>
  it.scoped(name, () => body().pipe(Effect.provide(NodeTransport.layer)), 30_000)

/** Polls on real timers: works under TestClock while real sockets do their I/O. */
const until = (predicate: () => boolean, timeoutMs = 10_000) => TestServer.waitUntil(predicate, timeoutMs).pipe(Effect.orDie)

/** Every edge any test below drove (`from → to`). */
const driven = new Set<string>()

/**
 * Records the client's transitions by intercepting its lifecycle field
 * (installed right after `make`, before the connecting fiber first runs).
 */
const trace = (ws: JetSocket.JetSocket<any>) => {
  const client = ws as unknown as Client<any>
  let state = client.lifecycle
  const log: Array<string> = []
  Object.defineProperty(client, "lifecycle", {
    configurable: true,
    get: () => state,
    set: (next: Lifecycle.State) => {
      const edge = `${state._tag} → ${next._tag}`
      log.push(edge)
      driven.add(edge)
      state = next
    }
  })
  return { log, tag: () => state._tag, client }
}

const make = (url: string, options: JetSocket.JetSocket.Options = {}) =>
  Effect.map(JetSocket.make(url, { heartbeat: false, ...options }), (ws) => ({ ws, ...trace(ws) }))

describe("lifecycle edges, against a real server", () => {
  scoped("Idle → Connecting → Up, then Up → Closing → Closed", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const { log, ws } = yield* make(server.url)
      yield* ws.ready
      yield* ws.close()
      expect(log).toEqual(["Idle → Connecting", "Connecting → Up", "Up → Closing", "Closing → Closed"])
      expect(yield* ws.state).toBe("Closed")
    }))

  scoped("Idle → Closing: closed before the first attempt started", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const { log, ws } = yield* make(server.url)
      yield* ws.close()
      expect(log).toEqual(["Idle → Closing", "Closing → Closed"])
      expect(server.upgradeCount()).toBe(0)
    }))

  scoped("Connecting → BackingOff (refused), BackingOff → Connecting when the delay elapsed on the TestClock", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({
        handler: TestServer.silent,
        upgrade: (request) => (request.index === 0 ? { status: 503 } : "accept")
      })
      const { log, tag, ws } = yield* make(server.url, { reconnect: { base: 1000, jitter: false } })
      yield* until(() => tag() === "BackingOff")
      yield* TestClock.adjust(999)
      expect(tag()).toBe("BackingOff")
      expect(server.upgradeCount()).toBe(1)
      yield* TestClock.adjust(1)
      yield* ws.ready
      expect(log).toEqual(["Idle → Connecting", "Connecting → BackingOff", "BackingOff → Connecting", "Connecting → Up"])
    }))

  scoped("Connecting → Failed (fatal 401), then Failed → Closing → Closed; the public state stays Failed", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ upgrade: TestServer.refuse(401) })
      const { log, ws } = yield* make(server.url)
      expect((yield* Effect.flip(ws.ready))._tag).toBe("ConnectionRefusedError")
      yield* ws.close()
      expect(log).toEqual(["Idle → Connecting", "Connecting → Failed", "Failed → Closing", "Closing → Closed"])
      expect(yield* ws.state).toBe("Failed")
    }))

  scoped("Connecting → Closing: closed while the handshake hangs", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ upgrade: TestServer.hang })
      const { log, tag, ws } = yield* make(server.url)
      yield* until(() => tag() === "Connecting")
      yield* ws.close()
      expect(log).toEqual(["Idle → Connecting", "Connecting → Closing", "Closing → Closed"])
    }))

  scoped("Up → Up: maxConnectionAge rotates (make-before-break) when the TestClock reaches it", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const { log, ws } = yield* make(server.url, { maxConnectionAge: "1 minute" })
      yield* ws.ready
      yield* TestClock.adjust("1 minute")
      yield* until(() => log.includes("Up → Up"))
      expect(server.upgradeCount()).toBe(2)
      expect(yield* ws.state).toBe("Connected")
      yield* ws.close()
      expect(log).toEqual(["Idle → Connecting", "Connecting → Up", "Up → Up", "Up → Closing", "Closing → Closed"])
    }))

  scoped("Up → Dropped → BackingOff: a connection that flapped steps the schedule; BackingOff → Closing on close", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const { log, tag, ws } = yield* make(server.url, { reconnect: { base: 1000, jitter: false } })
      yield* ws.ready
      server.dropAll()
      yield* until(() => tag() === "BackingOff")
      yield* ws.close()
      expect(log).toEqual([
        "Idle → Connecting",
        "Connecting → Up",
        "Up → Dropped",
        "Dropped → BackingOff",
        "BackingOff → Closing",
        "Closing → Closed"
      ])
    }))

  scoped("Dropped → Connecting: a connection up ≥ resetAfter reconnects at once, with a fresh schedule", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const { log, ws } = yield* make(server.url, { reconnect: { base: 1000, jitter: false, resetAfter: "1 second" } })
      yield* ws.ready
      yield* TestClock.adjust("1 second")
      server.dropAll()
      yield* until(() => log.filter((edge) => edge === "Connecting → Up").length === 2)
      expect(log).toEqual(["Idle → Connecting", "Connecting → Up", "Up → Dropped", "Dropped → Connecting", "Connecting → Up"])
    }))

  scoped("Dropped → Failed: a fatal close code (4401) ends the client", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const { log, tag, ws } = yield* make(server.url)
      yield* ws.ready
      server.closeAll(4401, "unauthorized")
      yield* until(() => tag() === "Failed")
      expect(log).toEqual(["Idle → Connecting", "Connecting → Up", "Up → Dropped", "Dropped → Failed"])
      expect(yield* ws.state).toBe("Failed")
    }))

  scoped("Up → Failed: the supervisor dies while a connection is up (a rotation's replacement whose getter throws)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const throwing = yield* throwingProtocol((n) => n === 1)
      const { log, tag, ws } = yield* make(server.url, { maxConnectionAge: "10 seconds" }).pipe(
        Effect.provideService(Transport.Transport, throwing)
      )
      yield* ws.ready
      yield* TestClock.adjust("10 seconds")
      yield* until(() => tag() === "Failed")
      expect(log).toEqual(["Idle → Connecting", "Connecting → Up", "Up → Failed"])
      expect(yield* ws.state).toBe("Failed")
    }))

  scoped("Dropped → Closing: closed while a user Schedule is still deciding after a drop", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      // A schedule whose step never completes: the client stays Dropped (public: Disconnected).
      const { log, tag, ws } = yield* make(server.url, {
        reconnect: Schedule.spaced("1 second").pipe(Schedule.tapInput(() => Effect.never))
      })
      yield* ws.ready
      server.dropAll()
      yield* until(() => tag() === "Dropped")
      expect(yield* ws.state).toBe("Disconnected")
      yield* ws.close()
      expect(log).toEqual(["Idle → Connecting", "Connecting → Up", "Up → Dropped", "Dropped → Closing", "Closing → Closed"])
    }))
})

describe("the transition table", () => {
  const tags = Object.keys(Lifecycle.edges) as Array<Lifecycle.Tag>

  scoped("an edge outside the table is refused: a defect, and the state is unchanged", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const { client, tag, ws } = yield* make(server.url)
      yield* ws.ready
      const refused = tags.filter((to) => !Lifecycle.isAllowed("Up", to))
      expect(refused.sort()).toEqual(["BackingOff", "Closed", "Connecting", "Idle"])
      const samples: Record<string, Lifecycle.State> = {
        Idle: Lifecycle.idle,
        Connecting: { _tag: "Connecting", attempt: 1, reconnect: true, since: 0 },
        BackingOff: { _tag: "BackingOff", attempt: 1, delay: Duration.zero },
        Failed: { _tag: "Failed", error: new InvalidStateError({ state: "Connected", operation: "connect" }) },
        Closed: { _tag: "Closed", failure: undefined, code: 1000, reason: "" }
      }
      for (const to of refused) {
        const exit = yield* Effect.exit(Lifecycle.transition(client, samples[to]!))
        expect(Exit.isFailure(exit) && exit.cause._tag === "Die").toBe(true)
        expect(tag()).toBe("Up")
        expect(yield* ws.state).toBe("Connected")
      }
    }))

  scoped("a transition is an Effect: the state changes when it runs, not when it is made", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ handler: TestServer.silent })
      const { client, tag, ws } = yield* make(server.url)
      yield* ws.ready
      const dropped = Lifecycle.transition(client, {
        _tag: "Dropped",
        error: new InvalidStateError({ state: "Connected", operation: "receive" }),
        code: 1006,
        reason: ""
      })
      expect(tag()).toBe("Up")
      expect(yield* ws.state).toBe("Connected")
      yield* dropped
      expect(tag()).toBe("Dropped")
      expect(yield* ws.state).toBe("Disconnected")
      // A function of the current state, read when it runs; `undefined` changes nothing.
      yield* Lifecycle.transition(client, () => undefined)
      expect(tag()).toBe("Dropped")
    }))

  it("the table: Closed is final; Closing only ends in Closed; close is reachable from every other state", () => {
    expect(Lifecycle.edges.Closed).toEqual([])
    expect(Lifecycle.edges.Closing).toEqual(["Closed"])
    for (const from of tags) {
      if (from !== "Closing" && from !== "Closed") expect(Lifecycle.isAllowed(from, "Closing")).toBe(true)
    }
    // Nothing returns to Idle.
    for (const from of tags) expect(Lifecycle.isAllowed(from, "Idle")).toBe(false)
  })

  it("every edge of the table was driven above, and no other", () => {
    const table = tags.flatMap((from) => Lifecycle.edges[from].map((to) => `${from} → ${to}`))
    expect([...driven].sort()).toEqual(table.sort())
  })
})
