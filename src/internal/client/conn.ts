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
import * as Liveness from "./liveness.js"

type Frame = Codec.Frame

/**
 * @internal
 * One transport connection and the data plane's facts about it: whether it
 * delivers yet (`holding`), whether it is being closed on purpose
 * (`closing`), why it ended (`endedWith`, the value `ended` completes with),
 * its unconfirmed writes and its heartbeat. Which connection is the client's
 * is the lifecycle's business (`Up.conn`), not the connection's. It is also
 * the transport's handlers and the heartbeat's timer entry, as methods: one
 * object per connection, not a closure per callback.
 */
export class Conn extends Ticker.TimerEntry implements Transport.Handlers {
  connection: Transport.Connection | undefined
  /** Where the socket lives (Effect's own `Scope.make`); closed when it ends. */
  scope: Scope.CloseableScope | undefined
  /** Why it ended; set once. */
  endedWith: JetSocketError | undefined
  /** Frames handed to the socket but not yet confirmed written, in order (made on the first tracked write). */
  inflight: Deque<Frame> | undefined
  /** Incoming frames are held (not delivered) until hooks ran / rotation finished. */
  holding = true
  /** The client is closing it on purpose (user close, rotation): its end is not an error. */
  closing = false
  /** The heartbeat runs on this connection (it is scheduled on the ticker). */
  heartbeat = false
  /** The heartbeat sent a ping and waits for its pong. */
  awaitingPong = false
  held: Array<Frame> | undefined
  /** When it opened (`Client.now`). */
  openedAt = 0
  pingSentAt: bigint | undefined
  /** `ping()` callers waiting for the next pong; failed with the error when the connection ends. */
  pongWaiters: Array<Deferred.Deferred<void, JetSocketError>> | undefined
  /** Backpressure pauses counted when that ping was sent. */
  pausesAtPing = 0
  /** Made when the supervisor starts waiting for the end. */
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

  /** The transport's end: the supervisor, waiting on `ended`, takes it from there. */
  onClose(error: JetSocketError): void {
    this.end(error)
  }

  /** The heartbeat's step (see `Liveness.beat`). */
  override run(): void {
    Liveness.beat(this.client, this)
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
