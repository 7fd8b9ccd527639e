import type * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import * as ParseResult from "effect/ParseResult"
import * as PubSub from "effect/PubSub"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as JetSocket from "../JetSocket.js"
import {
  BufferOverflowError,
  CallbackError,
  ConnectionTimeoutError,
  InvalidMessageError,
  InvalidStateError,
  type JetSocketError
} from "../JetSocketError.js"
import * as MessageBuffer from "../MessageBuffer.js"
import type * as Multiplex from "../Multiplex.js"
import type { Transport } from "../Transport.js"
import { preview, schemaDecoder } from "./codec.js"
import * as Guard from "./guard.js"
import * as Options from "./options.js"
import * as ReceiveBuffer from "./receiveBuffer.js"
import { ownedBy } from "./telemetryLabels.js"

/** @internal */
export const TypeId: unique symbol = Symbol.for("jetsocket/Multiplex")

/** Messages no subscription takes, kept for `unrouted` (a sliding hub): as many as a receive buffer holds by default. */
const UNROUTED_CAPACITY = MessageBuffer.defaults.capacity

/**
 * One subscriber of a channel: its own bounded queue, or (`mux.runForEach`)
 * a handler the router runs itself, and what ends its run.
 */
class Sub {
  received = 0
  invalid = 0
  active = true
  /** runForEach: this batch's messages for the handler (the router runs them once per batch). */
  pending: Array<unknown> | undefined
  constructor(
    readonly channel: string,
    readonly buffer: MessageBuffer.ReceiveBuffer<unknown, JetSocketError>,
    readonly latch: Effect.Latch,
    readonly decode: ((u: unknown) => Either.Either<unknown, ParseResult.ParseError>) | undefined,
    readonly strict: boolean,
    readonly handler?: Handler | undefined
  ) {}
}

/** `mux.runForEach`'s handler and the run it ends (with the handler's failure, the connection's, or unsubscribed). */
interface Handler {
  readonly f: (message: unknown) => Effect.Effect<void, unknown>
  readonly done: Deferred.Deferred<void, unknown>
}

/** A channel subscribed on the server, shared by its subscribers. */
class Channel {
  readonly subscribers = new Set<Sub>()
  /** The connection generation its subscribe message was last sent on. */
  sentOn = -1
}

const frameOf = (message: unknown): string => (typeof message === "string" ? message : JSON.stringify(message))

/** @internal */
export const make = (
  url: JetSocket.JetSocket.Dynamic<string>,
  options: Multiplex.Multiplex.Options
): Effect.Effect<Multiplex.Multiplex<unknown>, JetSocketError, Scope.Scope | Transport> =>
  Effect.gen(function*() {
    // Checked before the client is made: every bad option named (see options.ts).
    yield* Options.check(Options.multiplex(options))
    const {
      channelExtractor,
      channelKey,
      overflowPolicy,
      queueSize,
      subscribeMessage,
      unsubscribeMessage,
      ...clientOptions
    } = options
    const extract: (message: unknown) => unknown = channelExtractor ??
      (channelKey === undefined
        ? () => undefined
        : (message) => (typeof message === "object" && message !== null ? (message as Record<string, unknown>)[channelKey] : undefined))

    // The user's runtime: the fibers the multiplexer starts from callbacks, and the Effects of
    // subscription schemas, run in it (its supervisor, logger, tracer and FiberRefs see them).
    const runtime = yield* Effect.runtime<never>()
    // Fibers started outside any fiber (an overflow callback): in the user's runtime, and
    // interrupted when the multiplexer's scope closes.
    const run = yield* FiberSet.runtime(yield* FiberSet.make<void, never>())<never>()
    // `ownedBy`: the `jetsocket.owner` label of its metrics (docs/observability.md)
    const ws = yield* ownedBy("multiplexer")(JetSocket.connect(url, clientOptions))
    const channels = new Map<string, Channel>()
    const unrouted = yield* PubSub.sliding<unknown>(UNROUTED_CAPACITY)
    /** Incremented on every connection after the first (the connect hook). */
    let generation = 0
    let totalSubscriptions = 0
    let activeSubscriptions = 0
    let totalMessagesRouted = 0
    let unroutableMessages = 0
    let subscribeMessagesSent = 0

    const sendSubscribe = (channel: string, entry: Channel, send: (text: string) => Effect.Effect<void, JetSocketError>) =>
      Effect.suspend(() => {
        if (subscribeMessage === undefined) {
          entry.sentOn = generation
          return Effect.void
        }
        return Guard.effect("subscribeMessage", () => send(frameOf(subscribeMessage(channel)))).pipe(
          Effect.tap(() =>
            Effect.sync(() => {
              entry.sentOn = generation
              subscribeMessagesSent++
            })
          )
        )
      })

    // Every later connection: re-subscribe each active channel, once, before messages flow.
    yield* ws.onConnect((context) =>
      Effect.suspend(() => {
        generation++
        return Effect.forEach(
          [...channels],
          ([channel, entry]) => (entry.sentOn === generation ? Effect.void : sendSubscribe(channel, entry, context.sendText)),
          { discard: true }
        )
      })
    )

    /**
     * Subscribes a new channel on the server: now if connected, else the
     * connect hook does it; if the hook already ran for the connection being
     * opened, send it once that connection is up.
     */
    const subscribeRemote = (channel: string, entry: Channel) =>
      Effect.gen(function*() {
        const sent = yield* Effect.either(sendSubscribe(channel, entry, (text) => ws.sendText(text, { queue: false })))
        if (Either.isRight(sent)) return
        if (sent.left._tag !== "InvalidStateError") return yield* Effect.fail(sent.left)
        yield* ws.stateChanges.pipe(
          Stream.filter((state) => state === "Connected"),
          Stream.mapEffect(() =>
            channels.get(channel) !== entry || entry.sentOn === generation
              ? Effect.succeed(true)
              : Effect.map(Effect.either(sendSubscribe(channel, entry, (text) => ws.sendText(text, { queue: false }))), Either.isRight)
          ),
          Stream.takeUntil((done) => done),
          Stream.runDrain,
          Effect.forkScoped
        )
      })

    const unsubscribeRemote = (channel: string) =>
      unsubscribeMessage === undefined
        ? Effect.void
        // Not connected: nothing to undo, the next connection will not re-subscribe it.
        : Guard.effect("unsubscribeMessage", () => ws.sendText(frameOf(unsubscribeMessage(channel)), { queue: false })).pipe(
          Effect.catchAll((error) => (error._tag === "CallbackError" ? endWith(error) : Effect.void))
        )

    const deliver = (sub: Sub, message: unknown) => {
      sub.received++
      if (sub.decode === undefined) return sub.buffer.offer(message)
      const decoded = sub.decode(message)
      if (Either.isRight(decoded)) return sub.buffer.offer(decoded.right)
      const error = new InvalidMessageError({
        reason: `does not match the subscription's schema: ${ParseResult.TreeFormatter.formatErrorSync(decoded.left)}`,
        preview: preview(message),
        cause: decoded.left
      })
      if (sub.strict) sub.buffer.offerFailure(error)
      else sub.invalid++
      return false
    }

    /**
     * Routes one chunk of the client's messages, in order. A message that fills a subscription
     * under "backpressure" holds routing right after it: the rest of the chunk is routed once that
     * subscription has room, so a subscription never holds more than its `queueSize` and a later
     * message of another channel waits too, whether or not it came in the same chunk.
     */
    const route = (chunk: Chunk.Chunk<unknown>): Effect.Effect<void, CallbackError> =>
      Effect.suspend(() => routeFrom(Chunk.toReadonlyArray(chunk), 0))

    const routeFrom = (messages: ReadonlyArray<unknown>, start: number): Effect.Effect<void, CallbackError> => {
      let paused: Array<Sub> | undefined
      let handled: Array<Sub> | undefined
      for (let i = start; i < messages.length; i++) {
        const message = messages[i]
        let channel: unknown
        try {
          channel = extract(message)
        } catch (cause) {
          return Effect.fail(new CallbackError({ callback: channelExtractor === undefined ? "channelKey" : "channelExtractor", cause }))
        }
        const entry = typeof channel === "string" ? channels.get(channel) : undefined
        if (entry === undefined || entry.subscribers.size === 0) {
          unroutableMessages++
          Runtime.runSync(runtime)(PubSub.publish(unrouted, message))
          continue
        }
        totalMessagesRouted++
        let filled = false
        for (const sub of entry.subscribers) {
          if (sub.handler !== undefined) {
            sub.received++
            if (sub.pending === undefined) (handled ??= []).push(sub)
            ;(sub.pending ??= []).push(message)
            continue
          }
          deliver(sub, message)
          if (sub.buffer.policy === "backpressure" && sub.buffer.size() >= sub.buffer.capacity) {
            ;(paused ??= []).push(sub)
            filled = true
          }
        }
        if (filled && i + 1 < messages.length) {
          return Effect.zipRight(hold(handled, paused), Effect.suspend(() => routeFrom(messages, i + 1)))
        }
      }
      return hold(handled, paused)
    }

    /**
     * Runs this batch's `mux.runForEach` handlers (here, in the router fiber, each on its batch in
     * order: no queue, stream or fiber each), then waits until every full "backpressure"
     * subscription has room (routing held, and so, through the client's buffer, the socket).
     */
    const hold = (handled: Array<Sub> | undefined, paused: Array<Sub> | undefined): Effect.Effect<void> => {
      const run = handled === undefined ? Effect.void : Effect.forEach(handled, runHandler, { discard: true })
      return paused === undefined ? run : Effect.zipRight(run, Effect.forEach(paused, (sub) => sub.latch.await, { discard: true }))
    }

    /** Runs a handler on its batch; its failure ends its run (and only its) and unsubscribes it. */
    const runHandler = (sub: Sub): Effect.Effect<void> => {
      const messages = sub.pending!
      sub.pending = undefined
      if (!sub.active) return Effect.void
      const handler = sub.handler!
      return Effect.forEach(messages, handler.f, { discard: true }).pipe(
        Effect.catchAllCause((cause: Cause.Cause<unknown>) =>
          Effect.zipRight(Deferred.failCause(handler.done, cause), removeSub(sub))
        )
      )
    }

    const failAll = (error: JetSocketError) =>
      Effect.sync(() => {
        for (const entry of channels.values()) {
          for (const sub of entry.subscribers) {
            sub.buffer.fail(error)
            if (sub.handler !== undefined) Deferred.unsafeDone(sub.handler.done, Exit.fail(error))
          }
        }
      })

    /** A user callback threw: every subscription fails with the error naming it, and the connection closes. */
    const endWith = (error: CallbackError) =>
      Effect.zipRight(failAll(error), ws.close(1011, `${error.callback} threw`))

    // One router fiber for the whole multiplexer. An undecodable message fails
    // one run of `messages`; count it as unroutable and carry on.
    const router: Effect.Effect<void> = Effect.gen(function*() {
      while (true) {
        const result = yield* Effect.either(ws.messages.pipe(Stream.runForEachChunk(route)))
        if (Either.isRight(result)) return yield* failAll(new InvalidStateError({ state: "Closed", operation: "recv" }))
        if (result.left._tag === "InvalidMessageError") {
          unroutableMessages++
          continue
        }
        if (result.left._tag === "CallbackError") return yield* endWith(result.left)
        return yield* failAll(result.left)
      }
    }).pipe(
      // The router dying (a bug) must still settle every subscription, never leave it waiting.
      Effect.catchAllDefect((cause) => failAll(new InvalidStateError({ state: "Connected", operation: "route", cause })))
    )
    yield* Effect.forkScoped(router)

    const removeSub = (sub: Sub) =>
      Effect.suspend(() => {
        if (!sub.active) return Effect.void
        sub.active = false
        activeSubscriptions--
        sub.buffer.end()
        if (sub.handler !== undefined) Deferred.unsafeDone(sub.handler.done, Exit.void)
        sub.latch.unsafeOpen()
        const entry = channels.get(sub.channel)
        if (entry === undefined) return Effect.void
        entry.subscribers.delete(sub)
        if (entry.subscribers.size > 0) return Effect.void
        channels.delete(sub.channel)
        return unsubscribeRemote(sub.channel)
      })

    const subscribe = (
      channel: string,
      subscribeOptions?: Multiplex.SubscribeOptions & { readonly schema?: Schema.Schema<any, any, never> }
    ): Effect.Effect<Multiplex.Subscription<any>, JetSocketError, Scope.Scope> =>
      acquireSub(channel, subscribeOptions, undefined).pipe(Effect.map(toSubscription))

    const runForEach = <E>(channel: string, f: (message: unknown) => Effect.Effect<void, E>) =>
      Effect.scoped(Effect.gen(function*() {
        const done = yield* Deferred.make<void, unknown>()
        yield* acquireSub(channel, undefined, { f, done })
        return yield* (Deferred.await(done) as Effect.Effect<void, JetSocketError | E>)
      }))

    const acquireSub = (
      channel: string,
      subscribeOptions: (Multiplex.SubscribeOptions & { readonly schema?: Schema.Schema<any, any, never> }) | undefined,
      handler: Handler | undefined
    ): Effect.Effect<Sub, JetSocketError, Scope.Scope> =>
      Effect.acquireRelease(
        Effect.gen(function*() {
          yield* Options.check(Options.subscription(subscribeOptions))
          const latch = yield* Effect.makeLatch(true)
          const schema = subscribeOptions?.schema
          const sub = new Sub(
            channel,
            ReceiveBuffer.make<unknown, JetSocketError>({
              capacity: subscribeOptions?.queueSize ?? queueSize ?? MessageBuffer.defaults.capacity,
              policy: subscribeOptions?.overflowPolicy ?? overflowPolicy ?? MessageBuffer.defaults.overflowPolicy,
              runtime,
              onPause: () => latch.unsafeClose(),
              onResume: () => latch.unsafeOpen(),
              onOverflow: () => removeAfterOverflow(sub)
            }),
            latch,
            schema === undefined ? undefined : schemaDecoder(schema, runtime),
            subscribeOptions?.strict ?? true,
            handler
          )
          let entry = channels.get(channel)
          const isNew = entry === undefined
          if (entry === undefined) {
            entry = new Channel()
            channels.set(channel, entry)
          }
          entry.subscribers.add(sub)
          totalSubscriptions++
          activeSubscriptions++
          if (isNew) {
            yield* subscribeRemote(channel, entry).pipe(Effect.tapError(() => removeSub(sub)))
          }
          return sub
        }),
        removeSub
      )

    /** Under the "error" policy a full subscription fails (its stream ends with the error) and leaves. */
    const removeAfterOverflow = (sub: Sub) => {
      sub.buffer.fail(new BufferOverflowError({ capacity: sub.buffer.capacity, buffer: "subscription" }))
      run(removeSub(sub))
    }

    const toSubscription = (sub: Sub): Multiplex.Subscription<any> => {
      const take = sub.buffer.recv(() => new InvalidStateError({ state: "Unsubscribed", operation: "recv" }))
      return {
        channel: sub.channel,
        messages: sub.buffer.stream,
        recv: (recvOptions) => {
          if (recvOptions?.timeout === undefined) return take
          const invalid = Options.timeout("recv timeout", recvOptions.timeout)
          if (invalid !== undefined) return Effect.die(invalid)
          const timeout = Duration.decode(recvOptions.timeout)
          return Effect.timeoutFail(take, {
            duration: timeout,
            onTimeout: () => new ConnectionTimeoutError({ operation: "recv", timeout })
          })
        },
        stats: Effect.sync(() => ({
          channel: sub.channel,
          received: sub.received,
          dropped: sub.buffer.dropped(),
          queued: sub.buffer.size(),
          invalid: sub.invalid
        })),
        isActive: Effect.sync(() => sub.active)
      }
    }

    const multiplex: Multiplex.Multiplex<unknown> = {
      [TypeId]: TypeId,
      client: ws,
      events: ws.events,
      subscribe: subscribe as Multiplex.Multiplex<unknown>["subscribe"],
      runForEach,
      unsubscribe: (channel) =>
        Effect.suspend(() => {
          const entry = channels.get(channel)
          if (entry === undefined) return Effect.void
          return Effect.forEach([...entry.subscribers], removeSub, { discard: true })
        }),
      subscriptions: Effect.sync(() => [...channels.keys()]),
      stats: Effect.sync(() => ({
        totalSubscriptions,
        activeSubscriptions,
        activeChannels: channels.size,
        totalMessagesRouted,
        unroutableMessages,
        subscribeMessagesSent
      })),
      unrouted: Stream.fromPubSub(unrouted)
    }
    return multiplex
  })
