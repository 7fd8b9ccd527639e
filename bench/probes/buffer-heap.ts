// Heap held per receive buffer once made (a client makes its buffer with the first message,
// consumer or end; an idle client holds none), old vs new, with one message offered and taken.
//
//   node --expose-gc --import tsx bench/probes/buffer-heap.ts [oldSrc=/tmp/i20buf-old/src]
import { Effect } from "effect"
import * as New from "../../src/MessageBuffer.js"
import { makeBuffer } from "./makeBuffer.js"

const oldSrc = process.argv[2] ?? "/tmp/i20buf-old/src"
const Old = (await import(`${oldSrc}/MessageBuffer.js`)) as typeof New
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error("run with --expose-gc")
const N = 10_000

const measure = (lib: typeof New) => {
  gc()
  gc()
  const before = process.memoryUsage().heapUsed
  const kept: Array<New.ReceiveBuffer<number, string>> = []
  for (let i = 0; i < N; i++) {
    const buffer = makeBuffer<number, string>(lib, { capacity: 1000, policy: "backpressure" })
    buffer.offer(i)
    Effect.runSync(buffer.recv(() => "ended"))
    kept.push(buffer)
  }
  gc()
  gc()
  const bytes = (process.memoryUsage().heapUsed - before) / N
  if (kept.length !== N) throw new Error("unreachable")
  return bytes
}

for (let r = 0; r < 3; r++) {
  for (const [name, lib] of [["old", Old], ["new", New]] as const) {
    console.log(`${name}: ${measure(lib).toFixed(0)} B per buffer`)
  }
}
