import * as Chunk from "effect/Chunk"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import { BufferOverflowError } from "../JetSocketError.js"

/**
 * The send queue: what `send` accepted while no connection could take it,
 * written in order on the next connection.
 *
 * New sends go into an Effect `Mailbox` bounded by `sendQueue`, made with the
 * `"dropping"` strategy: a full Mailbox refuses the offer, and the refusal is
 * the send's `BufferOverflowError { buffer: "send" }` (the receive buffer's
 * `"error"` policy; why the other policies do not apply to sends is in
 * docs/buffering.md). What must go out again first (frames the dead socket
 * never confirmed written, requests to re-send) is put in front with
 * {@link SendQueue.requeue}; it was accepted before the drop, so the bound
 * does not refuse it (a Mailbox cannot take items back in front: they are
 * kept beside it, ahead of it).
 *
 * @internal
 */
export class SendQueue<F> {
  private readonly mailbox: Mailbox.Mailbox<F>
  /** Frames that go out before the Mailbox's, in order. */
  private front: Array<F> = []

  constructor(readonly capacity: number, private readonly runtime: Runtime.Runtime<never>) {
    this.mailbox = Runtime.runSync(runtime)(Mailbox.make<F>({ capacity, strategy: "dropping" }))
  }

  /** Queues a send; the error it fails with when the Mailbox refuses it (full). */
  offer(frame: F): BufferOverflowError | undefined {
    return this.mailbox.unsafeOffer(frame) ? undefined : new BufferOverflowError({ capacity: this.capacity, buffer: "send" })
  }

  /** Puts frames that must go out first in front of the queued sends, after those requeued before them. */
  requeue(frames: ReadonlyArray<F>): void {
    for (const frame of frames) this.front.push(frame)
  }

  /** Takes everything, in the order it must be written. */
  drain(): Array<F> {
    const front = this.front
    this.front = []
    const queued = Chunk.toReadonlyArray(Runtime.runSync(this.runtime)(this.mailbox.clear))
    return front.length === 0 ? (queued as Array<F>) : front.concat(queued)
  }

  size(): number {
    return this.front.length + Option.getOrElse(this.mailbox.unsafeSize(), () => 0)
  }
}

/** @internal */
export const make = <F>(capacity: number, runtime: Runtime.Runtime<never>): SendQueue<F> => new SendQueue(capacity, runtime)
