import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Exit, Fiber, Stream, Supervisor } from "effect"
import { mailboxOf } from "../src/internal/receiveBuffer.js"
import { BufferOverflowError } from "../src/JetSocketError.js"
import * as MessageBuffer from "../src/MessageBuffer.js"

const drain = <A, E>(buffer: MessageBuffer.ReceiveBuffer<A, E>) =>
  buffer.stream.pipe(Stream.runCollect, Effect.map(Chunk.toReadonlyArray))

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

describe("MessageBuffer: policy → queue strategy", () => {
  it("maps each policy to its Effect queue strategy", () => {
    expect(MessageBuffer.strategy("drop_oldest")).toBe("sliding")
    expect(MessageBuffer.strategy("drop_newest")).toBe("dropping")
    expect(MessageBuffer.strategy("error")).toBe("dropping")
    expect(MessageBuffer.strategy("backpressure")).toBe("suspend")
  })

  it("resolves the option: capacity shorthand, defaults, invalid capacity", () => {
    expect(MessageBuffer.resolve(undefined)).toEqual({ capacity: 1000, overflowPolicy: "backpressure", dedup: undefined })
    expect(MessageBuffer.resolve(50)).toEqual({ capacity: 50, overflowPolicy: "backpressure", dedup: undefined })
    const key = (m: { id: number }) => m.id
    const resolved = MessageBuffer.resolve({ capacity: 5, overflowPolicy: "drop_oldest", dedup: { window: 10, key } })
    expect(resolved.capacity).toBe(5)
    expect(resolved.overflowPolicy).toBe("drop_oldest")
    expect(resolved.dedup?.window).toBe(10)
    expect(MessageBuffer.defaults).toEqual({ capacity: 1000, overflowPolicy: "backpressure" })
    expect(() => MessageBuffer.resolve(0)).toThrow(RangeError)
    expect(() => MessageBuffer.resolve({ capacity: 1.5 })).toThrow(RangeError)
  })
})

describe("MessageBuffer: receive buffer without network", () => {
  it.effect("drop_oldest (sliding): keeps the newest, counts the evicted", () =>
    Effect.gen(function*() {
      const drops: Array<number> = []
      const buffer = yield* MessageBuffer.make<number, string>({ capacity: 3, policy: "drop_oldest", onDrop: (n) => drops.push(n) })
      for (const n of range(1, 10)) expect(buffer.offer(n)).toBe(true)
      expect(buffer.size()).toBe(3)
      expect(buffer.dropped()).toBe(7)
      expect(drops.reduce((a, b) => a + b, 0)).toBe(7)
      buffer.end()
      expect(yield* drain(buffer)).toEqual([8, 9, 10])
    }))

  it.effect("drop_newest (dropping): keeps the oldest, counts the discarded", () =>
    Effect.gen(function*() {
      const buffer = yield* MessageBuffer.make<number, string>({ capacity: 3, policy: "drop_newest" })
      const accepted = range(1, 10).map((n) => buffer.offer(n))
      expect(accepted).toEqual([true, true, true, false, false, false, false, false, false, false])
      expect(buffer.dropped()).toBe(7)
      buffer.end()
      expect(yield* drain(buffer)).toEqual([1, 2, 3])
    }))

  it.effect("error: reports the overflow once full, buffered messages still drain before the failure", () =>
    Effect.gen(function*() {
      let overflows = 0
      const buffer = yield* MessageBuffer.make<number, BufferOverflowError>({
        capacity: 2,
        policy: "error",
        onOverflow: () => overflows++
      })
      buffer.offer(1)
      buffer.offer(2)
      expect(overflows).toBe(0)
      expect(buffer.offer(3)).toBe(false)
      expect(overflows).toBe(1)
      // The client answers the overflow by failing the buffer with the error.
      buffer.fail(new BufferOverflowError({ capacity: 2, buffer: "receive" }))
      const seen: Array<number> = []
      const result = yield* buffer.stream.pipe(Stream.runForEach((n) => Effect.sync(() => seen.push(n))), Effect.either)
      expect(seen).toEqual([1, 2])
      expect(Either.isLeft(result) && result.left).toMatchObject({ _tag: "BufferOverflowError", capacity: 2 })
    }))

  it.effect("backpressure (suspend): pauses at capacity, loses nothing, resumes when drained", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const buffer = yield* MessageBuffer.make<number, string>({
        capacity: 4,
        policy: "backpressure",
        onPause: () => log.push("pause"),
        onResume: () => log.push("resume")
      })
      // The socket keeps emitting what it already parsed after the pause: it spills, in order.
      for (const n of range(1, 10)) expect(buffer.offer(n)).toBe(true)
      expect(log).toEqual(["pause"])
      expect(buffer.size()).toBe(10)
      expect(buffer.dropped()).toBe(0)
      expect(yield* buffer.recv(() => "ended")).toBe(1)
      expect(log).toEqual(["pause"])
      const rest: Array<number> = []
      for (let i = 0; i < 6; i++) rest.push(yield* buffer.recv(() => "ended"))
      expect(rest).toEqual([2, 3, 4, 5, 6, 7])
      // Reading resumes once the buffer is down to half its capacity.
      expect(log).toEqual(["pause"])
      rest.push(yield* buffer.recv(() => "ended"))
      expect(buffer.size()).toBe(2)
      expect(log).toEqual(["pause", "resume"])
      buffer.offer(11)
      buffer.end()
      expect(yield* drain(buffer)).toEqual([9, 10, 11])
    }))

  it.effect("backpressure: ending while spilled still delivers everything, in order", () =>
    Effect.gen(function*() {
      const buffer = yield* MessageBuffer.make<number, string>({ capacity: 2, policy: "backpressure" })
      for (const n of range(1, 7)) buffer.offer(n)
      buffer.fail("boom")
      expect(buffer.offer(8)).toBe(false)
      const seen: Array<number> = []
      const exit = yield* buffer.stream.pipe(Stream.runForEach((n) => Effect.sync(() => seen.push(n))), Effect.exit)
      expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7])
      expect(Exit.isFailure(exit)).toBe(true)
    }))

  it.effect("a buffer made with MessageBuffer.make runs its backpressure offer in the caller's runtime (its supervisor sees the fiber)", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.track
      const buffer = yield* MessageBuffer.make<number, string>({ capacity: 2, policy: "backpressure" })
        .pipe(Effect.supervised(supervisor))
      for (const n of range(1, 3)) buffer.offer(n) // the third is refused: a suspending offer waits for room
      const offering = yield* supervisor.value
      expect(offering.length).toBe(1)
      expect(buffer.isPaused()).toBe(true)
      buffer.end()
      expect(yield* drain(buffer)).toEqual([1, 2, 3])
    }))

  it.effect("recv waits for the next offer; an interrupted recv leaves the message for the next one", () =>
    Effect.gen(function*() {
      const buffer = yield* MessageBuffer.make<number, string>({ capacity: 10, policy: "backpressure" })
      const waiting = yield* Effect.fork(buffer.recv(() => "ended"))
      yield* Effect.yieldNow()
      buffer.offer(1)
      expect(yield* Fiber.join(waiting)).toBe(1)
      // A recv interrupted while waiting (a timeout lost the race) must not swallow what comes next.
      const abandoned = yield* Effect.fork(buffer.recv(() => "ended"))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(abandoned)
      buffer.offer(2)
      expect(yield* buffer.recv(() => "ended")).toBe(2)
      buffer.end()
      expect(yield* Effect.flip(buffer.recv(() => "ended"))).toBe("ended")
    }))

  it.effect("interrupted waits do not pile up (a recv timeout polled on a quiet feed)", () =>
    Effect.gen(function*() {
      const buffer = yield* MessageBuffer.make<number, string>({ capacity: 10, policy: "backpressure" })
      for (let i = 0; i < 500; i++) {
        const single = yield* Effect.fork(buffer.recv(() => "ended"))
        const chunk = yield* Effect.fork(Stream.runHead(buffer.stream))
        yield* Effect.yieldNow()
        yield* Fiber.interrupt(single)
        yield* Fiber.interrupt(chunk)
      }
      // The buffer is an Effect Mailbox: an interrupted take (recv's and the stream's) removes its
      // taker, so none is kept (white box: the Mailbox's set of waiting takers).
      const takers = (mailboxOf(buffer) as unknown as { state: { takers: ReadonlySet<unknown> } }).state.takers
      expect(takers.size).toBe(0)
      // and a live consumer still gets the next message
      const live = yield* Effect.fork(buffer.recv(() => "ended"))
      yield* Effect.yieldNow()
      buffer.offer(7)
      expect(yield* Fiber.join(live)).toBe(7)
    }))

  it.effect("a per-message failure is delivered in order; the next run continues after it", () =>
    Effect.gen(function*() {
      const buffer = yield* MessageBuffer.make<number, string>({ capacity: 10, policy: "backpressure" })
      buffer.offer(1)
      buffer.offer(2)
      buffer.offerFailure("bad")
      buffer.offer(3)
      buffer.end()
      const first: Array<number> = []
      const firstRun = yield* buffer.stream.pipe(Stream.runForEach((n) => Effect.sync(() => first.push(n))), Effect.either)
      expect(first).toEqual([1, 2])
      expect(Either.isLeft(firstRun) && firstRun.left).toBe("bad")
      expect(yield* drain(buffer)).toEqual([3])
      const after = yield* Effect.either(buffer.recv(() => "ended"))
      expect(Either.isLeft(after) && after.left).toBe("ended")
    }))

  it.effect("a failure marker obeys the policy: drop_newest discards it when full", () =>
    Effect.gen(function*() {
      const buffer = yield* MessageBuffer.make<number, string>({ capacity: 2, policy: "drop_newest" })
      buffer.offer(1)
      buffer.offer(2)
      buffer.offerFailure("bad")
      expect(buffer.dropped()).toBe(1)
      buffer.end()
      expect(yield* drain(buffer)).toEqual([1, 2])
    }))

  it("dedup window: a key seen among the last `window` keys is a duplicate", () => {
    const window = MessageBuffer.makeDedupWindow(3)
    expect([1, 2, 3].map(window.seen)).toEqual([false, false, false])
    expect(window.seen(2)).toBe(true)
    expect(window.seen(4)).toBe(false) // evicts 1
    expect(window.seen(1)).toBe(false) // 1 fell out of the window; evicts 2
    expect(window.seen(2)).toBe(false)
    expect(window.seen(4)).toBe(true)
    const big = MessageBuffer.makeDedupWindow(1000)
    let duplicates = 0
    for (let round = 0; round < 2; round++) for (const n of range(1, 1000)) if (big.seen(`k${n}`)) duplicates++
    expect(duplicates).toBe(1000)
  })
})
