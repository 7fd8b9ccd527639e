import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type * as JetSocket from "../../JetSocket.js"
import type { JetSocketError } from "../../JetSocketError.js"
import { JetSocketEvent } from "../../JetSocketEvent.js"
import type { Client } from "../client.js"
import * as Telemetry from "../telemetry.js"
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

/** Where the attempts stand: an outage being repaired, or the first connect. */
export interface Outage {
  /** A connection was up before: the attempts end an outage. */
  readonly reconnect: boolean
  /** When the outage (or the first connect) began (`Client.now`): `Reconnected`'s downtime. */
  readonly since: number
}

/** An attempt is running (open, then hooks, replay, flush). Public: `Connecting`, or `Reconnecting` once it was up before. */
export interface Connecting extends Outage {
  readonly _tag: "Connecting"
  /** The attempt's number in this outage (1-based). */
  readonly attempt: number
}

/**
 * A connection is up and set up: sends go to `conn` (the data plane reads it
 * from here, see `Client.current`). Public: `Connected`.
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
  /** The close code and reason the supervisor's finalizers close its sockets with. */
  readonly code: number
  readonly reason: string
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
 *   come at any time, even between two steps of the supervisor).
 * - `Up → Up` is a rotation (`maxConnectionAge`): the replacement is current.
 * - `Dropped → Connecting`: the dropped connection was stable (up ≥
 *   `resetAfter`): a fresh schedule and an attempt at once.
 * - `Dropped → BackingOff`: it flapped: the same schedule steps on.
 * - There is no `BackingOff → Failed`: whether the schedule is exhausted is
 *   known when it is stepped, before backing off.
 * - A supervisor that dies (a defect: user callbacks are guarded) fails
 *   the client from the state it died in: Connecting or Dropped (an attempt,
 *   a drop), or Up (a rotation, or bringing a connection up); a transition
 *   reads what may throw before it changes anything, so a throw during one
 *   leaves the state it started from.
 *
 * @internal
 */
export const edges: { readonly [T in Tag]: ReadonlyArray<Tag> } = {
  Idle: ["Connecting", "Closing"],
  Connecting: ["Up", "BackingOff", "Failed", "Closing"],
  Up: ["Up", "Dropped", "Failed", "Closing"],
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
 * An Effect: the state changes when it runs. `next` is the state to go to,
 * or a function of the current state giving it (`undefined`: no change),
 * read in the same synchronous step as the change — a check of the state
 * and the transition are atomic (`close` relies on it: two closes, one
 * transition). For an edge that is not in {@link edges} it changes nothing
 * and dies (a defect: a bug of ours).
 *
 * @internal
 */
export const transition = (
  client: Client<any>,
  next: State | ((from: State) => State | undefined)
): Effect.Effect<void> =>
  Effect.suspend(() => {
    const from = client.lifecycle
    const to = typeof next === "function" ? next(from) : next
    if (to === undefined) return Effect.void
    if (!isAllowed(from._tag, to._tag)) {
      return Effect.dieMessage(`jetsocket: illegal lifecycle edge ${from._tag} → ${to._tag}`)
    }
    // What can throw (a transport's getter) is read before anything changes: a transition happens
    // entirely or not at all (a supervisor that dies on it is then failed from `from`).
    const protocol = to._tag === "Up" ? to.conn.connection!.protocol : ""
    const previous = publicName(from)
    client.lifecycle = to
    const now = client.now()
    switch (to._tag) {
      case "Up": {
        client.publish(JetSocketEvent.Connected({ timestamp: now, url: to.conn.url, protocol }))
        if (from._tag !== "Connecting") break // a rotation (Up → Up): still the same logical connection
        if (from.reconnect) {
          client.reconnects++
          client.publish(JetSocketEvent.Reconnected({
            timestamp: now,
            attempts: from.attempt,
            downtime: Duration.millis(client.now() - from.since)
          }))
        }
        settleReady(client, Exit.void)
        break
      }
      case "Dropped":
        client.publish(JetSocketEvent.Disconnected({ timestamp: now, code: to.code, reason: to.reason }))
        break
      case "BackingOff":
        client.publish(JetSocketEvent.Reconnecting({ timestamp: now, attempt: to.attempt, delay: to.delay }))
        break
      case "Failed":
        client.publish(JetSocketEvent.Error({ timestamp: now, error: to.error, fatal: true }))
        client.buffer.fail(to.error)
        failPending(client, to.error)
        settleReady(client, Exit.fail(to.error))
        break
      case "Closed":
        Stats.flushMetrics(client)
        client.publish(JetSocketEvent.Closed({ timestamp: now, code: to.code, reason: to.reason }))
        break
    }
    const name = publicName(to)
    // The state gauge and the outage span; nothing per message.
    Telemetry.transition(client, { next: to, name, previous, attempts: attemptsIn(from) })
    if (name === previous) return Effect.void
    Stats.flushMetrics(client)
    return client.stateRef === undefined ? Effect.void : SubscriptionRef.set(client.stateRef, name)
  })

/** Settles `ready` (once): the first connection is up, or the client failed or closed before it. */
export const settleReady = (client: Client<any>, exit: Exit.Exit<void, JetSocketError>): void => {
  if (client.firstOpen !== undefined) return
  client.firstOpen = exit
  const waiters = client.firstOpenWaiters
  client.firstOpenWaiters = undefined
  if (waiters !== undefined) Deferred.unsafeDone(waiters, exit)
}

/**
 * How many attempts the outage in `state` has made: the number of the one
 * running (`Connecting`), or of the last one before the next (`BackingOff`).
 */
export const attemptsIn = (state: State): number =>
  state._tag === "Connecting" ? state.attempt : state._tag === "BackingOff" ? state.attempt - 1 : 0

/** The number of the next attempt: the one a `BackingOff` waits for, or the one after a failed attempt, else 1. */
export const nextAttempt = (state: State): number => attemptsIn(state) + 1

/** Fails every request waiting for its reply. */
export const failPending = (client: Client<any>, error: JetSocketError): void => {
  if (client.pending === undefined) return
  for (const request of client.pending) Deferred.unsafeDone(request.reply, Exit.fail(error))
  client.pending.clear()
}
