/**
 * A pool of exclusive JetSocket connections, as a scoped `Layer`.
 *
 * `pool.acquire(pathOrUrl)` hands out a connection for that URL for the
 * length of a `Scope`: an idle one if it is healthy, else a new one while the
 * pool holds fewer than `maxConnections` (all URLs together), else it waits,
 * in arrival order, up to `acquireTimeout` and then fails with
 * `PoolExhaustedError`. Closing the scope returns the connection (or discards
 * it when it failed or was closed). Idle connections are pinged every
 * `healthCheckInterval` and closed after `maxIdleTime`. Closing the layer
 * closes every connection with code 1000.
 *
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { ConnectionPool } from "jetsocket"
 * import { NodeTransport } from "jetsocket/node"
 *
 * const PoolLive = ConnectionPool.layer({ baseUrl: "ws://127.0.0.1:8080", maxConnections: 4 }).pipe(
 *   Layer.provide(NodeTransport.layer)
 * )
 *
 * const program = Effect.gen(function*() {
 *   const pool = yield* ConnectionPool.ConnectionPool
 *   const reply = yield* Effect.scoped(Effect.gen(function*() {
 *     const ws = yield* pool.acquire("/rpc")
 *     yield* ws.send({ op: "ping" })
 *     return yield* ws.recv({ timeout: "5 seconds" })
 *   }))
 *   yield* Effect.log(reply)
 * }).pipe(Effect.provide(PoolLive))
 * ```
 *
 * @since 0.1.0
 */
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/connectionPool.js"
import type * as JetSocket from "./JetSocket.js"
import type { JetSocketError } from "./JetSocketError.js"
import type { Transport } from "./Transport.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: typeof internal.TypeId = internal.TypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * A snapshot of a pool's figures.
 *
 * @since 0.1.0
 * @category models
 */
export interface PoolStats {
  readonly maxConnections: number
  /** Connections counted against `maxConnections`: connecting, active, idle and closing ones. */
  readonly total: number
  /** Connections checked out right now. */
  readonly active: number
  /** Connections waiting in the pool to be reused. */
  readonly idle: number
  /** Acquirers waiting for a connection. */
  readonly waiting: number
  /** Connections being closed (evicted, expired, failed); their slots free up when the close ends. */
  readonly closing: number
  /** Connections opened since the pool started. */
  readonly created: number
  /** Connections closed since the pool started. */
  readonly closed: number
  /** Messages sent over every connection of the pool, closed ones included. */
  readonly messagesSent: number
  /** Messages received over every connection of the pool, closed ones included. */
  readonly messagesReceived: number
}

/**
 * The pool service.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectionPool {
  readonly [TypeId]: TypeId
  readonly config: ConnectionPool.Config
  readonly maxConnections: number
  /**
   * Checks out a connection for `pathOrUrl` (resolved against `baseUrl`)
   * until the scope closes. `A` is the message type the pool's
   * `connectOptions` produce (`unknown` unless a `schema` or `codec` says
   * otherwise). Fails with `PoolExhaustedError` when no connection could be
   * had within the timeout, or with the connect error of a new connection
   * (a `ConnectionTimeoutError` when the timeout ends during its handshake).
   * The timeout bounds every wait of `acquire`, and it can be interrupted
   * wherever it waits.
   */
  readonly acquire: <A = unknown>(
    pathOrUrl: string,
    options?: ConnectionPool.AcquireOptions
  ) => Effect.Effect<JetSocket.JetSocket<A>, JetSocketError, Scope.Scope>
  readonly stats: Effect.Effect<PoolStats>
}

/**
 * @since 0.1.0
 */
export declare namespace ConnectionPool {
  /**
   * Pool configuration: every field optional.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Config {
    /** Paths given to `acquire` are resolved against it (absolute URLs are used as they are). */
    readonly baseUrl?: string | undefined
    /** The most connections open at once, over all URLs (default 10). */
    readonly maxConnections?: number | undefined
    /** An idle connection unused for this long is closed (default 5 minutes). */
    readonly maxIdleTime?: Duration.DurationInput | undefined
    /** Idle connections are pinged this often; one that does not answer is closed (default 30 seconds, `false`: never). */
    readonly healthCheckInterval?: Duration.DurationInput | false | undefined
    /** How long a health-check ping waits for its pong (default 5 seconds). */
    readonly healthCheckTimeout?: Duration.DurationInput | undefined
    /**
     * How long `acquire` may take (default 30 seconds): queueing for a
     * connection ends with `PoolExhaustedError`, opening a new one with
     * `ConnectionTimeoutError { operation: "connect" }` (whichever comes
     * first with the connect's own `connectTimeout`).
     */
    readonly acquireTimeout?: Duration.DurationInput | undefined
    /** Options for every connection; `reconnect` defaults to `false` in a pool. */
    readonly connectOptions?: JetSocket.JetSocket.Options<any, any> | undefined
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface AcquireOptions {
    /** Overrides the pool's `acquireTimeout` for this call. */
    readonly timeout?: Duration.DurationInput | undefined
  }
}

/**
 * The `ConnectionPool` service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export const ConnectionPool: Context.Tag<ConnectionPool, ConnectionPool> = internal.tag

/**
 * Creates a pool in the current scope; closing the scope closes every
 * connection (code 1000) and fails pending acquires. An invalid config (or
 * `connectOptions`) is a defect: it dies at once with an
 * `InvalidOptionsError` naming every problem (see docs/errors.md).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (config: ConnectionPool.Config) => Effect.Effect<ConnectionPool, never, Scope.Scope | Transport> =
  internal.make

/**
 * A layer providing the {@link ConnectionPool} service. Building it dies
 * with an `InvalidOptionsError` when the config is invalid.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (config: ConnectionPool.Config) => Layer.Layer<ConnectionPool, never, Transport> = internal.layer

/**
 * @since 0.1.0
 * @category guards
 */
export const isConnectionPool = (u: unknown): u is ConnectionPool =>
  typeof u === "object" && u !== null && TypeId in u
