import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Fiber, Option, Queue, Stream } from "effect"
import { BufferOverflowError } from "../src/JetSocketError.js"
import * as MessageBuffer from "../src/MessageBuffer.js"
import { queueOf } from "../src/internal/receiveBuffer.js"
import { queueStrategy } from "../src/internal/receiveQueue.js"

const policies: ReadonlyArray<MessageBuffer.OverflowPolicy> = ["backpressure", "drop_oldest", "drop_newest", "error"]

const drain = <A, E>(buffer: MessageBuffer.ReceiveBuffer<A, E>) =>
  buffer.stream.pipe(Stream.runCollect, Effect.map(Chunk.toReadonlyArray))

/** Lets forked fibers run until they suspend (no clock involved). */
const settle = Effect.gen(function*() {
  for (let i = 0; i < 5; i++) yield* Effect.yieldNow()
})

const full = (policy: MessageBuffer.OverflowPolicy, capacity = 3) => {
  const buffer = MessageBuffer.make<number, string>({ capacity, policy })
  for (let n = 1; n <= capacity; n++) buffer.offer(n)
  return { buffer, queue: queueOf(buffer) as Queue.Queue<number> }
}

describe("receive buffers are Effect Queues with the strategy the overflow policy maps to", () => {
  it("every policy's buffer is a Queue; the strategy is backpressure → back-pressure, drop_oldest → sliding, drop_newest and error → dropping", () => {
    for (const policy of policies) {
      expect(Queue.isQueue(queueOf(MessageBuffer.make<number, string>({ capacity: 2, policy })))).toBe(true)
    }
    const kind = (strategy: Queue.Strategy<unknown>) => Object.getPrototypeOf(strategy)
    expect(kind(queueStrategy("backpressure"))).toBe(kind(Queue.backPressureStrategy()))
    expect(kind(queueStrategy("drop_oldest"))).toBe(kind(Queue.slidingStrategy()))
    expect(kind(queueStrategy("drop_newest"))).toBe(kind(Queue.droppingStrategy()))
    expect(kind(queueStrategy("error"))).toBe(kind(Queue.droppingStrategy()))
    // three different strategies
    expect(new Set(policies.map((p) => kind(queueStrategy(p)))).size).toBe(3)
  })

  it.effect("backpressure: an Effectful Queue.offer on a full buffer suspends until a recv makes room; nothing is lost", () =>
    Effect.gen(function*() {
      const { buffer, queue } = full("backpressure")
      const offerer = yield* Effect.fork(Queue.offer(queue, 4))
      yield* settle
      expect(Option.isNone(yield* Fiber.poll(offerer))).toBe(true)
      expect(yield* buffer.recv(() => "ended")).toBe(1)
      expect(yield* Fiber.join(offerer)).toBe(true)
      buffer.end()
      expect(yield* drain(buffer)).toEqual([2, 3, 4])
      expect(buffer.dropped()).toBe(0)
    }))

  it.effect("drop_oldest (sliding): a full buffer takes the new message and evicts the oldest, from the socket and from Queue.offer", () =>
    Effect.gen(function*() {
      const { buffer, queue } = full("drop_oldest")
      expect(buffer.offer(4)).toBe(true) // the socket's synchronous offer
      expect(yield* Queue.offer(queue, 5)).toBe(true)
      expect(buffer.dropped()).toBe(2)
      buffer.end()
      expect(yield* drain(buffer)).toEqual([3, 4, 5])
    }))

  it.effect("drop_newest (dropping): a full buffer refuses at once, from the socket and from Queue.offer, and keeps the oldest", () =>
    Effect.gen(function*() {
      const { buffer, queue } = full("drop_newest")
      expect(buffer.offer(4)).toBe(false)
      const offerer = yield* Effect.fork(Queue.offer(queue, 5))
      yield* settle
      const result = yield* Fiber.poll(offerer)
      expect(Option.isSome(result) && result.value._tag === "Success" && result.value.value).toBe(false)
      expect(buffer.dropped()).toBe(2)
      buffer.end()
      expect(yield* drain(buffer)).toEqual([1, 2, 3])
    }))

  it.effect("error (dropping + BufferOverflowError): a full buffer refuses at once and reports the overflow; the stream drains, then fails with { capacity }", () =>
    Effect.gen(function*() {
      let overflows = 0
      const buffer = MessageBuffer.make<number, BufferOverflowError>({ capacity: 2, policy: "error", onOverflow: () => overflows++ })
      const queue = queueOf(buffer) as Queue.Queue<number>
      buffer.offer(1)
      buffer.offer(2)
      const offerer = yield* Effect.fork(Queue.offer(queue, 3))
      yield* settle
      const result = yield* Fiber.poll(offerer)
      expect(Option.isSome(result) && result.value._tag === "Success" && result.value.value).toBe(false)
      expect(buffer.offer(4)).toBe(false)
      expect(overflows).toBe(1)
      expect(buffer.dropped()).toBe(0)
      buffer.fail(new BufferOverflowError({ capacity: 2, buffer: "receive" }))
      const seen: Array<number> = []
      const run = yield* buffer.stream.pipe(Stream.runForEach((n) => Effect.sync(() => seen.push(n))), Effect.either)
      expect(seen).toEqual([1, 2])
      expect(Either.isLeft(run) && run.left).toMatchObject({ _tag: "BufferOverflowError", capacity: 2 })
    }))

  it.effect("what Queue.offer puts in reaches recv and the stream like a socket message, in order", () =>
    Effect.gen(function*() {
      const buffer = MessageBuffer.make<number, string>({ capacity: 10, policy: "backpressure" })
      const queue = queueOf(buffer) as Queue.Queue<number>
      const waiting = yield* Effect.fork(buffer.recv(() => "ended"))
      yield* settle
      yield* Queue.offer(queue, 1)
      expect(yield* Fiber.join(waiting)).toBe(1)
      buffer.offer(2)
      yield* Queue.offer(queue, 3)
      buffer.end()
      expect(yield* drain(buffer)).toEqual([2, 3])
    }))

  it.effect("an interrupted recv leaves no Queue taker behind (Queue.size back to 0); the stream's wait is not a Queue taker", () =>
    Effect.gen(function*() {
      const buffer = MessageBuffer.make<number, string>({ capacity: 10, policy: "backpressure" })
      const queue = queueOf(buffer)
      for (let i = 0; i < 50; i++) {
        const single = yield* Effect.fork(buffer.recv(() => "ended"))
        const chunk = yield* Effect.fork(Stream.runHead(buffer.stream))
        yield* settle
        // recv waits in Queue.take: a waiting taker counts as -1 in a Queue's size
        expect(yield* Queue.size(queue)).toBe(-1)
        yield* Fiber.interrupt(single)
        yield* Fiber.interrupt(chunk)
      }
      expect(yield* Queue.size(queue)).toBe(0)
      buffer.offer(7)
      expect(yield* buffer.recv(() => "ended")).toBe(7)
    }))

  it.effect("every waiting taker sees the end; later takes too", () =>
    Effect.gen(function*() {
      const buffer = MessageBuffer.make<number, string>({ capacity: 10, policy: "drop_newest" })
      const takers = yield* Effect.forEach([1, 2, 3], () => Effect.fork(Effect.flip(buffer.recv(() => "ended"))))
      const streamRun = yield* Effect.fork(drain(buffer))
      yield* settle
      buffer.fail("boom")
      expect(yield* Effect.forEach(takers, Fiber.join)).toEqual(["boom", "boom", "boom"])
      expect(yield* Effect.flip(Fiber.join(streamRun))).toBe("boom")
      expect(yield* Effect.flip(buffer.recv(() => "ended"))).toBe("boom")
      expect(buffer.offer(1)).toBe(false)
    }))
})
