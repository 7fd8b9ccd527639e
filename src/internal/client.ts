import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import { identity } from "effect/Function"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Runtime from "effect/Runtime"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Intervals from "effect/ScheduleIntervals"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as Backoff from "../Backoff.js"
import * as Heartbeat from "../Heartbeat.js"
import type * as JetSocket from "../JetSocket.js"
import {
  BufferOverflowError,
  CallbackError,
  ConnectionRefusedError,
  ConnectionTimeoutError,
  InvalidMessageError,
  InvalidStateError,
  isJetSocketError,
  type JetSocketError
} from "../JetSocketError.js"
import { JetSocketEvent } from "../JetSocketEvent.js"
import * as MessageBuffer from "../MessageBuffer.js"
import * as Transport from "../Transport.js"
import * as Codec from "./codec.js"
import { Deque } from "./deque.js"
import { afterIo } from "./defer.js"
import * as Guard from "./guard.js"
import { LatencyRecorder } from "./latency.js"
import * as ReceiveBuffer from "./receiveBuffer.js"
import type { ReceiveBufferOptions } from "./receiveBuffer.js"
import { ClientMetrics } from "./metrics.js"
import * as Options from "./options.js"
import * as SharedRuntime from "./sharedRuntime.js"
import * as Ticker from "./ticker.js"

/** @internal */
export const TypeId: unique symbol = Symbol.for("jetsocket/JetSocket")

type State = JetSocket.ConnectionState
type Frame = Codec.Frame

const DEFAULTS = {
  maxMessageSize: 64 * 1024 * 1024,
  connectTimeout: Duration.seconds(10),
  closeTimeout: Duration.seconds(5),
  sendQueue: 1000,
  compressionThreshold: 1024,
  requestTimeout: Duration.seconds(30),
  // Events are rare; a sliding hub preallocates its slots, so keep it small (per client).
  eventCapacity: 128,
  /** Metrics are flushed to Effect's `Metric`s at most this often from the receive path. */
  metricsFlushMillis: 1000
}

const frameSize = (frame: Frame): number => (typeof frame === "string" ? frame.length : frame.byteLength)

/** A waiter for a request's reply. */
interface PendingRequest {
  readonly match: (message: any) => boolean
  readonly reply: Deferred.Deferred<any, JetSocketError>
  /** `resendOnReconnect`: the frame to send again on the next connection after a drop. */
  readonly resend: Frame | undefined
}

// Conn's flags
const HOLDING = 1
const RETIRING = 2
const HEARTBEAT = 4
const AWAITING_PONG = 8

/**
 * One live transport connection and what the client tracks about it. It is
 * also the transport's handlers and the heartbeat's timer entry, as prototype
 * methods: an idle connection costs one object here, not a closure per callback.
 */
class Conn extends Ticker.TimerEntry implements Transport.Handlers {
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
  /** The client closed it on purpose (user close, rotation): its end is not an error. */
  declare retiring: boolean
  /** The heartbeat runs on this connection (it is scheduled on the ticker). */
  declare heartbeat: boolean
  /** The heartbeat sent a ping and waits for its pong. */
  declare awaitingPong: boolean
  held: Array<Frame> | undefined
  /** When it opened, in the ticker's elapsed milliseconds (see `Client.elapsed`). */
  openedAt = 0
  pingSentAt: bigint | undefined
  /** `ping()` callers waiting for the next pong. */
  pongWaiters: Array<Deferred.Deferred<void>> | undefined
  /** Backpressure pauses counted when that ping was sent. */
  pausesAtPing = 0
  /** Made only for a fiber that waits for the end (rotation): a Deferred is ~600 B. */
  private endedSignal: Deferred.Deferred<JetSocketError> | undefined
  private writtenCallback: ((error?: Error) => void) | undefined
  constructor(private readonly client: Client<any>, readonly url: string) {
    super()
  }

  onMessage(data: Frame): void {
    this.client.receive(this, data)
  }

  onPong(): void {
    this.client.onPong(this)
  }

  onClose(error: JetSocketError): void {
    this.client.endConnection(this, error)
  }

  /** The heartbeat's step (see `Client.beat`). */
  override run(): void {
    this.client.beat(this)
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

  /** Records why it ended (once); `false` when it had already ended. */
  end(error: JetSocketError): boolean {
    if (this.endedWith !== undefined) return false
    this.endedWith = error
    if (this.endedSignal !== undefined) Deferred.unsafeDone(this.endedSignal, Exit.succeed(error))
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
  holding: flagAccessor(HOLDING),
  retiring: flagAccessor(RETIRING),
  heartbeat: flagAccessor(HEARTBEAT),
  awaitingPong: flagAccessor(AWAITING_PONG)
})

/**
 * The receive buffer's options and callbacks as one object with prototype
 * methods (one allocation per client, not one closure per callback).
 */
class BufferHooks implements ReceiveBufferOptions<JetSocketError> {
  readonly capacity: number
  readonly policy: MessageBuffer.OverflowPolicy
  readonly decodes: boolean
  constructor(
    private readonly client: Client<any>,
    config: { readonly capacity: number; readonly overflowPolicy: MessageBuffer.OverflowPolicy }
  ) {
    this.capacity = config.capacity
    this.policy = config.overflowPolicy
    this.decodes = client.decodeOnTake
  }
  decode(item: unknown): unknown {
    return this.client.decodeTaken(item)
  }
  onDrop() {
    this.client.bufferDropped()
  }
  onOverflow() {
    this.client.bufferOverflowed()
  }
  onPause() {
    this.client.bufferPause()
  }
  onResume() {
    this.client.bufferResume()
  }
  onTake() {
    this.client.bufferTaken()
  }
}

/** A value decoded on arrival (to answer a request) that still goes to the consumer. */
class Decoded {
  constructor(readonly value: unknown) {}
}

/**
 * What a client needs from where it was made: its transport, its clock, the
 * runtime its connecting fiber restarts in, and that runtime's ticker (whose
 * timer fiber runs in it too).
 * Clients made in a row by one fiber share one (as they share the runtime,
 * see internal/sharedRuntime.ts): one field on each instead of four.
 */
class Environment {
  constructor(
    readonly transport: Transport.Transport,
    readonly clock: Clock.Clock,
    readonly runtime: Runtime.Runtime<never>,
    readonly ticker: Ticker.Ticker
  ) {}
}

const environments = new WeakMap<Runtime.Runtime<never>, Environment>()

const environment = (transport: Transport.Transport, clock: Clock.Clock, runtime: Runtime.Runtime<never>, ticker: Ticker.Ticker): Environment => {
  const shared = environments.get(runtime)
  if (shared !== undefined && shared.transport === transport && shared.clock === clock && shared.ticker === ticker) return shared
  const made = new Environment(transport, clock, runtime, ticker)
  environments.set(runtime, made)
  return made
}

/** The reconnect schedule and where it is (kept across connecting fibers). */
interface ReconnectState {
  readonly policy: Backoff.ReconnectPolicy
  state: unknown
}

/** The dedup check: a message's key recorded in the window (made apart, so that it holds nothing else). */
const duplicates = <A>(key: (message: A) => unknown, window: MessageBuffer.DedupWindow) => (message: A): boolean =>
  window.seen(key(message))

/** Most clients replay nothing: one shared setting. */
const noReplay: MessageBuffer.ReplayConfig<any> = { mode: "none" }

class Client<A> implements JetSocket.JetSocket<A> {
  declare readonly [TypeId]: typeof TypeId

  // --- configuration
  private readonly codec: Codec.SyncCodec<A>
  /** Built on the first failure: a Schedule is a chain of closures, and most clients never need it. */
  private reconnectState: ReconnectState | undefined
  private readonly heartbeat: Heartbeat.Resolved | undefined
  /** With dedup configured: records a message's key, `true` when it was among the window's last keys. */
  private readonly isDuplicate: ((message: A) => boolean) | undefined
  /**
   * Frames are decoded by the consumer, a batch at a time, unless something
   * must see each value on arrival (an application pong, dedup, a replay
   * sequence key; pending requests are handled per message). JSON parsed in
   * one loop over a batch, right before use, is ~20 % faster than parsing in
   * the socket callback and keeping the objects queued (docs/performance.md).
   *
   * @internal
   */
  readonly decodeOnTake: boolean

  // Settings read from the options when used: rarely (connect, close, a full send queue), and
  // each a field fewer on every client.
  /** Read on an invalid message only. */
  private get strict(): boolean {
    return this.options.strict ?? true
  }
  private get reconnectEnabled(): boolean {
    return this.options.reconnect !== false
  }
  private get sendCapacity(): number {
    const option = this.options.sendQueue
    return option === false ? 0 : option ?? DEFAULTS.sendQueue
  }
  private get closeTimeout(): Duration.Duration {
    return Duration.decode(this.options.closeTimeout ?? DEFAULTS.closeTimeout)
  }
  private get connectTimeout(): Duration.Duration {
    return Duration.decode(this.options.connectTimeout ?? DEFAULTS.connectTimeout)
  }
  private get maxAge(): Duration.Duration | undefined {
    const option = this.options.maxConnectionAge
    return option === undefined ? undefined : Duration.decode(option)
  }
  private get replay(): MessageBuffer.ReplayConfig<A> {
    return this.options.replay ?? noReplay
  }

  // --- live state
  private stateNow: State = "Idle"
  private currentUrl: string
  private current: Conn | undefined
  /** Sends waiting for a connection (made on the first one that has to wait). */
  private queuedSends: Deque<Frame> | undefined
  // Made on first use: an idle connection should cost little more than its socket (see docs/performance.md).
  private pending: Set<PendingRequest> | undefined
  private hooks: Set<(context: JetSocket.ConnectContext) => Effect.Effect<void, JetSocketError>> | undefined
  private stateRef: SubscriptionRef.SubscriptionRef<State> | undefined
  /** The events hub: made for the first subscriber; `null` once the client closed (no more events). */
  private pubsub: PubSub.PubSub<JetSocketEvent> | null | undefined
  private lastSequenceId: unknown = undefined
  /** When the current full_buffer replay started (its ReplayCompleted reports the duration). */
  private replayStartedAt = 0
  private bufferPaused = false
  /** How many times backpressure paused reading (the heartbeat checks it). */
  private bufferPauses = 0
  private closing: Deferred.Deferred<void> | undefined
  private terminal: JetSocketError | undefined
  /** The connecting fiber: it runs from a drop (or the start) until a connection is up, then ends. */
  private supervisor: Fiber.RuntimeFiber<void, never> | undefined
  /**
   * A connection being opened or set up (not yet `current`). With `current`,
   * it is every socket the client may have open: the client has no `Scope` of
   * its own (~0.6 KiB per client), so `close` closes these two itself.
   */
  private opening: Conn | undefined
  /**
   * The connection that is up with no fiber waiting on it: its end (a
   * transport callback) starts the next connecting fiber.
   */
  private watched: Conn | undefined
  // The reconnect loop's state, kept across connecting fibers.
  private attempts = 0
  private outageStart = 0
  private everConnected = false
  private lastMetricsFlush = 0
  /** Dropped since the last `BufferOverflow` event; an event is due while it is above 0. */
  private droppedSinceEvent = 0

  // --- figures
  private messagesSent = 0
  private messagesReceived = 0
  private bytesSent = 0
  private bytesReceived = 0
  private reconnects = 0
  private deduplicated = 0
  private validationErrors = 0
  private latencyRecorder: LatencyRecorder | undefined
  private metrics: ClientMetrics | undefined

  /** Made on first use (a message, a consumer, the end): an idle client holds none (~0.2 KiB). */
  private receiveBuffer: MessageBuffer.ReceiveBuffer<A, JetSocketError> | undefined

  /** @internal The receive buffer. */
  get buffer(): MessageBuffer.ReceiveBuffer<A, JetSocketError> {
    return this.receiveBuffer ??= MessageBuffer.make<A, JetSocketError>(
      new BufferHooks(this, MessageBuffer.resolve(this.options.buffer))
    )
  }

  constructor(
    private readonly urlOption: JetSocket.JetSocket.Dynamic<string>,
    private readonly options: JetSocket.JetSocket.Options<A, any>,
    private readonly env: Environment,
    /**
     * Completed by the first connection (or the end before it); once done,
     * replaced by how it ended (a settled Deferred holds far more).
     */
    private firstOpen: Deferred.Deferred<void, JetSocketError> | Exit.Exit<void, JetSocketError>
  ) {
    const base = Codec.fromOption(options.codec as Codec.CodecOption<unknown> | undefined)
    this.codec = options.schema === undefined
      ? (base as Codec.SyncCodec<A>)
      : Codec.withSchema(base, options.schema)
    this.heartbeat = Heartbeat.resolve(options.heartbeat)
    // Validated now (a bad capacity fails the connect), kept only as the buffer made on first use.
    const bufferConfig = MessageBuffer.resolve(options.buffer)
    // Read from the options when needed (not kept per client), decoded now so that a bad one fails the connect.
    void this.closeTimeout
    void this.connectTimeout
    void this.maxAge
    const dedup = bufferConfig.dedup
    this.isDuplicate = dedup === undefined ? undefined : duplicates(dedup.key, MessageBuffer.makeDedupWindow(dedup.window))
    this.currentUrl = typeof urlOption === "string" ? urlOption : "<dynamic>"
    this.decodeOnTake = this.heartbeat?.application === undefined && this.isDuplicate === undefined &&
      this.replay.sequenceKey === undefined
  }

  /** @internal the receive buffer's callbacks (see `BufferHooks`) */
  bufferDropped(): void {
    // Coalesce: one event per burst (everything dropped in this turn of the event loop),
    // scheduled by the burst's first drop.
    if (this.droppedSinceEvent++ > 0) return
    afterIo(() => {
      const dropped = this.droppedSinceEvent
      this.droppedSinceEvent = 0
      this.publish(JetSocketEvent.BufferOverflow({ timestamp: this.now(), dropped, policy: this.buffer.policy }))
    })
  }

  /** @internal */
  bufferOverflowed(): void {
    this.endConnection(this.current, new BufferOverflowError({ capacity: this.buffer.capacity, buffer: "receive" }))
  }

  /** @internal */
  bufferPause(): void {
    this.bufferPaused = true
    this.bufferPauses++
    this.current?.connection?.pause()
  }

  /** @internal */
  bufferResume(): void {
    this.bufferPaused = false
    this.current?.connection?.resume()
  }

  /** @internal */
  bufferTaken(): void {
    if (this.elapsed() - this.lastMetricsFlush >= DEFAULTS.metricsFlushMillis) this.flushMetrics()
  }

  get ready(): Effect.Effect<void, JetSocketError> {
    const first = this.firstOpen
    return Exit.isExit(first) ? first : Deferred.await(first)
  }

  // ---------------------------------------------------------------- helpers

  private get policy(): Backoff.ReconnectPolicy {
    return this.backoff().policy
  }

  /** The reconnect schedule and its state, made on the first failure. */
  private backoff(): ReconnectState {
    if (this.reconnectState === undefined) {
      const policy = Backoff.policy(this.options.reconnect)
      this.reconnectState = { policy, state: policy.schedule.initial }
    }
    return this.reconnectState
  }

  /** Epoch milliseconds: event timestamps. */
  private now(): number {
    return this.env.clock.unsafeCurrentTimeMillis()
  }

  /**
   * Milliseconds since the ticker (one per `Clock`) was made: the times a
   * client keeps (open, outage start, last flush) as small integers, not a
   * heap number per field (see `Ticker.elapsed`).
   */
  private elapsed(): number {
    return this.env.ticker.elapsed()
  }

  private publish(event: JetSocketEvent): void {
    // No hub yet means no subscriber: nobody can miss the event. Late callbacks
    // (a pong, a drop) may arrive after close shut the hub down: ignore them.
    if (this.pubsub === undefined || this.pubsub === null) return
    Effect.runSync(PubSub.publish(this.pubsub, event))
  }

  /** The events hub, made for the first subscriber (never called once closed). */
  private hub(): PubSub.PubSub<JetSocketEvent> {
    return this.pubsub ??= Effect.runSync(PubSub.sliding<JetSocketEvent>(DEFAULTS.eventCapacity))
  }

  private setState(state: State): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.stateNow === state) return Effect.void
      this.stateNow = state
      this.flushMetrics()
      return this.stateRef === undefined ? Effect.void : SubscriptionRef.set(this.stateRef, state)
    })
  }

  private flushMetrics(): void {
    this.lastMetricsFlush = this.elapsed()
    // Nothing happened yet (an idle client): no metrics state to keep.
    if (this.metrics === undefined && this.messagesSent + this.messagesReceived + this.reconnects + this.validationErrors === 0 && this.droppedSoFar() === 0) return
    ;(this.metrics ??= new ClientMetrics(this.currentUrl)).flush(this)
  }

  private droppedSoFar(): number {
    return this.receiveBuffer === undefined ? 0 : this.receiveBuffer.dropped()
  }

  private latencies(): LatencyRecorder {
    return this.latencyRecorder ??= new LatencyRecorder()
  }



  /**
   * The error that ends the client when `error` is fatal (built in, or by
   * `shouldReconnect`), else `undefined`. A `shouldReconnect` that throws ends
   * the client with a `CallbackError` naming it.
   */
  private fatalError(error: JetSocketError): JetSocketError | undefined {
    if (error.fatal) return error
    const predicate = this.options.shouldReconnect
    if (predicate === undefined) return undefined
    const verdict = Guard.call("shouldReconnect", () => predicate(error))
    return verdict instanceof CallbackError ? verdict : verdict ? undefined : error
  }

  // ------------------------------------------------------------ receive path

  /** @internal The transport callback (via `Conn`): the start of the hot path. */
  receive(conn: Conn, frame: Frame): void {
    if (conn.endedWith !== undefined && !conn.retiring) return
    if (conn.holding) {
      const held = conn.held ??= []
      held.push(frame)
      // Holding is short (hooks, rotation); still, never hold more than a buffer's worth.
      if (held.length === this.buffer.capacity) conn.connection?.pause()
      return
    }
    this.deliver(conn, frame)
  }

  private deliver(conn: Conn, frame: Frame): void {
    this.messagesReceived++
    this.bytesReceived += frameSize(frame)
    // Nothing needs the value now: queue the frame, the consumer decodes its batch (see `decodeTaken`).
    if (this.decodeOnTake && (this.pending === undefined || this.pending.size === 0)) {
      this.buffer.offer(frame as A)
      return
    }
    const value = this.codec.decode(frame)
    if (value instanceof InvalidMessageError) return this.invalid(value, conn)
    // Which user callback runs (a constant per step): a throw ends the client naming it.
    let callback = "heartbeat.pongMatcher"
    try {
      const heartbeat = this.heartbeat?.application
      if (heartbeat !== undefined) {
        if (heartbeat.pongMatcher === undefined) this.onPong(conn)
        else if (heartbeat.pongMatcher(value)) return this.onPong(conn)
      }
      if (this.pending !== undefined && this.pending.size > 0 && this.answer(value)) return
      callback = "buffer.dedup.key"
      if (this.isDuplicate !== undefined && this.isDuplicate(value)) {
        this.deduplicated++
        return
      }
      callback = "replay.sequenceKey"
      const sequenceKey = this.replay.sequenceKey
      if (sequenceKey !== undefined) this.lastSequenceId = sequenceKey(value)
    } catch (cause) {
      // Never an exception out of the socket callback: the client ends with the error, in order.
      return this.callbackFailed(conn, new CallbackError({ callback, cause }))
    }
    this.buffer.offer(this.decodeOnTake ? (new Decoded(value) as A) : value)
  }

  /** @internal The receive buffer's `decode`: what the consumer gets for a queued item. */
  decodeTaken(item: unknown): unknown {
    if (item instanceof Decoded) return item.value
    const value = this.codec.decode(item as Frame)
    if (!(value instanceof InvalidMessageError)) return value
    const threw = Codec.threw(value)
    if (threw !== undefined) {
      this.callbackFailed(this.current, threw)
      return ReceiveBuffer.failure(threw)
    }
    if (this.strict) return ReceiveBuffer.failure(value)
    this.skipInvalid(value)
    return ReceiveBuffer.skip
  }

  private invalid(error: InvalidMessageError, conn: Conn): void {
    const threw = Codec.threw(error)
    if (threw !== undefined) return this.callbackFailed(conn, threw)
    if (this.strict) return this.buffer.offerFailure(error)
    this.skipInvalid(error)
  }

  /**
   * A user callback threw on the receive path: the client ends with the
   * `CallbackError` (fatal: the connection ends, and the reconnect loop fails
   * `ready`, `messages` and pending requests with it), like a receive overflow.
   */
  private callbackFailed(conn: Conn | undefined, error: CallbackError): void {
    // A connection being retired (rotation) no longer matters: end the one in use.
    const target = conn !== undefined && conn.retiring ? this.current : conn
    if (target !== undefined && target.endedWith === undefined) return this.endConnection(target, error)
    // No live connection to end (it ended meanwhile): the error must still reach the consumer.
    if (this.terminal === undefined && this.closing === undefined) this.buffer.fail(error)
  }

  /** `strict: false`: an invalid message is counted, reported and left out. */
  private skipInvalid(error: InvalidMessageError): void {
    this.validationErrors++
    this.publish(JetSocketEvent.ValidationError({ timestamp: this.now(), error }))
  }

  private answer(value: A): boolean {
    for (const request of this.pending!) {
      let matched: boolean
      try {
        matched = request.match(value)
      } catch (cause) {
        // A throwing matcher fails its own request (the caller's call), not the client.
        this.pending!.delete(request)
        Deferred.unsafeDone(request.reply, Exit.fail(new CallbackError({ callback: "request match", cause })))
        continue
      }
      if (!matched) continue
      this.pending!.delete(request)
      Deferred.unsafeDone(request.reply, Exit.succeed(value))
      return true
    }
    return false
  }

  /** @internal A pong arrived (via `Conn`). */
  onPong(conn: Conn): void {
    const sentAt = conn.pingSentAt
    if (sentAt === undefined) return
    conn.pingSentAt = undefined
    const latency = Duration.nanos(this.env.clock.unsafeCurrentTimeNanos() - sentAt)
    this.latencies().record(latency)
    ;(this.metrics ??= new ClientMetrics(this.currentUrl)).latency(latency)
    const waiters = conn.pongWaiters
    conn.pongWaiters = undefined
    if (waiters !== undefined) for (const waiter of waiters) Deferred.unsafeDone(waiter, Exit.void)
    if (conn.awaitingPong) {
      conn.awaitingPong = false
      if (conn.heartbeat && conn.endedWith === undefined) {
        this.env.ticker.schedule(conn, Duration.toMillis(this.heartbeat!.interval))
      }
    }
    this.publish(JetSocketEvent.Pong({ timestamp: this.now(), latency }))
  }

  /**
   * @internal Ends a connection (at most once) and tells whoever waits why. A
   * connection that is up with no fiber waiting on it starts the connecting
   * fiber here.
   */
  endConnection(conn: Conn | undefined, error: JetSocketError): void {
    if (conn === undefined || !conn.end(error)) return
    if (conn.heartbeat) this.env.ticker.cancel(conn)
    if (conn === this.watched) {
      this.watched = undefined
      if (!conn.retiring && this.closing === undefined) this.startSupervisor(this.connectLoop([conn, error]))
    }
  }

  /** Starts the connecting fiber (closing the client interrupts it). */
  private startSupervisor(effect: Effect.Effect<void>): void {
    const fiber = Runtime.runFork(this.env.runtime)(effect, { immediate: false })
    this.supervisor = fiber
    // A finished fiber holds its whole state: let it go.
    fiber.addObserver((exit) => {
      if (this.supervisor === fiber) this.supervisor = undefined
      // It died (a bug, not a user callback: those are guarded): settle `ready`, `messages`
      // and pending requests rather than leave them waiting forever.
      if (Exit.isFailure(exit) && !Exit.isInterrupted(exit) && this.terminal === undefined && this.closing === undefined) {
        const error = new InvalidStateError({ state: this.stateNow, operation: "connect", cause: Cause.squash(exit.cause) })
        Runtime.runFork(this.env.runtime)(this.fail(error))
      }
    })
  }

  // --------------------------------------------------------------- send path

  /**
   * Writes a frame. Tracked frames are re-sent on the next connection if this
   * socket dies before confirming them; connection-scoped ones (subscribe
   * messages a connect hook re-sends anyway) are not.
   */
  private write(conn: Conn, frame: Frame, track = true): void {
    this.messagesSent++
    this.bytesSent += frameSize(frame)
    if (track) {
      ;(conn.inflight ??= new Deque()).push(frame)
      conn.connection!.send(frame, conn.onWritten)
    } else {
      conn.connection!.send(frame)
    }
  }

  private trySend(frame: Frame, queue: boolean, track = true): JetSocketError | undefined {
    if (this.terminal !== undefined || this.closing !== undefined) {
      return new InvalidStateError({ state: this.stateNow, operation: "send" })
    }
    const conn = this.current
    if (!queue) {
      if (conn === undefined || !conn.connection!.isOpen()) return new InvalidStateError({ state: this.stateNow, operation: "send" })
      this.write(conn, frame, false)
      return undefined
    }
    const queued = this.queuedSends
    if (conn !== undefined && (queued === undefined || queued.length === 0) && conn.connection!.isOpen()) {
      this.write(conn, frame, track)
      return undefined
    }
    if (this.sendCapacity === 0) return new InvalidStateError({ state: this.stateNow, operation: "send" })
    if (queued !== undefined && queued.length >= this.sendCapacity) {
      return new BufferOverflowError({ capacity: this.sendCapacity, buffer: "send" })
    }
    ;(this.queuedSends ??= new Deque()).push(frame)
    return undefined
  }

  private sendFrame(frame: Frame | InvalidMessageError, options: JetSocket.SendOptions | undefined): Effect.Effect<void, JetSocketError> {
    if (frame instanceof InvalidMessageError) return Effect.fail(Codec.threw(frame) ?? frame)
    const error = this.trySend(frame, options?.queue ?? true)
    return error === undefined ? Effect.void : Effect.fail(error)
  }

  // The functions users may pass around detached (`Effect.forEach(xs, ws.send)`) are
  // bound closures, made on first access rather than per client up front.
  // With them, `take`: the `recv()` description (one per client, see `receiveOne`).
  private boundFunctions: Partial<Record<"send" | "sendText" | "sendBinary" | "recv" | "take" | "request" | "ping" | "close" | "onConnect", any>> | undefined

  private get bound(): Partial<Record<"send" | "sendText" | "sendBinary" | "recv" | "take" | "request" | "ping" | "close" | "onConnect", any>> {
    return this.boundFunctions ??= {}
  }

  get send(): (message: A, options?: JetSocket.SendOptions) => Effect.Effect<void, JetSocketError> {
    return this.bound.send ??= (message: A, options?: JetSocket.SendOptions) =>
      Effect.suspend(() => this.sendFrame(this.codec.encode(message), options))
  }

  get sendText(): (text: string, options?: JetSocket.SendOptions) => Effect.Effect<void, JetSocketError> {
    return this.bound.sendText ??= (text: string, options?: JetSocket.SendOptions) =>
      Effect.suspend(() => this.sendFrame(text, options))
  }

  get sendBinary(): (bytes: Uint8Array, options?: JetSocket.SendOptions) => Effect.Effect<void, JetSocketError> {
    return this.bound.sendBinary ??= (bytes: Uint8Array, options?: JetSocket.SendOptions) =>
      Effect.suspend(() => this.sendFrame(bytes, options))
  }

  /** Writes the queued sends (and what the previous socket never wrote), then opens the gate. */
  private flushSendQueue(conn: Conn): number {
    const frames = this.queuedSends === undefined ? [] : this.queuedSends.drain()
    for (const frame of frames) this.write(conn, frame)
    return frames.length
  }

  // ----------------------------------------------------------- receive side

  get messages(): Stream.Stream<A, JetSocketError> {
    return this.buffer.stream
  }

  get recv(): (options?: JetSocket.JetSocket.RecvOptions) => Effect.Effect<A, JetSocketError> {
    return this.bound.recv ??= (options?: JetSocket.JetSocket.RecvOptions) => this.receiveOne(options)
  }

  private receiveOne(options?: JetSocket.JetSocket.RecvOptions): Effect.Effect<A, JetSocketError> {
    // One description per client, made on first use: a one-at-a-time reader allocates nothing per call.
    const take: Effect.Effect<A, JetSocketError> = this.bound.take ??= this.buffer.recv(() => new InvalidStateError({ state: this.stateNow, operation: "recv" }))
    if (options?.timeout === undefined) return take
    const invalid = Options.timeout("recv timeout", options.timeout)
    if (invalid !== undefined) return Effect.die(invalid)
    const timeout = Duration.decode(options.timeout)
    return Effect.timeoutFail(take, {
      duration: timeout,
      onTimeout: () => new ConnectionTimeoutError({ operation: "recv", timeout, url: this.currentUrl })
    })
  }

  get request(): (message: A, options: JetSocket.JetSocket.RequestOptions<A>) => Effect.Effect<A, JetSocketError> {
    return this.bound.request ??= (message: A, options: JetSocket.JetSocket.RequestOptions<A>) =>
      Effect.suspend(() => {
        if (this.terminal !== undefined) return Effect.fail(this.terminal)
        const invalidTimeout = Options.timeout("request timeout", options.timeout)
        if (invalidTimeout !== undefined) return Effect.die(invalidTimeout)
        const timeout = Duration.decode(options.timeout ?? DEFAULTS.requestTimeout)
        const frame = this.codec.encode(message)
        if (frame instanceof InvalidMessageError) return Effect.fail(Codec.threw(frame) ?? frame)
        const request: PendingRequest = {
          match: options.match,
          reply: Deferred.unsafeMake(FiberId.none),
          resend: options.resendOnReconnect === true ? frame : undefined
        }
        const pending = this.pending ??= new Set()
        pending.add(request)
        // Written untracked: a drop fails (or re-sends, on request) the request itself, so the send
        // queue must not also re-send its message on the next connection.
        const sent = this.trySend(frame, true, false)
        if (sent !== undefined) {
          pending.delete(request)
          return Effect.fail(sent)
        }
        return Deferred.await(request.reply as Deferred.Deferred<A, JetSocketError>).pipe(
          Effect.timeoutFail({
            duration: timeout,
            onTimeout: () => new ConnectionTimeoutError({ operation: "request", timeout, url: this.currentUrl })
          }),
          Effect.ensuring(Effect.sync(() => pending.delete(request)))
        )
      })
  }

  get ping(): (options?: { readonly timeout?: Duration.DurationInput }) => Effect.Effect<Duration.Duration, JetSocketError> {
    return this.bound.ping ??= (options?: { readonly timeout?: Duration.DurationInput }) => this.pingOnce(options)
  }

  private pingOnce(options?: { readonly timeout?: Duration.DurationInput }): Effect.Effect<Duration.Duration, JetSocketError> {
    return Effect.suspend((): Effect.Effect<Duration.Duration, JetSocketError> => {
      const conn = this.current
      if (conn === undefined || !conn.connection!.isOpen()) {
        return Effect.fail(new InvalidStateError({ state: this.stateNow, operation: "ping" }))
      }
      const invalid = Options.timeout("ping timeout", options?.timeout)
      if (invalid !== undefined) return Effect.die(invalid)
      const timeout = Duration.decode(options?.timeout ?? this.heartbeat?.timeout ?? Heartbeat.defaults.timeout)
      const started = this.env.clock.unsafeCurrentTimeNanos()
      const waiter = Deferred.unsafeMake<void>(FiberId.none)
      ;(conn.pongWaiters ??= []).push(waiter)
      this.sendPing(conn)
      return Deferred.await(waiter).pipe(
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () => new ConnectionTimeoutError({ operation: "pong", timeout, url: conn.url })
        }),
        Effect.map(() => Duration.nanos(this.env.clock.unsafeCurrentTimeNanos() - started))
      )
    })
  }

  private sendPing(conn: Conn): void {
    conn.pingSentAt ??= this.env.clock.unsafeCurrentTimeNanos()
    const application = this.heartbeat?.application
    const connection = conn.connection!
    if (application === undefined && connection.canPing) {
      connection.ping()
    } else if (application !== undefined) {
      const frame = Codec.fromOption("json").encode(application.payload)
      if (!(frame instanceof InvalidMessageError) && connection.isOpen()) this.write(conn, frame, false)
    }
    this.publish(JetSocketEvent.Ping({ timestamp: this.now() }))
  }

  // ------------------------------------------------------------- state, events

  // Effects and streams are descriptions: made per access, not held by every client.
  get url(): Effect.Effect<string> {
    return Effect.sync(() => this.currentUrl)
  }

  get state(): Effect.Effect<State> {
    return Effect.sync(() => this.stateNow)
  }

  get stateChanges(): Stream.Stream<State> {
    return Stream.suspend(() => (this.stateRef ??= Effect.runSync(SubscriptionRef.make(this.stateNow))).changes).pipe(
      Stream.takeUntil((state) => state === "Closed" || state === "Failed")
    )
  }

  get events(): Stream.Stream<JetSocketEvent> {
    return Stream.suspend(() => (this.pubsub === null ? Stream.empty : Stream.fromPubSub(this.hub())))
  }

  get subscribeEvents(): Effect.Effect<Stream.Stream<JetSocketEvent>, never, Scope.Scope> {
    return Effect.suspend(() =>
      this.pubsub === null ? Effect.succeed(Stream.empty) : Stream.fromPubSub(this.hub(), { scoped: true })
    )
  }

  get latency(): Effect.Effect<Option.Option<Duration.Duration>> {
    return Effect.sync(() => this.latencies().last)
  }

  get stats(): Effect.Effect<JetSocket.ConnectionStats> {
    return Effect.sync(() => this.snapshot())
  }

  private snapshot(): JetSocket.ConnectionStats {
    this.flushMetrics()
    const size = this.buffer.size()
    const conn = this.current
    return {
      state: this.stateNow,
      url: this.currentUrl,
      messagesSent: this.messagesSent,
      messagesReceived: this.messagesReceived,
      bytesSent: this.bytesSent,
      bytesReceived: this.bytesReceived,
      reconnects: this.reconnects,
      uptime: conn === undefined || this.stateNow !== "Connected" ? Duration.zero : Duration.millis(this.elapsed() - conn.openedAt),
      lastLatency: this.latencies().last,
      averageLatency: this.latencies().average,
      latencyHistogram: this.latencies().histogram(),
      bufferSize: size,
      bufferCapacity: this.buffer.capacity,
      bufferFillRatio: size / this.buffer.capacity,
      dropped: this.buffer.dropped(),
      deduplicated: this.deduplicated,
      validationErrors: this.validationErrors,
      sendQueueSize: this.queuedSends?.length ?? 0
    }
  }

  /** @internal figures read by the metrics flusher */
  counters() {
    return {
      messagesSent: this.messagesSent,
      messagesReceived: this.messagesReceived,
      bytesSent: this.bytesSent,
      bytesReceived: this.bytesReceived,
      reconnects: this.reconnects,
      dropped: this.droppedSoFar(),
      validationErrors: this.validationErrors
    }
  }

  get onConnect(): (
    hook: (context: JetSocket.ConnectContext) => Effect.Effect<void, JetSocketError>
  ) => Effect.Effect<void, never, Scope.Scope> {
    return this.bound.onConnect ??= (hook: (context: JetSocket.ConnectContext) => Effect.Effect<void, JetSocketError>) =>
      Effect.acquireRelease(
        Effect.sync(() => (this.hooks ??= new Set()).add(hook)),
        () => Effect.sync(() => this.hooks!.delete(hook))
      )
  }

  // ------------------------------------------------------------- connecting

  private resolveDynamic<T>(value: JetSocket.JetSocket.Dynamic<T> | undefined, what: string): Effect.Effect<T | undefined, JetSocketError> {
    if (!Effect.isEffect(value)) return Effect.succeed(value as T | undefined)
    // A defect in the user's Effect is a CallbackError naming it; a failure, a refused connect (retried).
    return Guard.effect(what, () => value as Effect.Effect<T, unknown>).pipe(
      Effect.mapError((error) =>
        isJetSocketError(error)
          ? error
          : new ConnectionRefusedError({ reason: `the ${what} Effect failed: ${String(error)}`, fatal: false, cause: error })
      )
    )
  }

  private compression(): false | { readonly threshold: number } {
    const option = this.options.compression
    if (option === undefined || option === false) return false
    return option === true ? { threshold: DEFAULTS.compressionThreshold } : option
  }

  /** One connect attempt. The connection lives in its own scope, closed when it ends. */
  private attempt(attempt: number): Effect.Effect<Conn, JetSocketError> {
    return Effect.gen(this, function*() {
      const url = (yield* this.resolveDynamic(this.urlOption, "url"))!
      const headers = (yield* this.resolveDynamic(this.options.headers, "headers")) ?? {}
      const protocolsOption = yield* this.resolveDynamic(this.options.protocols, "protocols")
      const protocols = protocolsOption === undefined ? [] : typeof protocolsOption === "string" ? [protocolsOption] : protocolsOption
      this.currentUrl = url
      this.publish(JetSocketEvent.Connecting({ timestamp: this.now(), url, attempt }))
      const connectTimeout = this.connectTimeout
      const conn = new Conn(this, url)
      // Its own scope, not a child of another: nothing else holds it, and `close` reaches it through `opening`.
      const scope = yield* Scope.make()
      conn.scope = scope
      this.opening = conn
      const transport = this.env.transport
      const connection = yield* Guard.effect("Transport.connect", () => transport.connect({
        url,
        headers,
        protocols,
        compression: this.compression(),
        maxMessageSize: this.options.maxMessageSize ?? DEFAULTS.maxMessageSize,
        connectTimeout,
        tls: this.options.tls,
        agent: this.options.agent,
        handlers: conn
      })).pipe(
        // Most transports time the handshake out themselves with a timer; racing it here costs a fiber per attempt.
        this.env.transport.enforcesConnectTimeout === true ? identity : Effect.timeoutFail({
          duration: connectTimeout,
          onTimeout: () => new ConnectionTimeoutError({ operation: "connect", timeout: connectTimeout, url })
        }),
        Scope.extend(scope),
        Effect.onError(() => this.dispose(conn)),
        Effect.withSpan("jetsocket.connect", { attributes: { "jetsocket.url": url, "jetsocket.attempt": attempt } })
      )
      conn.connection = connection
      conn.openedAt = this.elapsed()
      if (this.bufferPaused) connection.pause()
      // Without ping frames (browsers) only an application ping can prove liveness.
      const heartbeat = this.heartbeat
      if (heartbeat !== undefined && (connection.canPing || heartbeat.application !== undefined)) {
        conn.heartbeat = true
        this.env.ticker.schedule(conn, Duration.toMillis(heartbeat.interval))
      }
      return conn
    })
  }

  /** Closes an ended connection's scope (the socket is released, nothing of it stays behind). */
  private dispose(conn: Conn): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.opening === conn) this.opening = undefined
      return conn.scope === undefined ? Effect.void : Scope.close(conn.scope, Exit.void)
    })
  }


  /**
   * @internal One heartbeat step, run by the ticker: send a ping (the next step is the
   * pong's deadline), or, at the deadline, judge. A pong reschedules the next
   * ping (see `onPong`).
   */
  beat(conn: Conn): void {
    const config = this.heartbeat!
    if (conn.endedWith !== undefined) return
    if (!conn.awaitingPong) {
      this.flushMetrics()
      conn.awaitingPong = true
      conn.pausesAtPing = this.bufferPauses
      this.sendPing(conn)
      this.env.ticker.schedule(conn, Duration.toMillis(config.timeout))
      return
    }
    // The deadline passed; let pending socket input (a pong that arrived while
    // the event loop was blocked) be processed before judging.
    afterIo(() => {
      if (conn.endedWith !== undefined || !conn.awaitingPong) return
      // Backpressure paused reading meanwhile: the pong may be queued unread
      // behind the backlog, so its absence proves nothing.
      if (this.bufferPaused || this.bufferPauses !== conn.pausesAtPing) {
        conn.awaitingPong = false
        conn.pingSentAt = undefined
        this.env.ticker.schedule(conn, Duration.toMillis(config.interval))
        return
      }
      const error = new ConnectionTimeoutError({ operation: "pong", timeout: config.timeout, url: conn.url })
      this.publish(JetSocketEvent.Error({ timestamp: this.now(), error, fatal: false }))
      this.endConnection(conn, error)
    })
  }

  /** Closes a connection gracefully and waits for it; never fails. */
  private retire(conn: Conn, code: number, reason: string): Effect.Effect<void> {
    return Effect.suspend(() => {
      conn.retiring = true
      const connection = conn.connection
      // Reading paused by backpressure (or holding) would leave the peer's close frame unread behind
      // the backlog until `closeTimeout`: read again, so the handshake completes within a round trip.
      connection?.resume()
      const close = connection === undefined ? Effect.void : connection.close(code, reason, this.closeTimeout)
      return close.pipe(
        // Even when interrupted mid-handshake: the socket must not outlive the client.
        Effect.ensuring(this.dispose(conn)),
        Effect.ensuring(Effect.sync(() => this.endConnection(conn, new InvalidStateError({ state: "Closed", operation: "receive" }))))
      )
    })
  }

  /** What connect hooks get: connection-scoped writes straight to `conn` (never queued, never re-sent). */
  private directContext(conn: Conn, reconnected: boolean): JetSocket.ConnectContext {
    return {
      reconnected,
      send: (message) =>
        Effect.suspend(() => {
          const frame = this.codec.encode(message as A)
          if (frame instanceof InvalidMessageError) return Effect.fail(Codec.threw(frame) ?? frame)
          this.write(conn, frame, false)
          return Effect.void
        }),
      sendText: (text) => Effect.sync(() => this.write(conn, text, false))
    }
  }

  /** Runs hooks and replay on a new connection, flushes the send queue, then lets messages flow. */
  private activate(conn: Conn, reconnected: boolean): Effect.Effect<void, JetSocketError> {
    return Effect.gen(this, function*() {
      const direct = this.directContext(conn, reconnected)
      if (reconnected) {
        for (const hook of this.hooks ?? []) yield* Guard.effect("onConnect hook", () => hook(direct))
        yield* this.runReplay(direct)
      }
      // Atomically: flush queued sends, then make this the current connection.
      this.current = conn
      this.opening = undefined
      const flushed = this.flushSendQueue(conn)
      if (reconnected && this.replay.mode === "full_buffer") {
        const now = this.now()
        this.publish(JetSocketEvent.ReplayCompleted({ timestamp: now, replayed: flushed, duration: Duration.millis(now - this.replayStartedAt) }))
      }
      this.release(conn)
    })
  }

  private runReplay(context: JetSocket.ConnectContext): Effect.Effect<void, JetSocketError> {
    return Effect.gen(this, function*() {
      if (this.replay.mode === "full_buffer") {
        this.replayStartedAt = this.now()
        this.publish(JetSocketEvent.ReplayStarted({ timestamp: this.replayStartedAt, mode: "full_buffer" }))
        return
      }
      if (this.replay.mode !== "sequence_id" || this.replay.onReplay === undefined) return
      const started = this.now()
      const lastSequenceId = this.lastSequenceId
      this.publish(JetSocketEvent.ReplayStarted({ timestamp: started, mode: "sequence_id", lastSequenceId }))
      const onReplay = this.replay.onReplay
      const replayed = yield* Guard.effect("replay.onReplay", () => onReplay(lastSequenceId, (message) => Effect.orDie(context.send(message)))).pipe(
        Effect.mapError((error) =>
          isJetSocketError(error)
            ? error
            : new InvalidMessageError({ reason: `onReplay failed: ${String(error)}`, preview: "", cause: error })
        )
      )
      this.publish(
        JetSocketEvent.ReplayCompleted({
          timestamp: this.now(),
          replayed: typeof replayed === "number" ? replayed : 0,
          duration: Duration.millis(this.now() - started)
        })
      )
    })
  }

  /** Delivers what a connection held while it was being set up. */
  private release(conn: Conn): void {
    const held = conn.held
    conn.held = undefined
    conn.holding = false
    if (held !== undefined) for (const frame of held) this.deliver(conn, frame)
    if (!this.bufferPaused) conn.connection?.resume()
  }

  // ------------------------------------------------------------- supervisor

  /** Steps the reconnect schedule with the error: the delay before the next attempt, or none when it is exhausted. */
  private step(error: JetSocketError): Effect.Effect<Option.Option<Duration.Duration>> {
    return Effect.gen(this, function*() {
      const schedule = this.policy.schedule
      const now = yield* Clock.currentTimeMillis
      const backoff = this.backoff()
      const [state, , decision] = yield* schedule.step(now, error, backoff.state)
      backoff.state = state
      if (ScheduleDecision.isDone(decision)) return Option.none<Duration.Duration>()
      return Option.some(Duration.millis(Math.max(0, Intervals.start(decision.intervals) - now)))
    })
  }

  /** After a failure: back off, or give up. `true` to try again. */
  private backOff(error: JetSocketError): Effect.Effect<boolean> {
    return Effect.gen(this, function*() {
      const fatal = this.fatalError(error)
      if (fatal !== undefined || !this.reconnectEnabled) {
        yield* this.fail(fatal ?? error)
        return false
      }
      this.publish(JetSocketEvent.Error({ timestamp: this.now(), error, fatal: false }))
      const delay = yield* this.step(error)
      if (Option.isNone(delay)) {
        yield* this.fail(error)
        return false
      }
      yield* this.setState("BackingOff")
      this.publish(JetSocketEvent.Reconnecting({ timestamp: this.now(), attempt: this.attempts + 1, delay: delay.value }))
      yield* Effect.sleep(delay.value)
      return true
    })
  }

  /** A connection that was up ended: report it, re-queue what it never confirmed. `true` to reconnect. */
  private afterDrop(last: Conn, ended: JetSocketError): Effect.Effect<boolean> {
    return Effect.gen(this, function*() {
      yield* this.dispose(last)
      if (this.closing !== undefined) return false
      const droppedAt = this.now()
      this.current = undefined
      const unconfirmed = last.unconfirmed()
      if (unconfirmed.length > 0) (this.queuedSends ??= new Deque()).unshiftAll(unconfirmed)
      // A reply can only come on the connection the request went out on: fail at once, not at its timeout.
      this.pendingAfterDrop(ended)
      const code = ended._tag === "ConnectionClosedError" ? ended.code : ended._tag === "InvalidFrameError" ? ended.closeCode : 1006
      const reason = ended._tag === "ConnectionClosedError" ? ended.reason : ended.message
      this.publish(JetSocketEvent.Disconnected({ timestamp: droppedAt, code, reason }))
      yield* this.setState("Disconnected")
      this.outageStart = this.elapsed()
      this.attempts = 0
      if (this.outageStart - last.openedAt >= Duration.toMillis(this.policy.resetAfter) && this.reconnectEnabled && this.fatalError(ended) === undefined) {
        // A stable connection: this outage starts afresh, and reconnects at once.
        const backoff = this.backoff()
        backoff.state = backoff.policy.schedule.initial
        this.publish(JetSocketEvent.Error({ timestamp: droppedAt, error: ended, fatal: false }))
        return true
      }
      return yield* this.backOff(ended)
    })
  }

  /**
   * The connecting fiber: attempts (backing off between them) until a
   * connection is up and set up, then ends. No fiber waits on a connection
   * that is up (an idle client holds no fiber): its end, a transport
   * callback, starts this again through `afterDrop`. With
   * `maxConnectionAge` the fiber stays, to rotate the connection in time.
   */
  private connectLoop(drop?: readonly [Conn, JetSocketError]): Effect.Effect<void> {
    return Effect.gen(this, function*() {
      let dropped = drop
      while (true) {
        if (dropped !== undefined) {
          if (!(yield* this.afterDrop(dropped[0], dropped[1]))) return
          dropped = undefined
        }
        this.attempts++
        yield* this.setState(this.everConnected ? "Reconnecting" : "Connecting")
        const result = yield* Effect.either(this.attempt(this.attempts))
        if (result._tag === "Left") {
          if (yield* this.backOff(result.left)) continue
          return
        }
        const conn = result.right
        const activated = yield* Effect.either(this.activate(conn, this.everConnected))
        if (activated._tag === "Left") {
          this.endConnection(conn, activated.left)
          yield* this.dispose(conn)
          if (yield* this.backOff(activated.left)) continue
          return
        }
        yield* this.setState("Connected")
        const now = this.now()
        this.publish(JetSocketEvent.Connected({ timestamp: now, url: conn.url, protocol: conn.connection!.protocol }))
        if (this.everConnected) {
          this.reconnects++
          this.publish(JetSocketEvent.Reconnected({ timestamp: now, attempts: this.attempts, downtime: Duration.millis(this.elapsed() - this.outageStart) }))
        }
        this.everConnected = true
        this.settleFirstOpen(Exit.void)
        if (this.maxAge === undefined) {
          if (conn.endedWith === undefined) {
            this.watched = conn
            return
          }
          dropped = [conn, conn.endedWith]
        } else {
          dropped = yield* this.supervise(conn)
        }
      }
    })
  }

  /** Waits for a connection to end, rotating it at `maxConnectionAge`. Returns why it ended. */
  private supervise(conn: Conn): Effect.Effect<readonly [Conn, JetSocketError]> {
    const maxAge = this.maxAge
    if (maxAge === undefined) return Effect.map(conn.ended, (error) => [conn, error] as const)
    return Effect.gen(this, function*() {
      let active = conn
      while (true) {
        const aged = yield* active.ended.pipe(
          Effect.map(Option.some),
          Effect.raceFirst(Effect.as(Effect.sleep(Duration.max(Duration.zero, Duration.subtract(maxAge, Duration.millis(this.elapsed() - active.openedAt)))), Option.none()))
        )
        if (Option.isSome(aged)) return [active, aged.value] as const
        const rotated = yield* Effect.either(this.rotate(active))
        if (rotated._tag === "Right") active = rotated.right
        else yield* Effect.sleep(Duration.min(maxAge, Duration.seconds(30)))
      }
    })
  }

  /** Make-before-break: open the replacement, set it up, switch sends over, close the old one, then deliver. */
  private rotate(old: Conn): Effect.Effect<Conn, JetSocketError> {
    return Effect.gen(this, function*() {
      const fresh = yield* this.attempt(0)
      const context = this.directContext(fresh, true)
      const hooked = yield* Effect.either(
        Effect.forEach(this.hooks ?? [], (hook) => Guard.effect("onConnect hook", () => hook(context)), { discard: true })
      )
      if (hooked._tag === "Left") {
        yield* this.retire(fresh, 1000, "rotation failed")
        return yield* Effect.fail(hooked.left)
      }
      // Sends go to the new socket from now on; the old one finishes its close handshake.
      this.current = fresh
      this.opening = undefined
      yield* this.retire(old, 1000, "connection rotated")
      for (const frame of old.unconfirmed()) this.write(fresh, frame)
      this.release(fresh)
      this.publish(JetSocketEvent.Connected({ timestamp: this.now(), url: fresh.url, protocol: fresh.connection!.protocol }))
      return fresh
    })
  }

  // ------------------------------------------------------------- ending

  /** The connection is over for good: fatal error or exhausted schedule. */
  private fail(error: JetSocketError): Effect.Effect<void> {
    return Effect.gen(this, function*() {
      this.terminal = error
      this.current = undefined
      this.publish(JetSocketEvent.Error({ timestamp: this.now(), error, fatal: true }))
      yield* this.setState("Failed")
      this.buffer.fail(error)
      this.failPending(error)
      this.settleFirstOpen(Exit.fail(error))
    })
  }

  private settleFirstOpen(exit: Exit.Exit<void, JetSocketError>): void {
    const first = this.firstOpen
    if (Exit.isExit(first)) return
    this.firstOpen = exit
    Deferred.unsafeDone(first, exit)
  }

  /** A drop: pending requests fail with its error, or (`resendOnReconnect`) go out again first on the next connection. */
  private pendingAfterDrop(error: JetSocketError): void {
    if (this.pending === undefined) return
    for (const request of this.pending) {
      if (request.resend !== undefined) {
        ;(this.queuedSends ??= new Deque()).push(request.resend)
        continue
      }
      Deferred.unsafeDone(request.reply, Exit.fail(error))
      this.pending.delete(request)
    }
  }

  private failPending(error: JetSocketError): void {
    if (this.pending === undefined) return
    for (const request of this.pending) Deferred.unsafeDone(request.reply, Exit.fail(error))
    this.pending.clear()
  }

  get close(): (code?: number, reason?: string) => Effect.Effect<void> {
    return this.bound.close ??= (code?: number, reason?: string) => this.closeWith(code, reason)
  }

  private closeWith(code = 1000, reason = ""): Effect.Effect<void> {
    return Effect.uninterruptible(Effect.suspend(() => {
      if (this.closing !== undefined) return Deferred.await(this.closing)
      const closing = Deferred.unsafeMake<void>(FiberId.none)
      this.closing = closing
      return Effect.gen(this, function*() {
        if (this.terminal === undefined) yield* this.setState("Disconnecting")
        const conn = this.current
        this.current = undefined
        if (conn !== undefined) yield* this.retire(conn, code, reason)
        if (this.supervisor !== undefined) yield* Fiber.interrupt(this.supervisor)
        // A connection the interrupted fiber was opening or setting up (hooks, replay, rotation).
        const opening = this.opening
        if (opening !== undefined) yield* this.retire(opening, code, reason)
        if (this.pending !== undefined) this.failPending(new InvalidStateError({ state: "Closed", operation: "request" }))
        this.settleFirstOpen(Exit.fail(new InvalidStateError({ state: "Closed", operation: "connect" })))
        if (this.terminal === undefined) {
          this.buffer.end()
          yield* this.setState("Closed")
        }
        this.flushMetrics()
        this.publish(JetSocketEvent.Closed({ timestamp: this.now(), code, reason }))
        const hub = this.pubsub
        this.pubsub = null
        if (hub !== undefined && hub !== null) yield* PubSub.shutdown(hub)
      }).pipe(
        Effect.ensuring(Deferred.succeed(closing, undefined))
      )
    }))
  }

  start(): void {
    this.outageStart = this.elapsed()
    this.startSupervisor(this.connectLoop())
  }
}

// On the prototype: one property fewer on every client.
;(Client.prototype as { [TypeId]: typeof TypeId })[TypeId] = TypeId

/**
 * The finalizer a client leaves in its caller's scope: a bound function (no
 * closure and context: ~50 B less per client), never made inline (a closure
 * keeps its whole enclosing context alive as long as that scope is open).
 */
const closeWithScope = (client: Client<any>): Scope.Scope.Finalizer => closeClient.bind(client)

function closeClient(this: Client<any>): Effect.Effect<void> {
  return this.close()
}

/** @internal */
export const make = <A = unknown, I = any>(
  url: JetSocket.JetSocket.Dynamic<string>,
  options: JetSocket.JetSocket.Options<A, I> = {}
): Effect.Effect<JetSocket.JetSocket<A>, never, Scope.Scope | Transport.Transport> =>
  Effect.gen(function*() {
    // Every option checked before anything is made: bad ones die here, each named (see options.ts).
    yield* Options.check(Options.client(options))
    const transport = yield* Transport.Transport
    const userScope = yield* Effect.scope
    const clock = yield* Effect.clock
    // one Runtime for the clients a fiber makes in a row (see internal/sharedRuntime.ts)
    const runtime = SharedRuntime.share(yield* Effect.runtime<never>())
    // the heartbeat timer of the clients made in this runtime: its fiber runs in it (see internal/ticker.ts)
    const ticker = Ticker.of(runtime, clock)
    const firstOpen = Deferred.unsafeMake<void, JetSocketError>(FiberId.none)
    const client = new Client<A>(url, options as JetSocket.JetSocket.Options<A, any>, environment(transport, clock, runtime, ticker), firstOpen)
    // Closing the user's scope closes the socket (1000) first, then everything the client started.
    yield* Scope.addFinalizerExit(userScope, closeWithScope(client))
    client.start()
    return client
  })

/** @internal */
export const connect = <A = unknown, I = any>(
  url: JetSocket.JetSocket.Dynamic<string>,
  options?: JetSocket.JetSocket.Options<A, I>
): Effect.Effect<JetSocket.JetSocket<A>, JetSocketError, Scope.Scope | Transport.Transport> =>
  Effect.tap(make<A, I>(url, options), (client) => client.ready)
