import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as Heartbeat from "../Heartbeat.js"
import type * as JetSocket from "../JetSocket.js"
import { ConnectionTimeoutError, InvalidMessageError, InvalidStateError, type JetSocketError } from "../JetSocketError.js"
import { JetSocketEvent } from "../JetSocketEvent.js"
import * as MessageBuffer from "../MessageBuffer.js"
import * as Transport from "../Transport.js"
import * as Codec from "./codec.js"
import { LatencyRecorder } from "./latency.js"
import { ClientMetrics } from "./metrics.js"
import * as Options from "./options.js"
import * as ReceiveBuffer from "./receiveBuffer.js"
import type { SendQueue } from "./sendQueue.js"
import * as SharedRuntime from "./sharedRuntime.js"
import * as Ticker from "./ticker.js"
import * as Close from "./client/close.js"
import type { Conn } from "./client/conn.js"
import { DEFAULTS, noReplay } from "./client/defaults.js"
import { type Environment, environment } from "./client/environment.js"
import { BufferHooks, duplicates, type PendingRequest } from "./client/inbound.js"
import * as Lifecycle from "./client/lifecycle.js"
import * as Liveness from "./client/liveness.js"
import * as Outbound from "./client/outbound.js"
import * as Supervisor from "./client/supervisor.js"
import * as Stats from "./client/stats.js"

/** @internal */
export const TypeId: unique symbol = Symbol.for("jetsocket/JetSocket")

type State = JetSocket.ConnectionState

/**
 * The client: its configuration, its state (the lifecycle), the data
 * plane's fields, and the public API. The work is done by modules of
 * functions of the client (internal/client/*.ts): the control plane is one
 * fiber, the supervisor (`client/supervisor.ts`: read it first), with
 * `reconnect`, `connect`, `close` and `lifecycle`; the data plane
 * (`conn`, `inbound`, `outbound`, `liveness`, `stats`) runs in transport
 * callbacks and imports nothing of the control plane.
 *
 * Who writes what: the lifecycle only `Lifecycle.transition` (run by the
 * supervisor and `close`); the data plane's fields the data plane; the
 * figures both planes, as counters.
 *
 * @internal
 */
export class Client<A> implements JetSocket.JetSocket<A> {
  readonly [TypeId]: typeof TypeId = TypeId

  // --- configuration
  readonly codec: Codec.SyncCodec<A>
  readonly heartbeat: Heartbeat.Resolved | undefined
  /** With dedup configured: records a message's key, `true` when it was among the window's last keys. */
  readonly isDuplicate: ((message: A) => boolean) | undefined
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

  // Settings read from the options where they are used (rarely: connect, close, a full send queue):
  // the options object stays their one source.
  /** Read on an invalid message only. */
  get strict(): boolean {
    return this.options.strict ?? true
  }
  get reconnectEnabled(): boolean {
    return this.options.reconnect !== false
  }
  get sendCapacity(): number {
    const option = this.options.sendQueue
    return option === false ? 0 : option ?? DEFAULTS.sendQueue
  }
  get closeTimeout(): Duration.Duration {
    return Duration.decode(this.options.closeTimeout ?? DEFAULTS.closeTimeout)
  }
  get connectTimeout(): Duration.Duration {
    return Duration.decode(this.options.connectTimeout ?? DEFAULTS.connectTimeout)
  }
  get maxAge(): Duration.Duration | undefined {
    const option = this.options.maxConnectionAge
    return option === undefined ? undefined : Duration.decode(option)
  }
  get replay(): MessageBuffer.ReplayConfig<A> {
    return this.options.replay ?? noReplay
  }

  /** The `onConnect` hooks (made by the first), run by the supervisor on each new connection. */
  hooks: Set<(context: JetSocket.ConnectContext) => Effect.Effect<void, JetSocketError>> | undefined = undefined

  // --- the state: changed only by `Lifecycle.transition`
  /** @internal The lifecycle: one tagged value, the client's only state (see lifecycle.ts). */
  lifecycle: Lifecycle.State = Lifecycle.idle
  /** @internal The lifecycle's public name (a projection of it, see `Lifecycle.publicName`). */
  get stateNow(): State {
    return Lifecycle.publicName(this.lifecycle)
  }
  /** The supervisor: the client's one fiber, from `make` to `close` (see client/supervisor.ts). */
  supervisor: Fiber.RuntimeFiber<void> | undefined = undefined

  // --- what the state is published through (settled and written by `Lifecycle.transition`)
  /** How the first connect ended, once it did (the first `Up`, or the end before it): `ready`'s answer. */
  firstOpen: Exit.Exit<void, JetSocketError> | undefined = undefined
  /**
   * Who waits on `ready` until then (made by the first waiter, let go once
   * settled: a settled `Deferred` held for the client's life is memory for
   * nothing, docs/performance.md).
   */
  firstOpenWaiters: Deferred.Deferred<void, JetSocketError> | undefined = undefined
  /** @internal The public state as a `SubscriptionRef`, made for the first `stateChanges` subscriber. */
  stateRef: SubscriptionRef.SubscriptionRef<State> | undefined = undefined
  /** The events hub: made for the first subscriber; `null` once the client closed (no more events). */
  pubsub: PubSub.PubSub<JetSocketEvent> | null | undefined

  // --- the data plane's fields
  /** The URL of the last attempt (an Effect option is evaluated per attempt). */
  currentUrl: string
  /** Sends waiting for a connection (made on the first one that has to wait). */
  queuedSends: SendQueue<Outbound.Queued> | undefined
  /** Requests waiting for their reply (made by the first request). */
  pending: Set<PendingRequest> | undefined
  /** The sequence key of the last message delivered (replay `sequence_id`). */
  lastSequenceId: unknown = undefined
  /** How many times backpressure paused reading (the heartbeat checks it). */
  bufferPauses = 0
  /** When the counters were last flushed to the metrics (`now`). */
  lastMetricsFlush = 0
  /** Dropped since the last `BufferOverflow` event; an event is due while it is above 0. */
  droppedSinceEvent = 0

  // --- figures
  messagesSent = 0
  messagesReceived = 0
  bytesSent = 0
  bytesReceived = 0
  /** @internal */
  reconnects = 0
  deduplicated = 0
  validationErrors = 0
  /** Made on the first pong or latency read. */
  latencyRecorder: LatencyRecorder | undefined = undefined
  metrics: ClientMetrics | undefined

  /** Made on first use (a message, a consumer, the end): an idle client holds none. */
  receiveBuffer: MessageBuffer.ReceiveBuffer<A, JetSocketError> | undefined

  /**
   * Backpressure holds reading paused (the receive buffer's own state): a
   * connection opened meanwhile starts paused, and stays so when it goes live.
   */
  get bufferPaused(): boolean {
    return this.receiveBuffer !== undefined && this.receiveBuffer.isPaused()
  }

  /** @internal The receive buffer. */
  get buffer(): MessageBuffer.ReceiveBuffer<A, JetSocketError> {
    return this.receiveBuffer ??= ReceiveBuffer.make<A, JetSocketError>(
      new BufferHooks(this, MessageBuffer.resolve(this.options.buffer))
    )
  }

  constructor(
    readonly urlOption: JetSocket.JetSocket.Dynamic<string>,
    readonly options: JetSocket.JetSocket.Options<A, any>,
    readonly env: Environment
  ) {
    const base = Codec.fromOption(options.codec as Codec.CodecOption<unknown> | undefined, env.runtime)
    this.codec = options.schema === undefined
      ? (base as Codec.SyncCodec<A>)
      : Codec.withSchema(base, options.schema, env.runtime)
    this.heartbeat = Heartbeat.resolve(options.heartbeat)
    // Validated now (a bad capacity fails the connect), kept only as the buffer made on first use.
    const bufferConfig = MessageBuffer.resolve(options.buffer)
    const dedup = bufferConfig.dedup
    this.isDuplicate = dedup === undefined ? undefined : duplicates(dedup.key, MessageBuffer.makeDedupWindow(dedup.window))
    this.currentUrl = typeof urlOption === "string" ? urlOption : "<dynamic>"
    this.decodeOnTake = this.heartbeat?.application === undefined && this.isDuplicate === undefined &&
      this.replay.sequenceKey === undefined
  }

  get ready(): Effect.Effect<void, JetSocketError> {
    return Effect.suspend(() => this.firstOpen ?? Deferred.await(this.firstOpenWaiters ??= Deferred.unsafeMake(FiberId.none)))
  }

  /** The connection sends go to: the one the lifecycle has up, if any. */
  get current(): Conn | undefined {
    const state = this.lifecycle
    return state._tag === "Up" ? state.conn : undefined
  }

  // ---------------------------------------------------------------- helpers

  /**
   * Epoch milliseconds from the client's `Clock` (a test's `TestClock`
   * included): the one time base of the client — event timestamps, when a
   * connection opened, when an outage began, the last metrics flush.
   */
  now(): number {
    return this.env.clock.unsafeCurrentTimeMillis()
  }

  /** Sends and requests fail from here on: the client is closing, closed or failed. */
  isEnding(): boolean {
    const tag = this.lifecycle._tag
    return tag === "Closing" || tag === "Closed" || tag === "Failed"
  }

  /** Runs a synchronous Effect (the hubs' making and publishing) from a callback, in the user's runtime. */
  private runNow<X>(effect: Effect.Effect<X>): X {
    return Runtime.runSync(this.env.runtime)(effect)
  }

  /** @internal */
  publish(event: JetSocketEvent): void {
    // No hub yet means no subscriber: nobody can miss the event. Late callbacks
    // (a pong, a drop) may arrive after close shut the hub down: ignore them.
    if (this.pubsub === undefined || this.pubsub === null) return
    this.runNow(PubSub.publish(this.pubsub, event))
  }

  /** The events hub, made for the first subscriber (never called once closed). */
  hub(): PubSub.PubSub<JetSocketEvent> {
    return this.pubsub ??= this.runNow(PubSub.sliding<JetSocketEvent>(DEFAULTS.eventCapacity))
  }

  // ------------------------------------------------- the public API: sending

  // The functions users may pass around detached (`Effect.forEach(xs, ws.send)`) are
  // bound closures, made on first access rather than per client up front.
  // With them, `take`: the `recv()` description (one per client, see `receiveOne`).
  boundFunctions: Partial<Record<"send" | "sendText" | "sendBinary" | "recv" | "take" | "request" | "ping" | "close" | "onConnect", any>> | undefined

  get bound(): Partial<Record<"send" | "sendText" | "sendBinary" | "recv" | "take" | "request" | "ping" | "close" | "onConnect", any>> {
    return this.boundFunctions ??= {}
  }

  get send(): (message: A, options?: JetSocket.SendOptions) => Effect.Effect<void, JetSocketError> {
    return this.bound.send ??= (message: A, options?: JetSocket.SendOptions) =>
      Effect.suspend(() => Outbound.sendFrame(this, this.codec.encode(message), options))
  }

  get sendText(): (text: string, options?: JetSocket.SendOptions) => Effect.Effect<void, JetSocketError> {
    return this.bound.sendText ??= (text: string, options?: JetSocket.SendOptions) =>
      Effect.suspend(() => Outbound.sendFrame(this, text, options))
  }

  get sendBinary(): (bytes: Uint8Array, options?: JetSocket.SendOptions) => Effect.Effect<void, JetSocketError> {
    return this.bound.sendBinary ??= (bytes: Uint8Array, options?: JetSocket.SendOptions) =>
      Effect.suspend(() => Outbound.sendFrame(this, bytes, options))
  }

  // ----------------------------------------------- the public API: receiving

  get messages(): Stream.Stream<A, JetSocketError> {
    return this.buffer.stream
  }

  get recv(): (options?: JetSocket.JetSocket.RecvOptions) => Effect.Effect<A, JetSocketError> {
    return this.bound.recv ??= (options?: JetSocket.JetSocket.RecvOptions) => this.receiveOne(options)
  }

  receiveOne(options?: JetSocket.JetSocket.RecvOptions): Effect.Effect<A, JetSocketError> {
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
        const failure = Lifecycle.failure(this.lifecycle)
        if (failure !== undefined) return Effect.fail(failure)
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
        const sent = Outbound.trySend(this, frame, true, false, request)
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
    return this.bound.ping ??= (options?: { readonly timeout?: Duration.DurationInput }) => Liveness.pingOnce(this, options)
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
    return Stream.suspend(() => (this.stateRef ??= this.runNow(SubscriptionRef.make(this.stateNow))).changes).pipe(
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
    return Effect.sync(() => Stats.latencies(this).last)
  }

  get stats(): Effect.Effect<JetSocket.ConnectionStats> {
    return Effect.sync(() => Stats.snapshot(this))
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

  // ------------------------------------------------------------- ending

  /** @internal figures read by the metrics flusher (see `Stats.counters`) */
  counters() {
    return Stats.counters(this)
  }

  get close(): (code?: number, reason?: string) => Effect.Effect<void> {
    return this.bound.close ??= (code?: number, reason?: string) => Close.close(this, code, reason)
  }

  /** Forks the supervisor, in the user's runtime (made by `make`); `close` interrupts it. */
  start(): void {
    this.supervisor = Runtime.runFork(this.env.runtime)(Supervisor.run(this), { immediate: false })
  }
}

/**
 * The finalizer a client leaves in its caller's scope. Made here, not inline
 * in `make`: a closure keeps its whole enclosing context alive as long as
 * that scope is open.
 */
const closeWithScope = (client: Client<any>): Scope.Scope.Finalizer => () => client.close()

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
    const env = environment(transport, clock, runtime, ticker)
    const client = new Client<A>(url, options as JetSocket.JetSocket.Options<A, any>, env)
    // The client's scope is the user's: closing it closes the client (the supervisor interrupted,
    // its sockets closed with 1000, the events ended).
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
