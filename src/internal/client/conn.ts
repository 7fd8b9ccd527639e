import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import type { JetSocketError } from "../../JetSocketError.js"
import type * as Scope from "effect/Scope"
import type * as Transport from "../../Transport.js"
import type { Client } from "../client.js"
import type * as Codec from "../codec.js"
import type { Deque } from "../deque.js"
import * as Ticker from "../ticker.js"
import * as Inbound from "./inbound.js"
import type * as Lifecycle from "./lifecycle.js"
import * as Liveness from "./liveness.js"

type Frame = Codec.Frame

// Conn's flags
const HOLDING = 1
const CLOSING = 2
const HEARTBEAT = 4
const AWAITING_PONG = 8
const UNATTENDED = 16

/**
 * @internal
 * One live transport connection and what the client tracks about it. It is
 * also the transport's handlers and the heartbeat's timer entry, as prototype
 * methods: an idle connection costs one object here, not a closure per callback.
 */
export class Conn extends Ticker.TimerEntry implements Transport.Handlers, Lifecycle.Up {
  /** A Conn is its own `Up` lifecycle state (see `Lifecycle.Up`): `"Up"`, on the prototype. */
  declare readonly _tag: "Up"
  connection: Transport.Connection | undefined
  /** Where the socket lives (Effect's own `Scope.make`); closed when it ends. */
  scope: Scope.CloseableScope | undefined
  /** Why it ended; set once. */
  endedWith: JetSocketError | undefined
  /** Frames handed to the socket but not yet confirmed written, in order (made on the first tracked write). */
  inflight: Deque<Frame> | undefined
  /**
   * The yes/no states: bits of one field (a field each would be 8 bytes per
   * connection), read and written through the accessors below (see `flagAccessor`).
   */
  flags = HOLDING
  /** Incoming frames are held (not delivered) until hooks ran / rotation finished. */
  declare holding: boolean
  /** The client is closing it on purpose (user close, rotation): its end is not an error. */
  declare closing: boolean
  /** The heartbeat runs on this connection (it is scheduled on the ticker). */
  declare heartbeat: boolean
  /** The heartbeat sent a ping and waits for its pong. */
  declare awaitingPong: boolean
  /**
   * Up with no fiber waiting on it (an idle client holds no fiber): its end,
   * a transport callback, starts the connecting fiber (see `Reconnect.connectionEnded`).
   */
  declare unattended: boolean
  held: Array<Frame> | undefined
  /** When it opened, in the ticker's elapsed milliseconds (see `Client.elapsed`). */
  openedAt = 0
  pingSentAt: bigint | undefined
  /** `ping()` callers waiting for the next pong; failed with the error when the connection ends. */
  pongWaiters: Array<Deferred.Deferred<void, JetSocketError>> | undefined
  /** Backpressure pauses counted when that ping was sent. */
  pausesAtPing = 0
  /** Made only for a fiber that waits for the end (rotation): a Deferred is ~600 B. */
  private endedSignal: Deferred.Deferred<JetSocketError> | undefined
  private writtenCallback: ((error?: Error) => void) | undefined
  constructor(private readonly client: Client<any>, readonly url: string) {
    super()
  }

  onMessage(data: Frame): void {
    Inbound.receive(this.client, this, data)
  }

  onPong(): void {
    Liveness.onPong(this.client, this)
  }

  onClose(error: JetSocketError): void {
    this.client.connectionEnded(this, error)
  }

  /** The heartbeat's step (see `Liveness.beat`). */
  override run(): void {
    Liveness.beat(this.client, this)
  }

  /** As the `Up` state: the connection that is up, this one. */
  get conn(): Conn {
    return this
  }

  /** Takes what the socket never confirmed writing (to re-send it on the next connection). */
  unconfirmed(): Array<Frame> {
    return this.inflight === undefined ? [] : this.inflight.drain()
  }

  /** Completes when the connection ends, with why. */
  get ended(): Effect.Effect<JetSocketError> {
    if (this.endedWith !== undefined) return Effect.succeed(this.endedWith)
    return Deferred.await(this.endedSignal ??= Deferred.unsafeMake(FiberId.none))
  }

  /**
   * Records why it ended (once), stops its heartbeat and tells whoever waits
   * on it: no pong can come any more, so waiting `ping()` callers fail with
   * the same error. `false` when it had already ended.
   */
  end(error: JetSocketError): boolean {
    if (this.endedWith !== undefined) return false
    this.endedWith = error
    if (this.heartbeat) this.client.env.ticker.cancel(this)
    if (this.endedSignal !== undefined) Deferred.unsafeDone(this.endedSignal, Exit.succeed(error))
    const waiters = this.pongWaiters
    this.pongWaiters = undefined
    if (waiters !== undefined) for (const waiter of waiters) Deferred.unsafeDone(waiter, Exit.fail(error))
    return true
  }

  /** The write confirmation callback (one per connection, made on the first tracked write). */
  get onWritten(): (error?: Error) => void {
    return this.writtenCallback ??= (error) => {
      if (error === undefined || error === null) this.inflight?.shift()
    }
  }
}

/** A `Conn` state kept as one bit of its `flags`, as a prototype accessor. */
const flagAccessor = (bit: number): PropertyDescriptor => ({
  get(this: Conn): boolean {
    return (this.flags & bit) !== 0
  },
  set(this: Conn, on: boolean): void {
    this.flags = on ? this.flags | bit : this.flags & ~bit
  }
})

Object.defineProperties(Conn.prototype, {
  _tag: { value: "Up" },
  holding: flagAccessor(HOLDING),
  closing: flagAccessor(CLOSING),
  heartbeat: flagAccessor(HEARTBEAT),
  awaitingPong: flagAccessor(AWAITING_PONG),
  unattended: flagAccessor(UNATTENDED)
})

