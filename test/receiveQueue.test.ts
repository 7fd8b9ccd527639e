import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Fiber, Mailbox, Option, Stream } from "effect"
import { BufferOverflowError } from "../src/JetSocketError.js"
import * as MessageBuffer from "../src/MessageBuffer.js"
import { mailboxOf } from "../src/internal/receiveBuffer.js"

const policies: ReadonlyArray<MessageBuffer.OverflowPolicy> = ["backpressure", "drop_oldest", "drop_newest", "error"]

const drain = <A, E>(buffer: MessageBuffer.ReceiveBuffer<A, E>) =>
  buffer.stream.pipe(Stream.runCollect, Effect.map(Chunk.toReadonlyArray))

/** Lets forked fibers run until they suspend (no clock involved). */
const settle = Effect.gen(function*() {
  for (let i = 0; i < 5; i++) yield* Effect.yieldNow()
})

/** White box: what Effect's Mailbox holds and who waits on it. */
interface MailboxInside {
  readonly strategy: string
  readonly state: { readonly takers?: ReadonlySet<unknown>; readonly offers?: ReadonlySet<unknown> }
}
const inside = (buffer: MessageBuffer.ReceiveBuffer<any, any>) => mailboxOf(buffer) as unknown as MailboxInside

/** The messages the Mailbox itself holds, in order (taken without the buffer's help). */
const held = (buffer: MessageBuffer.ReceiveBuffer<any, any>) =>
  Effect.map(mailboxOf(buffer).takeAll, ([messages]) => Chunk.toReadonlyArray(messages))

/** An Effectful `Mailbox.offer` of `n` to the buffer's Mailbox completed with `false` without waiting. */
const refusedAtOnce = (buffer: MessageBuffer.ReceiveBuffer<number, any>, n: number) =>
  Effect.gen(function*() {
    const offerer = yield* Effect.fork(mailboxOf(buffer).offer(n))
    yield* settle
    const result = yield* Fiber.poll(offerer)
    if (Option.isNone(result)) yield* Fiber.interrupt(offerer)
    return Option.isSome(result) && result.value._tag === "Success" && result.value.value === false
  })

const full = (policy: MessageBuffer.OverflowPolicy, capacity = 3) => {
  const buffer = Effect.runSync(MessageBuffer.make<number, string>({ capacity, policy }))
  for (let n = 1; n <= capacity; n++) buffer.offer(n)
  return buffer
}

describe("receive buffers are Effect Mailboxes with the strategy the overflow policy maps to", () => {
  it("every policy's buffer is a Mailbox made with its strategy: backpressure → suspend, drop_oldest → sliding, drop_newest and error → dropping", () => {
    const expected = { backpressure: "suspend", drop_oldest: "sliding", drop_newest: "dropping", error: "dropping" }
    for (const policy of policies) {
      const buffer = Effect.runSync(MessageBuffer.make<number, string>({ capacity: 2, policy }))
      expect(Mailbox.isMailbox(mailboxOf(buffer))).toBe(true)
      expect(inside(buffer).strategy).toBe(expected[policy])
      expect(MessageBuffer.strategy(policy)).toBe(expected[policy])
    }
  })

  it.effect("backpressure: the offer the full Mailbox refused waits in the Mailbox's own suspending offer until a recv makes room; nothing is lost", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const buffer = yield* MessageBuffer.make<number, string>({
        capacity: 3,
        policy: "backpressure",
        onPause: () => log.push("pause"),
        onResume: () => log.push("resume")
      })
      for (let n = 1; n <= 4; n++) expect(buffer.offer(n)).toBe(true)
      // 1..3 fill the Mailbox; 4 waits in a suspended Mailbox offer (registered with the Mailbox itself)
      expect(inside(buffer).state.offers?.size).toBe(1)
      expect(log).toEqual(["pause"])
      expect(yield* buffer.recv(() => "ended")).toBe(1)
      // the take made room: the Mailbox moved 4 in and completed the offer
      expect(inside(buffer).state.offers?.size).toBe(0)
      buffer.end()
      expect(yield* drain(buffer)).toEqual([2, 3, 4])
      expect(buffer.dropped()).toBe(0)
      expect(log).toEqual(["pause", "resume"])
    }))

  it.effect("drop_oldest (sliding): the Mailbox takes the new message and evicts the oldest", () =>
    Effect.gen(function*() {
      const buffer = full("drop_oldest")
      expect(buffer.offer(4)).toBe(true)
      expect(buffer.offer(5)).toBe(true)
      expect(buffer.dropped()).toBe(2)
      expect(buffer.size()).toBe(3)
      expect(yield* held(buffer)).toEqual([3, 4, 5])
    }))

  it.effect("drop_newest (dropping): the Mailbox refuses at once and keeps the oldest", () =>
    Effect.gen(function*() {
      const buffer = full("drop_newest")
      expect(buffer.offer(4)).toBe(false)
      expect(buffer.offer(5)).toBe(false)
      expect(buffer.dropped()).toBe(2)
      // the Mailbox's own Effectful offer is refused at once too (a "suspend" Mailbox would wait)
      expect(yield* refusedAtOnce(buffer, 6)).toBe(true)
      expect(yield* held(buffer)).toEqual([1, 2, 3])
    }))

  it.effect("error (dropping + BufferOverflowError): the Mailbox refuses at once and the refusal reports the overflow; the stream drains, then fails with { capacity }", () =>
    Effect.gen(function*() {
      let overflows = 0
      const buffer = yield* MessageBuffer.make<number, BufferOverflowError>({ capacity: 2, policy: "error", onOverflow: () => overflows++ })
      buffer.offer(1)
      buffer.offer(2)
      expect(buffer.offer(3)).toBe(false)
      expect(overflows).toBe(1)
      expect(buffer.dropped()).toBe(0)
      expect(yield* refusedAtOnce(buffer, 4)).toBe(true)
      expect(inside(buffer).state.offers?.size ?? 0).toBe(0)
      buffer.fail(new BufferOverflowError({ capacity: 2, buffer: "receive" }))
      const seen: Array<number> = []
      const run = yield* buffer.stream.pipe(Stream.runForEach((n) => Effect.sync(() => seen.push(n))), Effect.either)
      expect(seen).toEqual([1, 2])
      expect(Either.isLeft(run) && run.left).toMatchObject({ _tag: "BufferOverflowError", capacity: 2 })
    }))

  it.effect("a recv waiting on the empty Mailbox is woken by the next offer", () =>
    Effect.gen(function*() {
      const buffer = yield* MessageBuffer.make<number, string>({ capacity: 10, policy: "backpressure" })
      const waiting = yield* Effect.fork(buffer.recv(() => "ended"))
      yield* settle
      expect(Option.isNone(yield* Fiber.poll(waiting))).toBe(true)
      expect(inside(buffer).state.takers?.size).toBe(1)
      buffer.offer(1)
      expect(yield* Fiber.join(waiting)).toBe(1)
      buffer.offer(2)
      buffer.offer(3)
      buffer.end()
      expect(yield* drain(buffer)).toEqual([2, 3])
    }))

  it.effect("an interrupted recv or stream leaves no Mailbox taker behind", () =>
    Effect.gen(function*() {
      const buffer = yield* MessageBuffer.make<number, string>({ capacity: 10, policy: "backpressure" })
      for (let i = 0; i < 50; i++) {
        const single = yield* Effect.fork(buffer.recv(() => "ended"))
        const chunk = yield* Effect.fork(Stream.runHead(buffer.stream))
        yield* settle
        expect(inside(buffer).state.takers?.size).toBe(2)
        yield* Fiber.interrupt(single)
        yield* Fiber.interrupt(chunk)
      }
      expect(inside(buffer).state.takers?.size).toBe(0)
      buffer.offer(7)
      expect(yield* buffer.recv(() => "ended")).toBe(7)
    }))

  it.effect("every waiting taker sees the end; later takes too", () =>
    Effect.gen(function*() {
      const buffer = yield* MessageBuffer.make<number, string>({ capacity: 10, policy: "drop_newest" })
      const takers = yield* Effect.forEach([1, 2, 3], () => Effect.fork(Effect.flip(buffer.recv(() => "ended"))))
      const streamRun = yield* Effect.fork(drain(buffer))
      yield* settle
      buffer.fail("boom")
      expect(yield* Effect.forEach(takers, Fiber.join)).toEqual(["boom", "boom", "boom"])
      expect(yield* Effect.flip(Fiber.join(streamRun))).toBe("boom")
      expect(yield* Effect.flip(buffer.recv(() => "ended"))).toBe("boom")
      expect(buffer.offer(1)).toBe(false)
    }))

  it.effect("the end asked for while a backpressure offer waits comes after everything that offer holds", () =>
    Effect.gen(function*() {
      const buffer = yield* MessageBuffer.make<number, string>({ capacity: 2, policy: "backpressure" })
      for (let n = 1; n <= 6; n++) buffer.offer(n)
      buffer.end()
      expect(buffer.offer(7)).toBe(false)
      expect(yield* drain(buffer)).toEqual([1, 2, 3, 4, 5, 6])
      expect(yield* Effect.flip(buffer.recv(() => "ended"))).toBe("ended")
    }))
})
