import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import type * as ConnectionPool from "../ConnectionPool.js"
import * as JetSocket from "../JetSocket.js"
import { ConnectionTimeoutError, InvalidStateError, type JetSocketError, PoolExhaustedError } from "../JetSocketError.js"
import * as Transport from "../Transport.js"
import * as Options from "./options.js"
import { drain, PooledConnection } from "./pooledConnection.js"
import { ownedBy } from "./telemetryLabels.js"
import { resolveUrl, validateUrl } from "./url.js"

/** @internal */
export const TypeId: unique symbol = Symbol.for("jetsocket/ConnectionPool")

/** @internal */
export const tag = Context.GenericTag<ConnectionPool.ConnectionPool>("jetsocket/ConnectionPool")

/** @internal */
export const defaults = {
  maxConnections: 10,
  maxIdleTime: Duration.minutes(5),
  healthCheckInterval: Duration.seconds(30),
  healthCheckTimeout: Duration.seconds(5),
  acquireTimeout: Duration.seconds(30)
} as const

/** What a waiter is handed: a connection for its URL, or the right to open one. */
type Grant = { readonly _tag: "Connection"; readonly connection: PooledConnection } | { readonly _tag: "Slot" }

const slotGrant: Grant = { _tag: "Slot" }

interface Waiter {
  readonly url: string
  readonly deferred: Deferred.Deferred<Grant, JetSocketError>
  grant: Grant | undefined
}

const terminalStates: ReadonlySet<JetSocket.ConnectionState> = new Set(["Closed", "Failed", "Disconnecting"])

class Pool implements ConnectionPool.ConnectionPool {
  readonly [TypeId]: typeof TypeId = TypeId

  readonly maxConnections: number
  private readonly maxIdleTime: Duration.Duration
  private readonly healthCheckInterval: Duration.Duration
  private readonly healthCheckTimeout: Duration.Duration
  private readonly acquireTimeout: Duration.Duration
  private readonly connectOptions: JetSocket.JetSocket.Options<any, any>
  private readonly reconnects: boolean

  /** Connections counted against the limit: connecting, active, idle and closing ones. */
  private slots = 0
  private active = 0
  private idleCount = 0
  private closingCount = 0
  private nextId = 0
  private created = 0
  private closedCount = 0
  private closedSent = 0
  private closedReceived = 0
  private shutdown = false
  private readonly live = new Set<PooledConnection>()
  /** Idle connections per URL, most recently used last. */
  private readonly idle = new Map<string, Array<PooledConnection>>()
  /** Waiters in arrival order. */
  private waiters: Array<Waiter> = []

  constructor(
    readonly config: ConnectionPool.ConnectionPool.Config,
    private readonly transport: Transport.Transport,
    private readonly clock: Clock.Clock,
    /** Parent of every connection's scope (closed in parallel when the pool closes). */
    private readonly connections: Scope.Scope,
    private readonly run: <XE, XA>(effect: Effect.Effect<XA, XE>) => Fiber.RuntimeFiber<XA, XE>
  ) {
    this.maxConnections = Math.max(1, Math.floor(config.maxConnections ?? defaults.maxConnections))
    this.maxIdleTime = Duration.decode(config.maxIdleTime ?? defaults.maxIdleTime)
    this.healthCheckInterval = config.healthCheckInterval === false
      ? Duration.infinity
      : Duration.decode(config.healthCheckInterval ?? defaults.healthCheckInterval)
    this.healthCheckTimeout = Duration.decode(config.healthCheckTimeout ?? defaults.healthCheckTimeout)
    this.acquireTimeout = Duration.decode(config.acquireTimeout ?? defaults.acquireTimeout)
    this.connectOptions = { reconnect: false, ...config.connectOptions }
    this.reconnects = this.connectOptions.reconnect !== false
  }

  // ------------------------------------------------------------ bookkeeping (synchronous)

  private now(): number {
    return this.clock.unsafeCurrentTimeMillis()
  }

  /** A connection worth keeping: open, or (with reconnect on) on its way back. */
  private healthy(state: JetSocket.ConnectionState): boolean {
    if (this.shutdown) return false
    return this.reconnects ? !terminalStates.has(state) : state === "Connected"
  }

  private popIdle(url: string): PooledConnection | undefined {
    const list = this.idle.get(url)
    if (list === undefined) return undefined
    const connection = list.pop()
    if (list.length === 0) this.idle.delete(url)
    if (connection !== undefined) this.leaveIdle(connection)
    return connection
  }

  private removeIdle(connection: PooledConnection): void {
    const list = this.idle.get(connection.url)
    const index = list === undefined ? -1 : list.indexOf(connection)
    if (index < 0) return
    list!.splice(index, 1)
    if (list!.length === 0) this.idle.delete(connection.url)
    this.leaveIdle(connection)
  }

  private leaveIdle(connection: PooledConnection): void {
    this.idleCount--
    const fiber = connection.idleFiber
    connection.idleFiber = undefined
    if (fiber !== undefined) fiber.unsafeInterruptAsFork(FiberId.none)
  }

  /** The idle connection unused for the longest time, of any URL. */
  private oldestIdle(): PooledConnection | undefined {
    let oldest: PooledConnection | undefined
    for (const list of this.idle.values()) {
      const first = list[0]
      if (first !== undefined && (oldest === undefined || first.idleSince < oldest.idleSince)) oldest = first
    }
    return oldest
  }

  private grant(waiter: Waiter, grant: Grant): void {
    waiter.grant = grant
    if (grant._tag === "Connection") {
      grant.connection.status = "active"
      this.active++
    }
    Deferred.unsafeDone(waiter.deferred, Exit.succeed(grant))
  }

  /** Serves waiters strictly in arrival order, as far as connections and slots allow. */
  private dispatch(): void {
    while (this.waiters.length > 0) {
      const head = this.waiters[0]!
      const connection = this.popIdle(head.url)
      if (connection !== undefined) {
        this.waiters.shift()
        this.grant(head, { _tag: "Connection", connection })
        continue
      }
      if (this.slots < this.maxConnections) {
        this.slots++
        this.waiters.shift()
        this.grant(head, slotGrant)
        continue
      }
      // Full. A closing connection frees a slot soon (and dispatches again);
      // otherwise make room by closing the least recently used idle connection of another URL.
      if (this.closingCount === 0) {
        const victim = this.oldestIdle()
        if (victim !== undefined) {
          this.removeIdle(victim)
          this.evict(victim)
        }
      }
      return
    }
  }

  /** Closes a connection in the background; its slot is freed once the close has finished. */
  private evict(connection: PooledConnection): void {
    connection.status = "closing"
    this.closingCount++
    this.run(Effect.uninterruptible(
      Scope.close(connection.scope, Exit.void).pipe(
        Effect.zipRight(connection.client.stats),
        Effect.map((stats) => {
          this.closedSent += stats.messagesSent
          this.closedReceived += stats.messagesReceived
        }),
        Effect.ensuring(Effect.sync(() => {
          this.live.delete(connection)
          this.closedCount++
          this.closingCount--
          this.slots--
          this.dispatch()
        }))
      )
    ))
  }

  private freeSlot(): void {
    this.slots--
    this.dispatch()
  }

  /** Puts a released connection back: to the first waiter if it wants that URL, else idle. */
  private checkIn(connection: PooledConnection, state: JetSocket.ConnectionState): void {
    this.active--
    if (!this.healthy(state)) return this.evict(connection)
    const head = this.waiters[0]
    if (head !== undefined && head.url === connection.url) {
      this.waiters.shift()
      return this.grant(head, { _tag: "Connection", connection })
    }
    connection.status = "idle"
    connection.idleSince = this.now()
    const list = this.idle.get(connection.url)
    if (list === undefined) this.idle.set(connection.url, [connection])
    else list.push(connection)
    this.idleCount++
    this.dispatch()
    if (connection.status === "idle") connection.idleFiber = this.run(this.idleLife(connection))
  }

  /** Gives back what a waiter got but could not use (it was interrupted). */
  private returnGrant(grant: Grant): Effect.Effect<void> {
    if (grant._tag === "Slot") return Effect.sync(() => this.freeSlot())
    return this.release(grant.connection, Exit.void)
  }

  // ------------------------------------------------------------ idle life

  /** Pings an idle connection every `healthCheckInterval`, and closes it after `maxIdleTime`. */
  private idleLife(connection: PooledConnection): Effect.Effect<void> {
    const expire = Effect.sync(() => {
      if (connection.status !== "idle") return
      connection.idleFiber = undefined
      this.removeIdle(connection)
      this.evict(connection)
    })
    const maxIdle = Duration.toMillis(this.maxIdleTime)
    const check = Duration.toMillis(this.healthCheckInterval)
    const loop: Effect.Effect<void> = Effect.suspend(() => {
      const left = maxIdle - (this.now() - connection.idleSince)
      if (left <= 0) return expire
      const wait = Math.min(left, check)
      if (!Number.isFinite(wait)) return Effect.never
      return Effect.sleep(Duration.millis(wait)).pipe(
        Effect.zipRight(Effect.suspend(() => {
          if (maxIdle - (this.now() - connection.idleSince) <= 0) return expire
          return connection.client.ping({ timeout: this.healthCheckTimeout }).pipe(
            Effect.matchEffect({ onFailure: () => expire, onSuccess: () => loop })
          )
        }))
      )
    })
    return loop
  }

  // ------------------------------------------------------------ acquire

  /**
   * Takes a connection or a slot at once when nobody is waiting, else queues
   * (FIFO) until `deadline` (epoch ms), then fails with `PoolExhaustedError`
   * naming the acquire's `timeout`.
   */
  private wait(url: string, deadline: number, timeout: Duration.Duration): Effect.Effect<Grant, JetSocketError> {
    return Effect.suspend(() => {
      if (this.shutdown) return Effect.fail(new InvalidStateError({ state: "Closed", operation: "acquire" }))
      if (this.waiters.length === 0) {
        const connection = this.popIdle(url)
        if (connection !== undefined) {
          connection.status = "active"
          this.active++
          return Effect.succeed<Grant>({ _tag: "Connection", connection })
        }
        if (this.slots < this.maxConnections) {
          this.slots++
          return Effect.succeed(slotGrant)
        }
      }
      const waiter: Waiter = { url, deferred: Deferred.unsafeMake(FiberId.none), grant: undefined }
      this.waiters.push(waiter)
      this.dispatch()
      const awaited = Number.isFinite(deadline)
        ? Effect.timeoutFail(Deferred.await(waiter.deferred), {
          duration: Duration.millis(Math.max(0, deadline - this.now())),
          onTimeout: () => new PoolExhaustedError({ maxConnections: this.maxConnections, timeout, url })
        })
        : Deferred.await(waiter.deferred)
      return Effect.onExit(awaited, (exit) => {
        if (Exit.isSuccess(exit)) return Effect.void
        // Timed out or interrupted: leave the queue, and give back anything granted meanwhile.
        const index = this.waiters.indexOf(waiter)
        if (index >= 0) this.waiters.splice(index, 1)
        return waiter.grant === undefined ? Effect.void : this.returnGrant(waiter.grant)
      })
    })
  }

  /**
   * Opens a connection for a granted slot, by `deadline` (epoch ms: what is
   * left of the acquire's timeout, on top of the connect's own timeout); on
   * failure (or interruption) the slot is freed.
   */
  private open(url: string, deadline: number, timeout: Duration.Duration): Effect.Effect<PooledConnection, JetSocketError> {
    const connect = JetSocket.connect<any>(url, this.connectOptions)
    const bounded = Number.isFinite(deadline)
      ? Effect.suspend(() =>
        Effect.timeoutFail(connect, {
          duration: Duration.millis(Math.max(0, deadline - this.now())),
          onTimeout: () => new ConnectionTimeoutError({ operation: "connect", timeout, url })
        })
      )
      : connect
    return Effect.uninterruptibleMask((restore) =>
      Effect.gen(this, function*() {
        const scope = yield* Scope.fork(this.connections, ExecutionStrategy.sequential)
        const client = yield* restore(bounded).pipe(
          Scope.extend(scope),
          ownedBy("pool"), // the `jetsocket.owner` label of its metrics (docs/observability.md)
          Effect.provideService(Transport.Transport, this.transport),
          Effect.onExit((exit) => Exit.isSuccess(exit) ? Effect.void : Scope.close(scope, Exit.void))
        )
        const connection = new PooledConnection(this.nextId++, url, client, scope)
        this.created++
        this.active++
        this.live.add(connection)
        return connection
      })
    ).pipe(Effect.onError(() => Effect.sync(() => this.freeSlot())))
  }

  /**
   * Returns a connection when its lease ends. A lease that ended in failure or
   * interruption may have left a reply on its way: that connection is discarded.
   */
  private release(connection: PooledConnection, exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> {
    return Effect.flatMap(
      connection.client.state,
      (state) => Effect.sync(() => this.checkIn(connection, Exit.isSuccess(exit) ? state : "Closed"))
    )
  }

  readonly acquire = <A = unknown>(
    pathOrUrl: string,
    options?: ConnectionPool.ConnectionPool.AcquireOptions
  ): Effect.Effect<JetSocket.JetSocket<A>, JetSocketError, Scope.Scope> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.gen(this, function*() {
        const resolved = resolveUrl(this.config.baseUrl, pathOrUrl)
        const invalid = validateUrl(resolved)
        if (invalid !== undefined) return yield* Effect.fail(invalid)
        // One key per URL however it was spelled ("ws://H:1" and "ws://h:1/" are the same).
        const url = new URL(resolved).href
        yield* Options.check(Options.timeout("acquire timeout", options?.timeout, true))
        const timeout = options?.timeout === undefined ? this.acquireTimeout : Duration.decode(options.timeout)
        const scope = yield* Effect.scope
        // One deadline bounds every wait of this acquire: queueing, and opening a connection.
        // (The drain and the release never wait.)
        const deadline = this.now() + Duration.toMillis(timeout)
        while (true) {
          const grant = yield* restore(this.wait(url, deadline, timeout))
          let connection: PooledConnection
          if (grant._tag === "Connection") {
            connection = grant.connection
            // An idle connection may have died since its last check: discard it and try again.
            const state = yield* connection.client.state
            if (!this.healthy(state)) {
              this.active--
              this.evict(connection)
              continue
            }
            yield* drain(connection.client)
          } else {
            connection = yield* restore(this.open(url, deadline, timeout))
          }
          yield* Scope.addFinalizerExit(scope, (exit) => this.release(connection, exit))
          return connection.client as JetSocket.JetSocket<A>
        }
      })
    )

  // ------------------------------------------------------------ stats, shutdown

  readonly stats: Effect.Effect<ConnectionPool.PoolStats> = Effect.suspend(() => {
    const connections = Array.from(this.live)
    return Effect.map(Effect.forEach(connections, (connection) => connection.client.stats), (all) => {
      let sent = this.closedSent
      let received = this.closedReceived
      for (const stats of all) {
        sent += stats.messagesSent
        received += stats.messagesReceived
      }
      return {
        maxConnections: this.maxConnections,
        total: this.slots,
        active: this.active,
        idle: this.idleCount,
        waiting: this.waiters.length,
        closing: this.closingCount,
        created: this.created,
        closed: this.closedCount,
        messagesSent: sent,
        messagesReceived: received
      }
    })
  })

  /** Stops handing out connections and fails every waiter; the scopes close the connections. */
  readonly close: Effect.Effect<void> = Effect.sync(() => {
    this.shutdown = true
    const waiters = this.waiters
    this.waiters = []
    const error = new InvalidStateError({ state: "Closed", operation: "acquire" })
    for (const waiter of waiters) Deferred.unsafeDone(waiter.deferred, Exit.fail(error))
    for (const list of this.idle.values()) {
      for (const connection of list) {
        const fiber = connection.idleFiber
        connection.idleFiber = undefined
        if (fiber !== undefined) fiber.unsafeInterruptAsFork(FiberId.none)
      }
    }
  })
}

/** @internal */
export const make = (
  config: ConnectionPool.ConnectionPool.Config
): Effect.Effect<ConnectionPool.ConnectionPool, never, Scope.Scope | Transport.Transport> =>
  Effect.gen(function*() {
    // The config and its connectOptions, checked before anything is made (see options.ts).
    yield* Options.check(Options.pool(config))
    const transport = yield* Transport.Transport
    const clock = yield* Effect.clock
    const scope = yield* Effect.scope
    // Closed last: every connection, in parallel (each sends close 1000).
    const connections = yield* Scope.fork(scope, ExecutionStrategy.parallel)
    // Closed before that: idle timers, health checks and background closes.
    const fibers = yield* FiberSet.make<any, any>()
    const run = yield* FiberSet.runtime(fibers)<never>()
    const pool = new Pool(config, transport, clock, connections, run)
    // Runs first: no more acquires, waiters fail.
    yield* Effect.addFinalizer(() => pool.close)
    return pool
  })

/** @internal */
export const layer = (
  config: ConnectionPool.ConnectionPool.Config
): Layer.Layer<ConnectionPool.ConnectionPool, never, Transport.Transport> => Layer.scoped(tag, make(config))
