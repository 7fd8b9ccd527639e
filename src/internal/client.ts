import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Schedule from "effect/Schedule"
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
import { LatencyRecorder } from "./latency.js"
import { ClientMetrics } from "./metrics.js"

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
  eventCapacity: 128
}

const frameSize = (frame: Frame): number => (typeof frame === "string" ? frame.length : frame.byteLength)

/** A waiter for a request's reply. */
interface PendingRequest {
  readonly match: (message: any) => boolean
  readonly reply: Deferred.Deferred<any, JetSocketError>
}

/** One live transport connection and what the client tracks about it. */
class Conn {
  connection: Transport.Connection | undefined
  /** Where the socket and the connection's fibers live; closed when it ends. */
  scope: Scope.CloseableScope | undefined
  /** Why it ended; set once. */
  endedWith: JetSocketError | undefined
  /** Frames handed to the socket but not yet confirmed written, in order. */
  readonly inflight = new Deque<Frame>()
  /** Incoming frames are held (not delivered) until hooks ran / rotation finished. */
  holding = true
  held: Array<Frame> = []
  /** The client closed it on purpose (user close, rotation): its end is not an error. */
  retiring = false
  openedAt = 0
  pingSentAt: bigint | undefined
  pongWaiters: Array<Deferred.Deferred<void>> = []
  readonly onWritten: (error?: Error) => void
  constructor(readonly url: string, readonly ended: Deferred.Deferred<JetSocketError>) {
    this.onWritten = (error) => {
      if (error === undefined || error === null) this.inflight.shift()
    }
  }
}

class Client<A> implements JetSocket.JetSocket<A> {
  readonly [TypeId]: typeof TypeId = TypeId

  // --- configuration
  private readonly codec: Codec.SyncCodec<A>
  private readonly strict: boolean
  private readonly policy: Backoff.ReconnectPolicy
  private readonly reconnectEnabled: boolean
  private readonly heartbeat: Heartbeat.Resolved | undefined
  private readonly bufferConfig: ReturnType<typeof MessageBuffer.resolve<A>>
  private readonly sendCapacity: number
  private readonly closeTimeout: Duration.Duration
  private readonly connectTimeout: Duration.Duration
  private readonly maxAge: Duration.Duration | undefined
  private readonly dedup: MessageBuffer.DedupWindow | undefined
  private readonly dedupKey: ((message: A) => unknown) | undefined
  private readonly replay: MessageBuffer.ReplayConfig<A>

  // --- live state
  private stateNow: State = "Idle"
  private currentUrl: string
  private current: Conn | undefined
  private readonly sendQueue = new Deque<Frame>()
  private readonly pending = new Set<PendingRequest>()
  private readonly hooks = new Set<(context: JetSocket.ConnectContext) => Effect.Effect<void, JetSocketError>>()
  private lastSequenceId: unknown = undefined
  /** When the current full_buffer replay started (its ReplayCompleted reports the duration). */
  private replayStartedAt = 0
  private bufferPaused = false
  /** How many times backpressure paused reading (the heartbeat checks it). */
  private bufferPauses = 0
  private closing: Deferred.Deferred<void> | undefined
  private terminal: JetSocketError | undefined
  private supervisor: Fiber.RuntimeFiber<void, never> | undefined
  private droppedSinceEvent = 0
  private overflowEventScheduled = false
  private eventsClosed = false

  // --- figures
  private messagesSent = 0
  private messagesReceived = 0
  private bytesSent = 0
  private bytesReceived = 0
  private reconnects = 0
  private deduplicated = 0
  private validationErrors = 0
  private readonly latencyRecorder = new LatencyRecorder()
  private readonly metrics: ClientMetrics

  readonly buffer: MessageBuffer.ReceiveBuffer<A, JetSocketError>
  readonly ready: Effect.Effect<void, JetSocketError>

  constructor(
    private readonly urlOption: JetSocket.JetSocket.Dynamic<string>,
    private readonly options: JetSocket.JetSocket.Options<A, any>,
    private readonly transport: Transport.Transport,
    /** The client's own scope: connections and fibers live here, closed last by `close`. */
    private readonly scope: Scope.CloseableScope,
    private readonly clock: Clock.Clock,
    private readonly stateRef: SubscriptionRef.SubscriptionRef<State>,
    private readonly pubsub: PubSub.PubSub<JetSocketEvent>,
    private readonly firstOpen: Deferred.Deferred<void, JetSocketError>
  ) {
    const base = Codec.fromOption(options.codec as Codec.CodecOption<unknown> | undefined)
    this.codec = options.schema === undefined
      ? (base as Codec.SyncCodec<A>)
      : Codec.withSchema(base, options.schema)
    this.strict = options.strict ?? true
    this.policy = Backoff.policy(options.reconnect)
    this.reconnectEnabled = options.reconnect !== false
    this.heartbeat = Heartbeat.resolve(options.heartbeat)
    this.bufferConfig = MessageBuffer.resolve(options.buffer)
    this.sendCapacity = options.sendQueue === false ? 0 : options.sendQueue ?? DEFAULTS.sendQueue
    this.closeTimeout = Duration.decode(options.closeTimeout ?? DEFAULTS.closeTimeout)
    this.connectTimeout = Duration.decode(options.connectTimeout ?? DEFAULTS.connectTimeout)
    this.maxAge = options.maxConnectionAge === undefined ? undefined : Duration.decode(options.maxConnectionAge)
    const dedup = this.bufferConfig.dedup
    this.dedup = dedup === undefined ? undefined : MessageBuffer.makeDedupWindow(dedup.window)
    this.dedupKey = dedup?.key
    this.replay = options.replay ?? { mode: "none" }
    this.currentUrl = typeof urlOption === "string" ? urlOption : "<dynamic>"
    this.metrics = new ClientMetrics(this.currentUrl)
    this.buffer = MessageBuffer.make<A, JetSocketError>({
      capacity: this.bufferConfig.capacity,
      policy: this.bufferConfig.overflowPolicy,
      onDrop: () => this.onDrop(),
      onOverflow: () =>
        this.endConnection(
          this.current,
          new BufferOverflowError({ capacity: this.bufferConfig.capacity, buffer: "receive" })
        ),
      onPause: () => {
        this.bufferPaused = true
        this.bufferPauses++
        this.current?.connection?.pause()
      },
      onResume: () => {
        this.bufferPaused = false
        this.current?.connection?.resume()
      },
      onTake: () => this.flushMetrics()
    })
    this.ready = Deferred.await(firstOpen)
  }

  // ---------------------------------------------------------------- helpers

  private now(): number {
    return this.clock.unsafeCurrentTimeMillis()
  }

  private publish(event: JetSocketEvent): void {
    // Late callbacks (a pong, a drop) may arrive after close shut the hub down: ignore them.
    if (this.eventsClosed) return
    Effect.runSync(PubSub.publish(this.pubsub, event))
  }

  private setState(state: State): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.stateNow === state) return Effect.void
      this.stateNow = state
      return SubscriptionRef.set(this.stateRef, state)
    })
  }

  private flushMetrics(): void {
    this.metrics.flush(this)
  }

  private onDrop(): void {
    this.droppedSinceEvent++
    if (this.overflowEventScheduled) return
    this.overflowEventScheduled = true
    // Coalesce: one event per burst (everything dropped in this turn of the event loop).
    afterIo(() => {
      this.overflowEventScheduled = false
      const dropped = this.droppedSinceEvent
      this.droppedSinceEvent = 0
      if (dropped > 0) {
        this.publish(
          JetSocketEvent.BufferOverflow({ timestamp: this.now(), dropped, policy: this.bufferConfig.overflowPolicy })
        )
      }
    })
  }

  private isFatal(error: JetSocketError): boolean {
    if (error.fatal) return true
    const predicate = this.options.shouldReconnect
    return predicate !== undefined && !predicate(error)
  }

  // ------------------------------------------------------------ receive path

  /** The transport callback: the start of the hot path. */
  private receive(conn: Conn, frame: Frame): void {
    if (conn.endedWith !== undefined && !conn.retiring) return
    if (conn.holding) {
      conn.held.push(frame)
      // Holding is short (hooks, rotation); still, never hold more than a buffer's worth.
      if (conn.held.length === this.bufferConfig.capacity) conn.connection?.pause()
      return
    }
    this.deliver(conn, frame)
  }

  private deliver(conn: Conn, frame: Frame): void {
    this.messagesReceived++
    this.bytesReceived += frameSize(frame)
    const value = this.codec.decode(frame)
    if (value instanceof InvalidMessageError) return this.invalid(value)
    try {
      const heartbeat = this.heartbeat?.application
      if (heartbeat !== undefined) {
        if (heartbeat.pongMatcher === undefined) this.onPong(conn)
        else if (heartbeat.pongMatcher(value)) return this.onPong(conn)
      }
      if (this.pending.size > 0 && this.answer(value)) return
      if (this.dedup !== undefined && this.dedup.seen(this.dedupKey!(value))) {
        this.deduplicated++
        return
      }
      const sequenceKey = this.replay.sequenceKey
      if (sequenceKey !== undefined) this.lastSequenceId = sequenceKey(value)
    } catch (error) {
      // A user callback (matcher, key) threw: report it in order, never as an uncaught exception.
      return this.invalid(
        new InvalidMessageError({ reason: `a message callback threw: ${String(error)}`, preview: Codec.preview(frame), cause: error })
      )
    }
    this.buffer.offer(value)
  }

  private invalid(error: InvalidMessageError): void {
    if (this.strict) return this.buffer.offerFailure(error)
    this.validationErrors++
    this.publish(JetSocketEvent.ValidationError({ timestamp: this.now(), error }))
  }

  private answer(value: A): boolean {
    for (const request of this.pending) {
      if (request.match(value)) {
        this.pending.delete(request)
        Deferred.unsafeDone(request.reply, Exit.succeed(value))
        return true
      }
    }
    return false
  }

  private onPong(conn: Conn): void {
    const sentAt = conn.pingSentAt
    if (sentAt === undefined) return
    conn.pingSentAt = undefined
    const latency = Duration.nanos(this.clock.unsafeCurrentTimeNanos() - sentAt)
    this.latencyRecorder.record(latency)
    this.metrics.latency(latency)
    const waiters = conn.pongWaiters
    conn.pongWaiters = []
    for (const waiter of waiters) Deferred.unsafeDone(waiter, Exit.void)
    this.publish(JetSocketEvent.Pong({ timestamp: this.now(), latency }))
  }

  /** Ends a connection (at most once) and tells the supervisor why. */
  private endConnection(conn: Conn | undefined, error: JetSocketError): void {
    if (conn === undefined || conn.endedWith !== undefined) return
    conn.endedWith = error
    Deferred.unsafeDone(conn.ended, Exit.succeed(error))
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
      conn.inflight.push(frame)
      conn.connection!.send(frame, conn.onWritten)
    } else {
      conn.connection!.send(frame)
    }
  }

  private trySend(frame: Frame, queue: boolean): JetSocketError | undefined {
    if (this.terminal !== undefined || this.closing !== undefined) {
      return new InvalidStateError({ state: this.stateNow, operation: "send" })
    }
    const conn = this.current
    if (!queue) {
      if (conn === undefined || !conn.connection!.isOpen()) return new InvalidStateError({ state: this.stateNow, operation: "send" })
      this.write(conn, frame, false)
      return undefined
    }
    if (conn !== undefined && this.sendQueue.length === 0 && conn.connection!.isOpen()) {
      this.write(conn, frame)
      return undefined
    }
    if (this.sendCapacity === 0) return new InvalidStateError({ state: this.stateNow, operation: "send" })
    if (this.sendQueue.length >= this.sendCapacity) {
      return new BufferOverflowError({ capacity: this.sendCapacity, buffer: "send" })
    }
    this.sendQueue.push(frame)
    return undefined
  }

  private sendFrame(frame: Frame | InvalidMessageError, options: JetSocket.SendOptions | undefined): Effect.Effect<void, JetSocketError> {
    if (frame instanceof InvalidMessageError) return Effect.fail(frame)
    const error = this.trySend(frame, options?.queue ?? true)
    return error === undefined ? Effect.void : Effect.fail(error)
  }

  readonly send = (message: A, options?: JetSocket.SendOptions): Effect.Effect<void, JetSocketError> =>
    Effect.suspend(() => this.sendFrame(this.codec.encode(message), options))

  readonly sendText = (text: string, options?: JetSocket.SendOptions): Effect.Effect<void, JetSocketError> =>
    Effect.suspend(() => this.sendFrame(text, options))

  readonly sendBinary = (bytes: Uint8Array, options?: JetSocket.SendOptions): Effect.Effect<void, JetSocketError> =>
    Effect.suspend(() => this.sendFrame(bytes, options))

  /** Writes the queued sends (and what the previous socket never wrote), then opens the gate. */
  private flushSendQueue(conn: Conn): number {
    const frames = this.sendQueue.drain()
    for (const frame of frames) this.write(conn, frame)
    return frames.length
  }

  // ----------------------------------------------------------- receive side

  readonly messages: Stream.Stream<A, JetSocketError> = Stream.suspend(() => this.buffer.stream)

  readonly recv = (options?: JetSocket.JetSocket.RecvOptions): Effect.Effect<A, JetSocketError> => {
    const take = this.buffer.take.pipe(
      Effect.catchAll((error) =>
        Option.isSome(error)
          ? Effect.fail(error.value)
          : Effect.fail(new InvalidStateError({ state: this.stateNow, operation: "recv" }))
      )
    )
    if (options?.timeout === undefined) return take
    const timeout = Duration.decode(options.timeout)
    return Effect.timeoutFail(take, {
      duration: timeout,
      onTimeout: () => new ConnectionTimeoutError({ operation: "recv", timeout, url: this.currentUrl })
    })
  }

  readonly request = (message: A, options: JetSocket.JetSocket.RequestOptions<A>): Effect.Effect<A, JetSocketError> =>
    Effect.suspend(() => {
      if (this.terminal !== undefined) return Effect.fail(this.terminal)
      const timeout = Duration.decode(options.timeout ?? DEFAULTS.requestTimeout)
      const request: PendingRequest = { match: options.match, reply: Deferred.unsafeMake(FiberId.none) }
      this.pending.add(request)
      return this.send(message).pipe(
        Effect.zipRight(Deferred.await(request.reply as Deferred.Deferred<A, JetSocketError>)),
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () => new ConnectionTimeoutError({ operation: "request", timeout, url: this.currentUrl })
        }),
        Effect.ensuring(Effect.sync(() => this.pending.delete(request)))
      )
    })

  readonly ping = (options?: { readonly timeout?: Duration.DurationInput }): Effect.Effect<Duration.Duration, JetSocketError> =>
    Effect.suspend((): Effect.Effect<Duration.Duration, JetSocketError> => {
      const conn = this.current
      if (conn === undefined || !conn.connection!.isOpen()) {
        return Effect.fail(new InvalidStateError({ state: this.stateNow, operation: "ping" }))
      }
      const timeout = Duration.decode(options?.timeout ?? this.heartbeat?.timeout ?? Heartbeat.defaults.timeout)
      const started = this.clock.unsafeCurrentTimeNanos()
      const waiter = Deferred.unsafeMake<void>(FiberId.none)
      conn.pongWaiters.push(waiter)
      this.sendPing(conn)
      return Deferred.await(waiter).pipe(
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () => new ConnectionTimeoutError({ operation: "pong", timeout, url: conn.url })
        }),
        Effect.map(() => Duration.nanos(this.clock.unsafeCurrentTimeNanos() - started))
      )
    })

  private sendPing(conn: Conn): void {
    conn.pingSentAt ??= this.clock.unsafeCurrentTimeNanos()
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

  readonly url: Effect.Effect<string> = Effect.sync(() => this.currentUrl)
  readonly state: Effect.Effect<State> = Effect.sync(() => this.stateNow)
  readonly stateChanges: Stream.Stream<State> = Stream.suspend(() => this.stateRef.changes).pipe(
    Stream.takeUntil((state) => state === "Closed" || state === "Failed")
  )
  readonly events: Stream.Stream<JetSocketEvent> = Stream.suspend(() => Stream.fromPubSub(this.pubsub))
  readonly subscribeEvents: Effect.Effect<Stream.Stream<JetSocketEvent>, never, Scope.Scope> = Effect.suspend(() =>
    Stream.fromPubSub(this.pubsub, { scoped: true })
  )
  readonly latency: Effect.Effect<Option.Option<Duration.Duration>> = Effect.sync(() => this.latencyRecorder.last)

  readonly stats: Effect.Effect<JetSocket.ConnectionStats> = Effect.sync(() => {
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
      uptime: conn === undefined || this.stateNow !== "Connected" ? Duration.zero : Duration.millis(this.now() - conn.openedAt),
      lastLatency: this.latencyRecorder.last,
      averageLatency: this.latencyRecorder.average,
      latencyHistogram: this.latencyRecorder.histogram(),
      bufferSize: size,
      bufferCapacity: this.buffer.capacity,
      bufferFillRatio: size / this.buffer.capacity,
      dropped: this.buffer.dropped(),
      deduplicated: this.deduplicated,
      validationErrors: this.validationErrors,
      sendQueueSize: this.sendQueue.length
    }
  })

  /** @internal figures read by the metrics flusher */
  counters() {
    return {
      messagesSent: this.messagesSent,
      messagesReceived: this.messagesReceived,
      bytesSent: this.bytesSent,
      bytesReceived: this.bytesReceived,
      reconnects: this.reconnects,
      dropped: this.buffer.dropped(),
      validationErrors: this.validationErrors
    }
  }

  readonly onConnect = (
    hook: (context: JetSocket.ConnectContext) => Effect.Effect<void, JetSocketError>
  ): Effect.Effect<void, never, Scope.Scope> =>
    Effect.acquireRelease(Effect.sync(() => this.hooks.add(hook)), () => Effect.sync(() => this.hooks.delete(hook)))

  // ------------------------------------------------------------- connecting

  private resolveDynamic<T>(value: JetSocket.JetSocket.Dynamic<T> | undefined, what: string): Effect.Effect<T | undefined, JetSocketError> {
    if (!Effect.isEffect(value)) return Effect.succeed(value as T | undefined)
    return (value as Effect.Effect<T, unknown>).pipe(
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
      const conn = new Conn(url, yield* Deferred.make<JetSocketError>())
      const scope = yield* Scope.fork(this.scope, ExecutionStrategy.sequential)
      const connection = yield* this.transport.connect({
        url,
        headers,
        protocols,
        compression: this.compression(),
        maxMessageSize: this.options.maxMessageSize ?? DEFAULTS.maxMessageSize,
        connectTimeout: this.connectTimeout,
        tls: this.options.tls,
        agent: this.options.agent,
        handlers: {
          onMessage: (data) => this.receive(conn, data),
          onPong: () => this.onPong(conn),
          onClose: (error) => this.endConnection(conn, error)
        }
      }).pipe(
        Effect.timeoutFail({
          duration: this.connectTimeout,
          onTimeout: () => new ConnectionTimeoutError({ operation: "connect", timeout: this.connectTimeout, url })
        }),
        Scope.extend(scope),
        Effect.tapError(() => Scope.close(scope, Exit.void)),
        Effect.mapError((error) =>
          // ws reports its own handshake timeout without the duration: fill it in.
          error._tag === "ConnectionTimeoutError" && Duration.isZero(error.timeout)
            ? new ConnectionTimeoutError({ operation: "connect", timeout: this.connectTimeout, url })
            : error
        ),
        Effect.withSpan("jetsocket.connect", { attributes: { "jetsocket.url": url, "jetsocket.attempt": attempt } })
      )
      conn.connection = connection
      conn.openedAt = this.now()
      if (this.bufferPaused) connection.pause()
      // Tear the connection's scope down when it ends, whoever ends it.
      yield* Deferred.await(conn.ended).pipe(
        Effect.zipRight(Scope.close(scope, Exit.void)),
        Effect.forkIn(scope)
      )
      // Without ping frames (browsers) only an application ping can prove liveness.
      const heartbeat = this.heartbeat
      if (heartbeat !== undefined && (connection.canPing || heartbeat.application !== undefined)) {
        yield* Effect.forkIn(this.heartbeatLoop(conn, heartbeat), scope)
      }
      conn.scope = scope
      return conn
    })
  }


  private heartbeatLoop(conn: Conn, config: Heartbeat.Resolved): Effect.Effect<void> {
    const timeoutError = new ConnectionTimeoutError({ operation: "pong", timeout: config.timeout, url: conn.url })
    const beat = Effect.gen(this, function*() {
      yield* Effect.sleep(config.interval)
      if (conn.endedWith !== undefined) return false
      const pausesBefore = this.bufferPauses
      const waiter = Deferred.unsafeMake<void>(FiberId.none)
      conn.pongWaiters.push(waiter)
      this.sendPing(conn)
      const answered = yield* Deferred.await(waiter).pipe(Effect.timeout(config.timeout), Effect.option)
      if (Option.isSome(answered)) return true
      // The deadline passed; let pending socket input (a pong that arrived
      // while the event loop was blocked) be processed before judging.
      yield* ioTurn
      if (yield* Deferred.isDone(waiter)) return true
      // Backpressure paused reading meanwhile: the pong may be queued unread behind
      // the backlog, so its absence proves nothing.
      if (this.bufferPaused || this.bufferPauses !== pausesBefore) return true
      this.publish(JetSocketEvent.Error({ timestamp: this.now(), error: timeoutError, fatal: false }))
      this.endConnection(conn, timeoutError)
      return false
    })
    return beat.pipe(Effect.repeat({ while: (alive) => alive }), Effect.asVoid)
  }

  /** Closes a connection gracefully and waits for it; never fails. */
  private retire(conn: Conn, code: number, reason: string): Effect.Effect<void> {
    return Effect.suspend(() => {
      conn.retiring = true
      const connection = conn.connection
      const scope = conn.scope
      const close = connection === undefined ? Effect.void : connection.close(code, reason, this.closeTimeout)
      return close.pipe(
        Effect.zipRight(scope === undefined ? Effect.void : Scope.close(scope, Exit.void)),
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
          if (frame instanceof InvalidMessageError) return Effect.fail(frame)
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
        for (const hook of this.hooks) yield* hook(direct)
        yield* this.runReplay(direct)
      }
      // Atomically: flush queued sends, then make this the current connection.
      this.current = conn
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
      const replayed = yield* this.replay.onReplay(lastSequenceId, (message) => Effect.orDie(context.send(message))).pipe(
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
    conn.held = []
    conn.holding = false
    for (const frame of held) this.deliver(conn, frame)
    if (!this.bufferPaused) conn.connection?.resume()
  }

  // ------------------------------------------------------------- supervisor

  /** The reconnect loop: one fiber per client, for its whole life. */
  readonly run: Effect.Effect<void> = Effect.gen(this, function*() {
    const schedule = this.policy.schedule
    let scheduleState = schedule.initial
    let attempt = 0
    let outageStart = this.now()
    let everConnected = false

    /** Steps the schedule with the error; the delay before the next attempt, or none when it is exhausted. */
    const step = (error: JetSocketError) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const [state, , decision] = yield* schedule.step(now, error, scheduleState)
        scheduleState = state
        if (ScheduleDecision.isDone(decision)) return Option.none<Duration.Duration>()
        return Option.some(Duration.millis(Math.max(0, Intervals.start(decision.intervals) - now)))
      })

    const giveUp = (error: JetSocketError) => this.fail(error)

    /** After a failure: back off, or give up. `true` to continue. */
    const backOff = (error: JetSocketError) =>
      Effect.gen(this, function*() {
        if (this.isFatal(error) || !this.reconnectEnabled) {
          yield* giveUp(error)
          return false
        }
        this.publish(JetSocketEvent.Error({ timestamp: this.now(), error, fatal: false }))
        const delay = yield* step(error)
        if (Option.isNone(delay)) {
          yield* giveUp(error)
          return false
        }
        yield* this.setState("BackingOff")
        this.publish(JetSocketEvent.Reconnecting({ timestamp: this.now(), attempt: attempt + 1, delay: delay.value }))
        yield* Effect.sleep(delay.value)
        return true
      })

    while (true) {
      attempt++
      yield* this.setState(everConnected ? "Reconnecting" : "Connecting")
      const result = yield* Effect.either(this.attempt(attempt))
      if (result._tag === "Left") {
        if (yield* backOff(result.left)) continue
        return
      }
      const conn = result.right
      const activated = yield* Effect.either(this.activate(conn, everConnected))
      if (activated._tag === "Left") {
        this.endConnection(conn, activated.left)
        yield* Deferred.await(conn.ended)
        if (yield* backOff(activated.left)) continue
        return
      }
      yield* this.setState("Connected")
      const now = this.now()
      this.publish(JetSocketEvent.Connected({ timestamp: now, url: conn.url, protocol: conn.connection!.protocol }))
      if (everConnected) {
        this.reconnects++
        this.publish(JetSocketEvent.Reconnected({ timestamp: now, attempts: attempt, downtime: Duration.millis(now - outageStart) }))
      }
      everConnected = true
      yield* Deferred.succeed(this.firstOpen, undefined)

      const [last, ended] = yield* this.supervise(conn)
      if (this.closing !== undefined) return
      const droppedAt = this.now()
      this.current = undefined
      this.sendQueue.unshiftAll(last.inflight.drain())
      const code = ended._tag === "ConnectionClosedError" ? ended.code : ended._tag === "InvalidFrameError" ? ended.closeCode : 1006
      const reason = ended._tag === "ConnectionClosedError" ? ended.reason : ended.message
      this.publish(JetSocketEvent.Disconnected({ timestamp: droppedAt, code, reason }))
      yield* this.setState("Disconnected")
      outageStart = droppedAt
      if (droppedAt - last.openedAt >= Duration.toMillis(this.policy.resetAfter) && this.reconnectEnabled && !this.isFatal(ended)) {
        // A stable connection: this outage starts afresh, and reconnects at once.
        scheduleState = schedule.initial
        attempt = 0
        this.publish(JetSocketEvent.Error({ timestamp: droppedAt, error: ended, fatal: false }))
        continue
      }
      attempt = 0
      if (!(yield* backOff(ended))) return
    }
  })

  /** Waits for a connection to end, rotating it at `maxConnectionAge`. Returns why it ended. */
  private supervise(conn: Conn): Effect.Effect<readonly [Conn, JetSocketError]> {
    const maxAge = this.maxAge
    if (maxAge === undefined) return Effect.map(Deferred.await(conn.ended), (error) => [conn, error] as const)
    return Effect.gen(this, function*() {
      let active = conn
      while (true) {
        const aged = yield* Deferred.await(active.ended).pipe(
          Effect.map(Option.some),
          Effect.raceFirst(Effect.as(Effect.sleep(Duration.max(Duration.zero, Duration.subtract(maxAge, Duration.millis(this.now() - active.openedAt)))), Option.none()))
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
      const hooked = yield* Effect.either(Effect.forEach(this.hooks, (hook) => hook(context), { discard: true }))
      if (hooked._tag === "Left") {
        yield* this.retire(fresh, 1000, "rotation failed")
        return yield* Effect.fail(hooked.left)
      }
      // Sends go to the new socket from now on; the old one finishes its close handshake.
      this.current = fresh
      yield* this.retire(old, 1000, "connection rotated")
      for (const frame of old.inflight.drain()) this.write(fresh, frame)
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
      for (const request of this.pending) Deferred.unsafeDone(request.reply, Exit.fail(error))
      this.pending.clear()
      yield* Deferred.fail(this.firstOpen, error)
    })
  }

  readonly close = (code = 1000, reason = ""): Effect.Effect<void> =>
    Effect.uninterruptible(Effect.suspend(() => {
      if (this.closing !== undefined) return Deferred.await(this.closing)
      const closing = Deferred.unsafeMake<void>(FiberId.none)
      this.closing = closing
      return Effect.gen(this, function*() {
        if (this.terminal === undefined) yield* this.setState("Disconnecting")
        const conn = this.current
        this.current = undefined
        if (conn !== undefined) yield* this.retire(conn, code, reason)
        if (this.supervisor !== undefined) yield* Fiber.interrupt(this.supervisor)
        const error = new InvalidStateError({ state: "Closed", operation: "request" })
        for (const request of this.pending) Deferred.unsafeDone(request.reply, Exit.fail(error))
        this.pending.clear()
        yield* Deferred.fail(this.firstOpen, new InvalidStateError({ state: "Closed", operation: "connect" }))
        if (this.terminal === undefined) {
          this.buffer.end()
          yield* this.setState("Closed")
        }
        this.flushMetrics()
        this.publish(JetSocketEvent.Closed({ timestamp: this.now(), code, reason }))
        this.eventsClosed = true
        yield* PubSub.shutdown(this.pubsub)
      }).pipe(
        Effect.ensuring(Scope.close(this.scope, Exit.void)),
        Effect.ensuring(Deferred.succeed(closing, undefined))
      )
    }))

  start(): Effect.Effect<void> {
    return Effect.gen(this, function*() {
      this.supervisor = yield* Effect.forkIn(this.run, this.scope)
      yield* Effect.forkIn(this.metricsLoop, this.scope)
    })
  }

  private readonly metricsLoop = Effect.sync(() => this.flushMetrics()).pipe(
    Effect.repeat(Schedule.spaced(Duration.seconds(1))),
    Effect.asVoid
  )
}

/** One turn of the event loop: pending I/O callbacks run before this resumes. */
const ioTurn: Effect.Effect<void> = Effect.async<void>((resume) => {
  const cancel = afterIo(() => resume(Effect.void))
  return Effect.sync(cancel)
})

/** @internal */
export const make = <A = unknown, I = any>(
  url: JetSocket.JetSocket.Dynamic<string>,
  options: JetSocket.JetSocket.Options<A, I> = {}
): Effect.Effect<JetSocket.JetSocket<A>, never, Scope.Scope | Transport.Transport> =>
  Effect.gen(function*() {
    const transport = yield* Transport.Transport
    const userScope = yield* Effect.scope
    const scope = yield* Scope.make()
    const clock = yield* Effect.clock
    const stateRef = yield* SubscriptionRef.make<State>("Idle")
    const pubsub = yield* PubSub.sliding<JetSocketEvent>(DEFAULTS.eventCapacity)
    const firstOpen = yield* Deferred.make<void, JetSocketError>()
    const client = new Client<A>(url, options as JetSocket.JetSocket.Options<A, any>, transport, scope, clock, stateRef, pubsub, firstOpen)
    // Closing the user's scope closes the socket (1000) first, then everything the client started.
    yield* Scope.addFinalizer(userScope, client.close())
    yield* client.start()
    return client
  })

/** @internal */
export const connect = <A = unknown, I = any>(
  url: JetSocket.JetSocket.Dynamic<string>,
  options?: JetSocket.JetSocket.Options<A, I>
): Effect.Effect<JetSocket.JetSocket<A>, JetSocketError, Scope.Scope | Transport.Transport> =>
  Effect.tap(make<A, I>(url, options), (client) => client.ready)
