/**
 * The Promise API, `jetsocket/promise`: the same client for code that does
 * not use Effect. Failures reject with the same tagged error classes
 * (`instanceof ConnectionRefusedError`, `error._tag`), never as an
 * unhandled rejection.
 *
 * ```ts
 * import { connect } from "jetsocket/promise"
 *
 * const ws = await connect("wss://example.com/feed", { heartbeat: "20 seconds" })
 * await ws.send({ op: "subscribe", channel: "trades" })
 * for await (const message of ws) {
 *   console.log(message)
 *   if (done(message)) break // closes the connection
 * }
 * ```
 *
 * Node-only (it uses the `ws` transport by default; pass `transport` to use another).
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Duration from "effect/Duration"
import * as JetSocket from "./JetSocket.js"
import type { JetSocketError } from "./JetSocketError.js"
import type { JetSocketEvent } from "./JetSocketEvent.js"
import * as NodeTransport from "./NodeTransport.js"
import * as Transport from "./Transport.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<A = unknown, I = any> extends JetSocket.JetSocket.Options<A, I> {
  /** The transport to use (default: `NodeTransport.transport`, on `ws`). */
  readonly transport?: Transport.Transport | undefined
}

/**
 * A connected client with a Promise interface. Iterate it with `for await`
 * to receive messages; leaving the loop (`break`, `return`, a throw) closes it.
 *
 * @since 0.1.0
 * @category models
 */
export interface PromiseSocket<A = unknown> extends AsyncIterable<A> {
  readonly send: (message: A) => Promise<void>
  readonly sendText: (text: string) => Promise<void>
  readonly sendBinary: (bytes: Uint8Array) => Promise<void>
  /** The next message; rejects with `ConnectionTimeoutError` after `timeout`. */
  readonly recv: (options?: { readonly timeout?: Duration.DurationInput }) => Promise<A>
  readonly request: (message: A, options: JetSocket.JetSocket.RequestOptions<A>) => Promise<A>
  /** Closes gracefully; safe to call more than once. */
  readonly close: (code?: number, reason?: string) => Promise<void>
  readonly state: () => Promise<JetSocket.ConnectionState>
  readonly stats: () => Promise<JetSocket.ConnectionStats>
  /** Registers a listener for lifecycle events; returns a function that removes it. */
  readonly onEvent: (listener: (event: JetSocketEvent) => void) => () => void
  /** The underlying Effect client. */
  readonly client: JetSocket.JetSocket<A>
}

/** Runs an Effect; a failure rejects with the original error instance. */
const run = <X>(effect: Effect.Effect<X, JetSocketError>): Promise<X> =>
  Effect.runPromiseExit(effect).then((exit) => {
    if (Exit.isSuccess(exit)) return exit.value
    throw Cause.squash(exit.cause)
  })

/**
 * Connects (retrying under the `reconnect` schedule, like `JetSocket.connect`)
 * and resolves once the first connection is open.
 *
 * @since 0.1.0
 * @category constructors
 */
export const connect = async <A = unknown, I = any>(url: string, options: Options<A, I> = {}): Promise<PromiseSocket<A>> => {
  const { transport = NodeTransport.transport, ...clientOptions } = options
  const scope = Effect.runSync(Scope.make())
  const closeScope = () => Effect.runPromise(Scope.close(scope, Exit.void))
  let client: JetSocket.JetSocket<A>
  try {
    client = await run(
      JetSocket.connect<A, I>(url, clientOptions).pipe(
        Scope.extend(scope),
        Effect.provideService(Transport.Transport, transport)
      )
    )
  } catch (error) {
    await closeScope()
    throw error
  }
  let closed: Promise<void> | undefined
  const close = (code?: number, reason?: string) => {
    closed ??= Effect.runPromise(client.close(code, reason)).then(closeScope)
    return closed
  }
  const recv = (recvOptions?: { readonly timeout?: Duration.DurationInput }) =>
    run(client.recv(recvOptions?.timeout === undefined ? undefined : { timeout: recvOptions.timeout }))
  return {
    client,
    send: (message) => run(client.send(message)),
    sendText: (text) => run(client.sendText(text)),
    sendBinary: (bytes) => run(client.sendBinary(bytes)),
    recv,
    request: (message, requestOptions) => run(client.request(message, requestOptions)),
    close,
    state: () => Effect.runPromise(client.state),
    stats: () => Effect.runPromise(client.stats),
    onEvent: (listener) => {
      const fiber = Effect.runFork(
        Effect.flatMap(client.subscribeEvents, Stream.runForEach((event) => Effect.sync(() => listener(event)))).pipe(
          Effect.scoped
        )
      )
      return () => {
        Effect.runFork(Fiber.interrupt(fiber))
      }
    },
    [Symbol.asyncIterator]: () => ({
      next: async () => {
        try {
          return { done: false, value: await recv() }
        } catch (error) {
          // The client was closed: the iteration ends; anything else is thrown.
          if ((error as { _tag?: string })._tag === "InvalidStateError") return { done: true, value: undefined }
          throw error
        }
      },
      return: async () => {
        await close()
        return { done: true, value: undefined }
      }
    })
  }
}
