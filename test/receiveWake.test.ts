// How a receive buffer's Mailbox wakes its waiting consumer (internal/receiveBuffer.ts, `Wake`): `recv`
// at once, from the offer in the socket callback; a stream once per event-loop turn, so that its chunk
// holds the whole turn's reads. The socket callback is played by a plain macrotask (`setTimeout`), the
// turn's later reads by microtasks queued from it; no real-time wait decides anything.
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Fiber, Stream } from "effect"
import * as MessageBuffer from "../src/MessageBuffer.js"
import { mailboxOf } from "../src/internal/receiveBuffer.js"

/** White box: the consumers waiting on the buffer's Mailbox. */
const takers = (buffer: MessageBuffer.ReceiveBuffer<any, any>) =>
  (mailboxOf(buffer) as unknown as { readonly state: { readonly takers?: ReadonlySet<unknown> } }).state.takers?.size ?? 0

/** Lets forked fibers run until `done` (at most 100 yields; no clock involved). */
const until = (done: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 100 && !done(); i++) yield* Effect.yieldNow()
    expect(done()).toBe(true)
  })

/** Runs `f` as a socket callback would: in a macrotask of its own, outside any fiber. */
const inCallback = <A>(f: (resolve: (a: A) => void) => void) =>
  Effect.promise(() => new Promise<A>((resolve) => setTimeout(() => f(resolve), 0)))

/** `n` nested microtasks later: after whatever the callback's own microtasks ran. */
const microtasksLater = (n: number, f: () => void): void => {
  if (n === 0) f()
  else queueMicrotask(() => microtasksLater(n - 1, f))
}

describe("the receive buffer's wake-up", () => {
  for (const policy of ["backpressure", "drop_oldest", "drop_newest", "error"] as const) {
    it.live(`${policy}: a waiting recv resumes in the microtasks right after the offer's callback, not at the end of the turn`, () =>
      Effect.gen(function*() {
        const buffer = yield* MessageBuffer.make<string, string>({ capacity: 4, policy })
        const receiver = yield* Effect.fork(buffer.recv(() => "ended"))
        yield* until(() => takers(buffer) === 1)
        // Polled from microtasks queued after the offer: a wake-up left to the turn's end
        // (`setImmediate`) has not run yet there.
        const seen = yield* inCallback<string>((resolve) => {
          buffer.offer("reply")
          microtasksLater(3, () => {
            const exit = receiver.unsafePoll()
            resolve(exit === null ? "still waiting" : exit._tag === "Success" ? exit.value : "failed")
          })
        })
        expect(seen).toBe("reply")
        expect(yield* Fiber.join(receiver)).toBe("reply")
      }))
  }

  it.live("a stream consumer is woken once per turn: the turn's reads arrive as one chunk, also after a recv took from the buffer", () =>
    Effect.gen(function*() {
      const buffer = yield* MessageBuffer.make<number, string>({ capacity: 16, policy: "backpressure" })
      // a recv first: the consumer that waits last decides how it is woken
      const first = yield* Effect.fork(buffer.recv(() => "ended"))
      yield* until(() => takers(buffer) === 1)
      yield* inCallback<void>((resolve) => {
        buffer.offer(0)
        resolve()
      })
      expect(yield* Fiber.join(first)).toBe(0)
      const chunks: Array<ReadonlyArray<number>> = []
      const firstChunk = yield* Deferred.make<void>()
      const consumer = yield* Effect.fork(
        buffer.stream.pipe(Stream.runForEachChunk((chunk) =>
          Effect.zipRight(Effect.sync(() => void chunks.push(Chunk.toReadonlyArray(chunk))), Deferred.succeed(firstChunk, undefined))
        ))
      )
      yield* until(() => takers(buffer) === 1)
      // Three reads in one turn: the callback's, then two more from its microtasks (as libuv hands a
      // busy socket over in several reads per turn, each followed by its microtasks).
      yield* inCallback<void>((resolve) => {
        buffer.offer(1)
        microtasksLater(2, () => {
          buffer.offer(2)
          microtasksLater(2, () => {
            buffer.offer(3)
            resolve()
          })
        })
      })
      yield* Deferred.await(firstChunk)
      buffer.end()
      yield* Fiber.join(consumer)
      expect(chunks).toEqual([[1, 2, 3]])
    }))
})
