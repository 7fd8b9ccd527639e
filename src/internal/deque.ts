/**
 * A FIFO with O(1) push and shift (an array with a moving head, compacted
 * when the dead prefix grows): `Array.prototype.shift` is O(n) on large
 * arrays, and this sits on the send path.
 *
 * @internal
 */
export class Deque<T> {
  private items: Array<T> = []
  private head = 0

  get length(): number {
    return this.items.length - this.head
  }

  push(item: T): void {
    this.items.push(item)
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined
    const item = this.items[this.head]
    this.items[this.head++] = undefined as T
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return item
  }

  /** Puts `items` in front, in their order. */
  unshiftAll(items: ReadonlyArray<T>): void {
    if (items.length === 0) return
    this.items = items.concat(this.items.slice(this.head))
    this.head = 0
  }

  /** Removes and returns everything, in order. */
  drain(): Array<T> {
    const out = this.items.slice(this.head)
    this.items = []
    this.head = 0
    return out
  }
}
