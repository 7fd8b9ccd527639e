import type * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type * as JetSocket from "../../JetSocket.js"
import type { JetSocketError } from "../../JetSocketError.js"
import { JetSocketEvent } from "../../JetSocketEvent.js"
import type { Client } from "../client.js"
import * as Telemetry from "../telemetry.js"
import * as Close from "./close.js"
import type { Conn } from "./conn.js"
import * as Stats from "./stats.js"

/**
 * The client's lifecycle: ONE tagged value, changed only by {@link transition}
 * along the edges of {@link edges}. Each state holds what it needs; the public
 * `ConnectionState` is a projection of it ({@link publicName}).
 *
 * @internal
 */
export type State = Idle | Connecting | Up | Dropped | BackingOff | Failed | Closing | Closed

/** @internal */
export type Tag = State["_tag"]

/** Made, the first attempt not started yet. Public: `Idle`. */
export interface Idle {
  readonly _tag: "Idle"
}

/** An attempt is running (open, then hooks, replay, flush). Public: `Connecting`, or `Reconnecting` once it was up before. */
export interface Connecting {
  readonly _tag: "Connecting"
  /** The attempt's number in this outage (1-based). */
  readonly attempt: number
  readonly reconnect: boolean
}

/**
 * A connection is up and set up. Public: `Connected`. It holds the
 * connection only: an idle client keeps this state for as long as it is up
 * (the outage it ended is reported from the client's counters, see
 * {@link transition}). The value is the `Conn` itself (`_tag` on its
 * prototype, `conn` a getter returning it): a separate `{ _tag, conn }`
 * object was 40 B on every connected client (heap-snapshot diff).
 */
export interface Up {
  readonly _tag: "Up"
  readonly conn: Conn
}

/** The connection that was up ended. Public: `Disconnected`. */
export interface Dropped {
  readonly _tag: "Dropped"
  readonly error: JetSocketError
  readonly code: number
  readonly reason: string
}

/** Waiting `delay` before the next attempt. Public: `BackingOff`. */
export interface BackingOff {
  readonly _tag: "BackingOff"
  /** The number of the attempt that follows. */
  readonly attempt: number
  readonly delay: Duration.Duration
}

/** Given up: a fatal error, an exhausted schedule, or a failure with `reconnect: false`. Public: `Failed`. */
export interface Failed {
  readonly _tag: "Failed"
  readonly error: JetSocketError
}

/**
 * `close()` is running; `done` completes when it finished (a second `close`
 * waits on it). Public: `Disconnecting`, or still `Failed` when the client
 * had failed (its error stays the answer to every operation).
 */
export interface Closing {
  readonly _tag: "Closing"
  readonly done: Deferred.Deferred<void>
  readonly failure: JetSocketError | undefined
}

/** Closed for good. Public: `Closed`, or `Failed` when it had failed before. */
export interface Closed {
  readonly _tag: "Closed"
  readonly failure: JetSocketError | undefined
  readonly code: number
  readonly reason: string
}

/** @internal */
export const idle: Idle = { _tag: "Idle" }

/**
 * The allowed edges, as data: `edges[from]` lists where `from` may go.
 * {@link transition} refuses any other edge (a defect: a bug of ours).
 *
 * - Closing is reachable from every state but Closing/Closed (`close()` may
 *   come at any time, even between two steps of the connecting fiber).
 * - `Up → Up` is a rotation (`maxConnectionAge`): the replacement is current.
 * - `Dropped → Connecting`: the dropped connection was stable (up ≥
 *   `resetAfter`): a fresh schedule and an attempt at once.
 * - `Dropped → BackingOff`: it flapped: the same schedule steps on.
 * - There is no `BackingOff → Failed`: whether the schedule is exhausted is
 *   known when it is stepped, before backing off.
 * - A connecting fiber that dies (a defect: user callbacks are guarded) is
 *   failed from Connecting or Dropped, the states where it does work; a
 *   transition reads what may throw before it changes anything, so a throw
 *   during one leaves the state it started from.
 *
 * @internal
 */
export const edges: { readonly [T in Tag]: ReadonlyArray<Tag> } = {
  Idle: ["Connecting", "Closing"],
  Connecting: ["Up", "BackingOff", "Failed", "Closing"],
  Up: ["Up", "Dropped", "Closing"],
  Dropped: ["Connecting", "BackingOff", "Failed", "Closing"],
  BackingOff: ["Connecting", "Closing"],
  Failed: ["Closing"],
  Closing: ["Closed"],
  Closed: []
}

/** @internal */
export const isAllowed = (from: Tag, to: Tag): boolean => edges[from].includes(to)

/** @internal The public name of a state. */
export const publicName = (state: State): JetSocket.ConnectionState => {
  switch (state._tag) {
    case "Idle":
      return "Idle"
    case "Connecting":
      return state.reconnect ? "Reconnecting" : "Connecting"
    case "Up":
      return "Connected"
    case "Dropped":
      return "Disconnected"
    case "BackingOff":
      return "BackingOff"
    case "Failed":
      return "Failed"
    case "Closing":
      return state.failure === undefined ? "Disconnecting" : "Failed"
    case "Closed":
      return state.failure === undefined ? "Closed" : "Failed"
  }
}

/** @internal Why the client can no longer connect, if it failed. */
export const failure = (state: State): JetSocketError | undefined =>
  state._tag === "Failed" ? state.error : state._tag === "Closing" || state._tag === "Closed" ? state.failure : undefined

/**
 * The one place the lifecycle changes: checks the edge, sets the state,
 * publishes the event that goes with it, updates the metrics and the public
 * state (`state`, `stateChanges`), and settles `ready` (first `Up`, or
 * `Failed`). The attempt's own `Connecting { url }` event is the attempt's
 * (a rotation's attempt publishes one too, with no state change).
 *
 * The change happens when this is called (call it from an Effect: `yield*
 * transition(...)`), so a check of the state and the transition in one
 * synchronous step are atomic (`close` relies on it: two closes, one
 * transition). What it returns tells `stateChanges` subscribers (a
 * `SubscriptionRef` is set in an Effect); for an edge that is not in
 * {@link edges} it changes nothing and returns a defect.
 *
 * @internal
 */
export const transition = (client: Client<any>, next: State): Effect.Effect<void> => {
    const from = client.lifecycle
    if (!isAllowed(from._tag, next._tag)) {
      return Effect.dieMessage(`jetsocket: illegal lifecycle edge ${from._tag} → ${next._tag}`)
    }
    // What can throw (a transport's getter) is read before anything changes: a transition happens
    // entirely or not at all (a connecting fiber that dies on it is then settled from `from`).
    const protocol = next._tag === "Up" ? next.conn.connection!.protocol : ""
    client.lifecycle = next
    const now = client.now()
    switch (next._tag) {
      case "Up": {
        client.publish(JetSocketEvent.Connected({ timestamp: now, url: next.conn.url, protocol }))
        if (from._tag === "Up") break // a rotation: still the same logical connection
        if (client.everConnected) {
          client.reconnects++
          client.publish(JetSocketEvent.Reconnected({
            timestamp: now,
            attempts: client.attempts,
            downtime: Duration.millis(client.elapsed() - client.outageStart)
          }))
        }
        client.everConnected = true
        Close.settleFirstOpen(client, Exit.void)
        break
      }
      case "Dropped":
        client.publish(JetSocketEvent.Disconnected({ timestamp: now, code: next.code, reason: next.reason }))
        break
      case "BackingOff":
        client.publish(JetSocketEvent.Reconnecting({ timestamp: now, attempt: next.attempt, delay: next.delay }))
        break
      case "Failed":
        client.publish(JetSocketEvent.Error({ timestamp: now, error: next.error, fatal: true }))
        client.buffer.fail(next.error)
        Close.failPending(client, next.error)
        Close.settleFirstOpen(client, Exit.fail(next.error))
        break
      case "Closed":
        Stats.flushMetrics(client)
        client.publish(JetSocketEvent.Closed({ timestamp: now, code: next.code, reason: next.reason }))
        break
    }
    const name = publicName(next)
    Telemetry.transition(client, next, name) // the state gauge and the outage span; nothing per message
    if (name === client.stateNow) return Effect.void
    client.stateNow = name
    Stats.flushMetrics(client)
    return client.stateRef === undefined ? Effect.void : SubscriptionRef.set(client.stateRef, name)
}
